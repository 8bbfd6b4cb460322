import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import { MASK, maskDescribe, maskSecrets, maskText, writeDiagnostics } from '../../src/report/diagnostics-dir.ts'
import type { Inputs } from '../../src/types.ts'
import { flag, podList, podObject, scriptedKubectl, type Answer } from '../support/scripted-kubectl.ts'

describe('maskSecrets', () => {
  it.each<[string, unknown, string[], unknown]>([
    [
      'a secret-looking key',
      { minio: { secretKey: 's3', accessKey: 'ak', mode: 'standalone' } },
      [],
      { minio: { secretKey: MASK, accessKey: MASK, mode: 'standalone' } },
    ],
    ['everything under one', { auth: { password: { nested: ['a', 'b'] } } }, [], { auth: { password: { nested: [MASK, MASK] } } }],
    [
      'a known secret value anywhere',
      { extraConfig: 'user: x\npass: hunter2\n' },
      ['hunter2'],
      { extraConfig: `user: x\npass: ${MASK}\n` },
    ],
    [
      "Prometheus' credentials",
      { scrape_configs: [{ basic_auth: { username: 'u', password: 'p' }, authorization: { credentials_file: '/x' } }] },
      [],
      { scrape_configs: [{ basic_auth: { username: 'u', password: MASK }, authorization: { credentials_file: MASK } }] },
    ],
    ['empty and non-string values kept', { token: '', port: 9091, enabled: true }, [], { token: '', port: 9091, enabled: true }],
    [
      'a switch and a short number under a secret key kept, a long number masked',
      { credentials: { enabled: true, ttl: 300, pin: 12345678 } },
      [],
      { credentials: { enabled: true, ttl: 300, pin: MASK } },
    ],
    [
      'the env-list shape',
      {
        extraEnv: [
          { name: 'DB_PASSWORD', value: 'x1' },
          { name: 'LOG_LEVEL', value: 'debug' },
        ],
      },
      [],
      {
        extraEnv: [
          { name: 'DB_PASSWORD', value: MASK },
          { name: 'LOG_LEVEL', value: 'debug' },
        ],
      },
    ],
    [
      "inside Milvus' configuration files, by key",
      {
        extraConfigFiles: {
          'user.yaml': 'minio:\n  address: minio\n  secretAccessKey: s3\ncommon:\n  security:\n    authorizationEnabled: true\n',
        },
      },
      [],
      {
        extraConfigFiles: {
          'user.yaml': `minio:\n  address: minio\n  secretAccessKey: "${MASK}"\ncommon:\n  security:\n    authorizationEnabled: true\n`,
        },
      },
    ],
    [
      'a configuration file with nothing secret kept as written',
      { extraConfigFiles: { 'user.yaml': '# tuned\nlog:\n  level: debug\n' } },
      [],
      { extraConfigFiles: { 'user.yaml': '# tuned\nlog:\n  level: debug\n' } },
    ],
    [
      'a configuration file that is not YAML',
      { extraConfigFiles: { 'user.yaml': 'a: [b\npass hunter2' } },
      ['hunter2'],
      { extraConfigFiles: { 'user.yaml': `a: [b\npass ${MASK}` } },
    ],
  ])('%s', (_, value, secrets, want) => {
    expect(maskSecrets(value, secrets)).toEqual(want)
  })
})

describe('maskText', () => {
  it.each([
    ['password hunter2 in a line', ['hunter2'], `password ${MASK} in a line`],
    ['url https://user:pw@host/x', [], 'url https://***@host/x'],
    ['Authorization: Bearer abc.def', [], 'Authorization: Bearer ***'],
    ['nothing secret', ['', 'zzz'], 'nothing secret'],
  ])('%j', (text, secrets, want) => {
    expect(maskText(text, secrets)).toBe(want)
  })
})

describe('maskDescribe', () => {
  const describe_ = [
    'Containers:',
    '  standalone:',
    '    Image:         milvusdb/milvus:v2.6.4',
    '    Environment:',
    '      LOG_LEVEL:           debug',
    '      MINIO_SECRET_KEY:    minioadmin',
    "      ETCD_ROOT_PASSWORD:  <set to the key 'etcd-root-password' in secret 'r-etcd'>  Optional: false",
    '      API_TOKEN:           line one',
    '                           line two',
    '      POD_NAME:            r-milvus-0 (v1:metadata.name)',
    '    Mounts:',
    '      /milvus/configs/user.yaml from milvus-config (rw,path="user.yaml")',
    '  password-sidecar:',
    '    Environment:  <none>',
  ].join('\n')

  it('masks the values of secret-looking variables, keeps references and the rest', () => {
    const out = maskDescribe(describe_, ['r-milvus-0']).split('\n')
    expect(out[4]).toBe('      LOG_LEVEL:           debug')
    expect(out[5]).toBe(`      MINIO_SECRET_KEY:    ${MASK}`)
    expect(out[6]).toContain("<set to the key 'etcd-root-password' in secret 'r-etcd'>")
    expect(out[7]).toBe(`      API_TOKEN:           ${MASK}`)
    expect(out[8]).toBe(`                           ${MASK}`)
    expect(out[9]).toBe(`      POD_NAME:            ${MASK} (v1:metadata.name)`)
    expect(out.slice(10)).toEqual(describe_.split('\n').slice(10))
    expect(out.join('\n')).not.toMatch(/minioadmin|line two/)
  })
})

describe('writeDiagnostics', () => {
  const dir = mkdtempSync(join(tmpdir(), 'diag-dir-test-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const crashing = podObject('milvus', 'r-milvus-standalone-0', {
    ready: false,
    containers: [
      {
        name: 'standalone',
        restarts: 2,
        state: { waiting: 'CrashLoopBackOff' },
        lastTerminated: { reason: 'Error', exitCode: 134 },
        ready: false,
      },
    ],
  })
  const operator = podObject('monitoring', 'prometheus-operator-6d9f', { containers: [{ name: 'prometheus-operator' }] })
  const describePod = [
    'Name: r-milvus-standalone-0',
    '    Environment:',
    '      MINIO_SECRET_KEY:  minioadmin',
    '      LOG_LEVEL:         debug',
    '    Mounts:  <none>',
    '',
  ].join('\n')
  const kubectl = scriptedKubectl((args): Answer | undefined => {
    const [verb, what] = args
    const selector = flag(args, '-l') ?? ''
    if (verb === 'get' && what === 'pods' && args.includes('json')) {
      if (selector === 'app.kubernetes.io/instance=r') return { stdout: podList(crashing) }
      if (selector === 'app.kubernetes.io/name=prometheus-operator') return { stdout: podList(operator) }
      return { stdout: podList() }
    }
    if (verb === 'describe') return { stdout: describePod }
    if (verb === 'logs') return { stdout: `${args.includes('--previous') ? 'before the restart: ' : ''}connecting with password hunter2\n` }
    if (verb === 'get') return { stdout: `${what} listed\n` }
    return undefined
  })

  it("writes every pod's logs, the previous container's too, an index saying what is not ready, masked describe output", async () => {
    await writeDiagnostics(
      {
        kubectl: kubectl as never,
        inputs: { namespace: 'milvus', releaseName: 'r' } as Inputs,
        secrets: ['hunter2'],
        stack: KUBE_PROMETHEUS_STACK,
      },
      dir,
    )
    const read = (name: string) => readFileSync(join(dir, name), 'utf8')
    expect(read('logs/milvus/r-milvus-standalone-0/standalone.log')).toBe(`connecting with password ${MASK}\n`)
    expect(read('logs/milvus/r-milvus-standalone-0/standalone.previous.log')).toBe(`before the restart: connecting with password ${MASK}\n`)
    expect(read('logs/monitoring/prometheus-operator-6d9f/prometheus-operator.log')).toContain('connecting')
    const index = read('logs/index.txt')
    expect(index).toContain(
      'Milvus pod milvus/r-milvus-standalone-0: NOT READY (Running): CrashLoopBackOff: container standalone, 2 restarts, last Error, exit 134',
    )
    expect(index).toContain(
      '  standalone (container, 2 restarts, last Error, exit 134, waiting: CrashLoopBackOff): logs/milvus/r-milvus-standalone-0/standalone.log, logs/milvus/r-milvus-standalone-0/standalone.previous.log',
    )
    expect(index).toContain('prometheus-operator pod monitoring/prometheus-operator-6d9f: ready')
    expect(index).toContain('Prometheus pods (operator.prometheus.io/name=k8s in monitoring): none found.')
    const described = read('describe-pods-milvus.txt')
    expect(described).toContain(`MINIO_SECRET_KEY:  ${MASK}`)
    expect(described).toContain('LOG_LEVEL:         debug')
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['pods-milvus.txt', 'events-monitoring.txt', 'servicemonitors.yaml']))
  })
})
