import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { get, createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  isProcessRunning,
  isSupervisorInvocation,
  readForwardStatus,
  startForwards,
  stopForwards,
  type ForwardSpec,
  type StartOptions,
} from '../../src/phases/port-forward.ts'

const support = path.join(import.meta.dirname, '..', 'support')
const entry = [path.join(support, 'port-forward-entry.ts')]

let dir: string
let backends: Server[]
let supervisors: number[]

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'port-forward-test-'))
  backends = []
  supervisors = []
})

afterEach(async () => {
  await Promise.all(supervisors.map((pid) => stopForwards(pid)))
  await Promise.all(backends.map((s) => new Promise((resolve) => s.close(resolve))))
  rmSync(dir, { recursive: true, force: true })
})

/** An HTTP server on a free loopback port answering `backend <name>`. */
async function backend(name: string): Promise<number> {
  const server = createServer((_, res) => res.end(`backend ${name}`))
  backends.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** An executable fake kubectl whose remote ports lead to the given backend ports. */
function fakeKubectl(remoteToBackend: Record<number, number>): { path: string; log: string } {
  const log = path.join(dir, 'kubectl-starts.jsonl')
  writeFileSync(log, '')
  const script = path.join(dir, 'kubectl')
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      `export FAKE_KUBECTL_LOG='${log}'`,
      `export FAKE_KUBECTL_BACKENDS='${JSON.stringify(remoteToBackend)}'`,
      `exec '${process.execPath}' '${path.join(support, 'fake-kubectl.ts')}' "$@"`,
      '',
    ].join('\n'),
  )
  chmodSync(script, 0o755)
  return { path: script, log }
}

function kubectlStarts(log: string): Array<{ pid: number; args: string[] }> {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { pid: number; args: string[] })
}

/** GET over a fresh connection (no keep-alive, so a restarted forward is really used). */
function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
}

/** Polls with bounded exponential backoff until check returns a value. */
async function eventually<T>(check: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    const value = check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(delay)
  }
}

const FORWARDS: ForwardSpec[] = [
  { name: 'prometheus', namespace: 'monitoring', resource: 'svc/prometheus-k8s', remotePort: 9090 },
  { name: 'grafana', namespace: 'monitoring', resource: 'svc/grafana', remotePort: 3000 },
]

async function options(): Promise<{ opts: StartOptions; log: string }> {
  const kubectl = fakeKubectl({ 9090: await backend('prometheus'), 3000: await backend('grafana') })
  const opts: StartOptions = {
    kubectlPath: kubectl.path,
    kubeconfig: path.join(dir, 'kubeconfig'),
    forwards: FORWARDS,
    stateDir: path.join(dir, 'state'),
    readyTimeoutMs: 20_000,
    entry,
    backoff: { initialMs: 50, maxMs: 400 },
  }
  return { opts, log: kubectl.log }
}

describe('port-forward supervisor', () => {
  it('recognizes its own invocation', () => {
    expect(isSupervisorInvocation(['node', 'index.js', '--port-forward-supervisor', 'c.json'])).toBe(true)
    expect(isSupervisorInvocation(['node', 'index.js'])).toBe(false)
  })

  it('serves every forward, restarts an exited kubectl on the same port, and stops everything', async () => {
    const { opts, log } = await options()
    const started = await startForwards(opts)
    supervisors.push(started.supervisorPid)

    const urls = Object.fromEntries(started.forwards.map((f) => [f.name, f.url]))
    expect(await httpGet(urls.prometheus as string)).toBe('backend prometheus')
    expect(await httpGet(urls.grafana as string)).toBe('backend grafana')

    // kubectl was asked for exactly what the spec says, on the port the URL names.
    const prometheus = started.forwards.find((f) => f.name === 'prometheus')!
    expect(kubectlStarts(log).map((s) => s.args)).toContainEqual([
      '--kubeconfig', opts.kubeconfig, 'port-forward', '--namespace', 'monitoring',
      '--address', '127.0.0.1', 'svc/prometheus-k8s', `${prometheus.localPort}:9090`,
    ])

    // The pod "goes away": kubectl exits, the supervisor starts a new one on the same local port.
    const first = readForwardStatus(opts.stateDir)!.forwards.find((f) => f.name === 'prometheus')!
    expect(first.ready).toBe(true)
    process.kill(first.pid!, 'SIGUSR1')
    const second = await eventually(() => {
      const s = readForwardStatus(opts.stateDir)?.forwards.find((f) => f.name === 'prometheus')
      return s?.ready && s.pid !== first.pid ? s : undefined
    }, 'a restarted, ready prometheus forward')
    expect(second.localPort).toBe(prometheus.localPort)
    expect(second.starts).toBe(2)
    expect(second.lastExit).toContain('code 1')
    expect(isProcessRunning(first.pid!)).toBe(false)
    expect(await httpGet(urls.prometheus as string)).toBe('backend prometheus')

    const kubectls = kubectlStarts(log).map((s) => s.pid)
    expect(kubectls.length).toBe(3)
    await stopForwards(started.supervisorPid)
    expect(isProcessRunning(started.supervisorPid)).toBe(false)
    expect(kubectls.filter(isProcessRunning)).toEqual([])
    await expect(httpGet(urls.prometheus as string)).rejects.toThrow(/ECONNREFUSED/)

    // Idempotent: a second stop (the post step after a cancelled run, say) is a no-op.
    await expect(stopForwards(started.supervisorPid)).resolves.toBeUndefined()
  })

  it('outlives the process that started it', async () => {
    const { opts, log } = await options()
    const starter = spawn(process.execPath, [path.join(support, 'port-forward-starter.ts'), JSON.stringify(opts)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    starter.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const code = await new Promise((resolve) => starter.on('close', resolve))
    expect(code).toBe(0)
    const started = JSON.parse(out) as Awaited<ReturnType<typeof startForwards>>
    supervisors.push(started.supervisorPid)

    expect(isProcessRunning(starter.pid!)).toBe(false)
    expect(isProcessRunning(started.supervisorPid)).toBe(true)
    for (const f of started.forwards) expect(await httpGet(f.url)).toBe(`backend ${f.name}`)
    expect(readFileSync(started.logFile, 'utf8')).toContain('all port-forwards ready')

    await stopForwards(started.supervisorPid)
    expect(isProcessRunning(started.supervisorPid)).toBe(false)
    expect(kubectlStarts(log).map((s) => s.pid).filter(isProcessRunning)).toEqual([])
  })

  it('keeps a requested local port', async () => {
    const { opts } = await options()
    const port = await backend('placeholder') // a port that is free once this server closes
    await new Promise((resolve) => backends.pop()!.close(resolve))
    const started = await startForwards({ ...opts, forwards: [{ ...FORWARDS[0]!, localPort: port }] })
    supervisors.push(started.supervisorPid)
    expect(started.forwards).toEqual([
      { name: 'prometheus', localPort: port, address: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}` },
    ])
    expect(await httpGet(`http://127.0.0.1:${port}`)).toBe('backend prometheus')
  })

  it('fails with the supervisor log when kubectl never forwards, and leaves nothing running', async () => {
    const kubectl = path.join(dir, 'broken-kubectl')
    writeFileSync(kubectl, '#!/bin/sh\necho \'error: services "prometheus-k8s" not found\' >&2\nexit 1\n')
    chmodSync(kubectl, 0o755)
    const { opts } = await options()
    const stateDir = opts.stateDir
    await expect(startForwards({ ...opts, kubectlPath: kubectl, readyTimeoutMs: 1_500 })).rejects.toThrow(
      /not ready within 1500 ms[\s\S]*services "prometheus-k8s" not found/,
    )
    const status = readForwardStatus(stateDir)!
    expect(status.forwards.every((f) => !f.ready && f.starts >= 1)).toBe(true)
    expect(isProcessRunning(status.pid)).toBe(false)
  })

  it('rejects duplicate names before starting anything', async () => {
    const { opts } = await options()
    await expect(startForwards({ ...opts, forwards: [FORWARDS[0]!, FORWARDS[0]!] })).rejects.toThrow(/listed twice/)
  })

  it('aborts the wait on the signal and stops the supervisor', async () => {
    const { opts } = await options()
    const controller = new AbortController()
    const kubectl = path.join(dir, 'silent-kubectl')
    writeFileSync(kubectl, '#!/bin/sh\nexec sleep 30\n') // never says "Forwarding from"
    chmodSync(kubectl, 0o755)
    const pending = startForwards({ ...opts, kubectlPath: kubectl, signal: controller.signal })
    const status = await eventually(() => {
      const s = readForwardStatus(opts.stateDir)
      return s?.forwards.every((f) => f.pid !== undefined) ? s : undefined
    }, 'kubectl processes started')
    controller.abort(new Error('cancelled by the test'))
    await expect(pending).rejects.toThrow(/cancelled by the test/)
    expect(isProcessRunning(status.pid)).toBe(false)
    expect(status.forwards.map((f) => f.pid!).filter(isProcessRunning)).toEqual([])
  })
})
