import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import { afterEach, describe, expect, it } from 'vitest'
import YAML from 'yaml'
import {
  inClusterCredentials,
  inClusterKubeconfig,
  restoreInClusterKubeconfig,
  writeInClusterKubeconfig,
} from '../../src/cluster/in-cluster.ts'

const SA = '/var/run/secrets/kubernetes.io/serviceaccount'
const creds = { server: 'https://10.96.0.1:443', caFile: `${SA}/ca.crt`, tokenFile: `${SA}/token`, namespace: 'arc-runners' }

describe('in-cluster credentials for kubectl and helm', () => {
  const dirs: string[] = []
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
    for (const [k, v] of [
      ['KUBERNETES_SERVICE_HOST', saved.host],
      ['KUBERNETES_SERVICE_PORT', saved.port],
    ] as const) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })

  it('reads what the client loaded from a pod: server, CA file, token file, namespace', () => {
    const root = mkdtempSync(join(tmpdir(), 'fake-pod-'))
    dirs.push(root)
    mkdirSync(join(root, SA), { recursive: true })
    for (const f of ['token', 'ca.crt']) writeFileSync(join(root, SA, f), 'x')
    writeFileSync(join(root, SA, 'namespace'), 'arc-runners')
    process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1'
    process.env.KUBERNETES_SERVICE_PORT = '443'
    const kc = new KubeConfig()
    kc.loadFromCluster(root)
    expect(inClusterCredentials(kc)).toEqual({
      server: 'https://10.96.0.1:443',
      caFile: `${root}${SA}/ca.crt`,
      tokenFile: `${root}${SA}/token`,
      namespace: 'arc-runners',
    })
  })

  it('is undefined for a kubeconfig file, even one whose context has the in-cluster name', () => {
    const kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'inClusterContext', cluster: 'c', user: 'u' }],
      currentContext: 'inClusterContext',
    })
    expect(inClusterCredentials(kc)).toBeUndefined()
  })

  it('writes a kubeconfig of the same server, CA file and token file (referenced, not copied), under the in-cluster context name', () => {
    const doc = YAML.parse(inClusterKubeconfig(creds)) as Record<string, unknown>
    expect(doc).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'inCluster', cluster: { server: 'https://10.96.0.1:443', 'certificate-authority': `${SA}/ca.crt` } }],
      users: [{ name: 'inClusterUser', user: { tokenFile: `${SA}/token` } }],
      contexts: [{ name: 'inClusterContext', context: { cluster: 'inCluster', user: 'inClusterUser', namespace: 'arc-runners' } }],
      'current-context': 'inClusterContext',
    })
  })

  it('writes it under the given parent (RUNNER_TEMP), readable by the runner user only', () => {
    const parent = mkdtempSync(join(tmpdir(), 'runner-temp-'))
    dirs.push(parent)
    const file = writeInClusterKubeconfig(creds, parent)
    expect(file.startsWith(join(parent, 'milvus-kubeconfig-'))).toBe(true)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toBe(inClusterKubeconfig(creds))
  })
})

describe('the post step after a later step emptied RUNNER_TEMP', () => {
  it('writes the in-cluster kubeconfig again at its path, mode 0600; leaves one that is there, and a kubeconfig of the user alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-temp-'))
    const kubeconfig = join(dir, 'milvus-kubeconfig-x', 'config')
    expect(restoreInClusterKubeconfig({ kubeconfig, inCluster: creds })).toBe(true)
    expect(readFileSync(kubeconfig, 'utf8')).toBe(inClusterKubeconfig(creds))
    expect(statSync(kubeconfig).mode & 0o777).toBe(0o600)
    expect(restoreInClusterKubeconfig({ kubeconfig, inCluster: creds })).toBe(false)
    expect(restoreInClusterKubeconfig({ kubeconfig: join(dir, 'users-own') })).toBe(false)
    expect(existsSync(join(dir, 'users-own'))).toBe(false)
    expect(restoreInClusterKubeconfig(undefined)).toBe(false)
  })
})
