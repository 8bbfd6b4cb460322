import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { get, createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { officialBinaries } from '../../local-cluster/official-binaries.ts'
import { backgroundForwardNotices } from '../../src/expose/endpoints.ts'
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  DEFAULT_PROBE,
  isForwardingError,
  isProcessRunning,
  isSupervisorInvocation,
  readForwardStatus,
  startForwards,
  stopForwards,
  type ForwardSpec,
  type ForwardStatus,
  type StartOptions,
} from '../../src/expose/supervisor.ts'

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
  await Promise.all(
    backends.map((s) => {
      s.closeAllConnections() // held requests of a "hung" backend
      return new Promise((resolve) => s.close(resolve))
    }),
  )
  rmSync(dir, { recursive: true, force: true })
})

/** Switches for backend(): while hung, requests are accepted and never answered. */
const hung = new Set<string>()

/** An HTTP server on a free loopback port answering `backend <name>` (nothing while `hung` has name). */
async function backend(name: string): Promise<number> {
  const server = createServer((req, res) => {
    if (!hung.has(name)) res.end(`backend ${name}`)
    else req.resume()
  })
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

function kubectlStarts(log: string): Array<{ pid: number; args: string[]; at: number }> {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { pid: number; args: string[]; at: number })
}

/** GET over a fresh connection (no keep-alive, so a restarted forward is really used), bounded by timeoutMs. */
function httpGet(url: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve(body))
    })
      .on('timeout', function (this: { destroy(e: Error): void }) {
        this.destroy(new Error(`no answer within ${timeoutMs} ms`))
      })
      .on('error', reject)
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
  { name: 'prometheus', namespace: 'monitoring', resource: 'svc/prometheus-k8s', remotePort: 9090, httpPath: '/-/ready' },
  { name: 'grafana', namespace: 'monitoring', resource: 'svc/grafana', remotePort: 3000, httpPath: '/api/health' },
]

/** Probes short enough for tests: a dead forward is restarted within about a second. */
const FAST_PROBE = { intervalMs: 100, timeoutMs: 300, failures: 2 }

async function options(backends?: Record<number, number>): Promise<{ opts: StartOptions; log: string }> {
  const kubectl = fakeKubectl(backends ?? { 9090: await backend('prometheus'), 3000: await backend('grafana') })
  const opts: StartOptions = {
    kubectlPath: kubectl.path,
    kubeconfig: path.join(dir, 'kubeconfig'),
    forwards: FORWARDS,
    stateDir: path.join(dir, 'state'),
    readyTimeoutMs: 20_000,
    entry,
    backoff: { initialMs: 50, maxMs: 400 },
    probe: FAST_PROBE,
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
      '--kubeconfig',
      opts.kubeconfig,
      'port-forward',
      '--namespace',
      'monitoring',
      '--address',
      '127.0.0.1',
      'svc/prometheus-k8s',
      `${prometheus.localPort}:9090`,
    ])

    // The pod "goes away": kubectl exits, the supervisor starts a new one on the same local port.
    const first = readForwardStatus(opts.stateDir)!.forwards.find((f) => f.name === 'prometheus')!
    expect(first.state).toBe('ready')
    expect(first.restarts).toBe(0)
    process.kill(first.pid!, 'SIGUSR1')
    const second = await eventually(() => {
      const s = readForwardStatus(opts.stateDir)?.forwards.find((f) => f.name === 'prometheus')
      return s?.state === 'ready' && s.pid !== first.pid ? s : undefined
    }, 'a restarted, ready prometheus forward')
    expect(second.localPort).toBe(prometheus.localPort)
    expect(second.restarts).toBe(1)
    expect(second.lastRestart?.reason).toBe('exited with code 1: error: lost connection to pod')
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
    expect(
      kubectlStarts(log)
        .map((s) => s.pid)
        .filter(isProcessRunning),
    ).toEqual([])
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
    expect(status.forwards.every((f) => f.state !== 'ready' && f.restarts >= 1)).toBe(true)
    expect(status.forwards[0]!.lastRestart?.reason).toBe('exited with code 1: error: services "prometheus-k8s" not found')
    expect(isProcessRunning(status.pid)).toBe(false)
  })

  it('hands out its pid at spawn, before a wait that fails, so the post step can always stop it', async () => {
    const kubectl = path.join(dir, 'broken-kubectl-2')
    writeFileSync(kubectl, '#!/bin/sh\nexit 1\n')
    chmodSync(kubectl, 0o755)
    const { opts } = await options()
    let spawned: number | undefined
    let readyBeforeSpawn = false
    await expect(
      startForwards({
        ...opts,
        kubectlPath: kubectl,
        readyTimeoutMs: 1_000,
        onSpawn: (pid) => ((spawned = pid), (readyBeforeSpawn = readForwardStatus(opts.stateDir) !== undefined)),
      }),
    ).rejects.toThrow(/not ready within/)
    expect(spawned).toBe(readForwardStatus(opts.stateDir)!.pid)
    expect(readyBeforeSpawn).toBe(false)
    expect(isProcessRunning(spawned!)).toBe(false)
  })

  it('keeps forwarding after a later step empties its state folder, writes its status again, and still stops', async () => {
    const { opts, log } = await options()
    const started = await startForwards(opts)
    supervisors.push(started.supervisorPid)
    rmSync(opts.stateDir, { recursive: true, force: true })
    // A restart makes the supervisor write its status: the folder comes back with it.
    const first = kubectlStarts(log).at(-1)!.pid
    process.kill(first, 'SIGUSR1')
    const status = await eventually(() => {
      const s = readForwardStatus(opts.stateDir)
      return s?.forwards.every((f) => f.state === 'ready') ? s : undefined
    }, 'a status written again')
    expect(status.pid).toBe(started.supervisorPid)
    for (const f of started.forwards) expect(await httpGet(f.url)).toBe(`backend ${f.name}`)
    await stopForwards(started.supervisorPid)
    expect(isProcessRunning(started.supervisorPid)).toBe(false)
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

function statusOf(stateDir: string, name: string): ForwardStatus | undefined {
  return readForwardStatus(stateDir)?.forwards.find((f) => f.name === name)
}

/** ms from `since` until a GET of url (each bounded by 250 ms) returns the backend's answer. */
async function msUntilAnswering(url: string, body: string, since: number, timeoutMs = 30_000): Promise<number> {
  for (;;) {
    try {
      if ((await httpGet(url, 250)) === body) return Math.round(performance.now() - since)
    } catch {
      // not yet
    }
    if (performance.now() - since > timeoutMs) throw new Error(`${url} did not answer within ${timeoutMs} ms`)
    await sleep(25)
  }
}

/**
 * The longest a dead forward may take to answer again: the next probe (interval), `failures`
 * probes that each fail or time out with the intervals between them, the first backoff delay,
 * and 2 s for a new kubectl (here a Node process on a loaded 2-core machine) to start and answer.
 */
function recoveryBoundMs(probe: { intervalMs: number; timeoutMs: number; failures: number }, initialBackoffMs: number): number {
  return probe.intervalMs + probe.failures * (probe.intervalMs + probe.timeoutMs) + initialBackoffMs + 2_000
}

const MILVUS_TCP: ForwardSpec = { name: 'milvus', namespace: 'milvus', resource: 'svc/my-release-milvus', remotePort: 19530 }

describe('forwards that heal', () => {
  it('tells forwarding errors from a local client that went away', () => {
    const pid = '   4242 portforward.go:424]'
    // kubectl <= 1.30 and >= 1.31 (runtime.HandleError through klog's "Unhandled Error").
    expect(
      isForwardingError(
        `E0611 02:40:00.123456 ${pid} an error occurred forwarding 40123 -> 9090: error forwarding port 9090 to pod 0f3c, uid : exit status 1`,
      ),
    ).toBe(true)
    expect(
      isForwardingError(
        `E0611 02:40:00.123456 ${pid} "Unhandled Error" err="an error occurred forwarding 40123 -> 9090: error forwarding port 9090 to pod 0f3c, uid : lost connection to pod"`,
      ),
    ).toBe(true)
    expect(
      isForwardingError(
        'E0611 02:40:00.123456   4242 portforward.go:404] error copying from local connection to remote stream: read tcp4 127.0.0.1:40123->127.0.0.1:51000: read: connection reset by peer',
      ),
    ).toBe(false)
    expect(
      isForwardingError(
        'E0611 02:40:00.123456   4242 portforward.go:394] error copying from remote stream to local connection: readfrom tcp4 127.0.0.1:40123->127.0.0.1:51000: write tcp4 127.0.0.1:40123->127.0.0.1:51000: write: broken pipe',
      ),
    ).toBe(false)
    expect(
      isForwardingError(
        'E0611 02:40:00.123456   4242 portforward.go:394] error copying from remote stream to local connection: stream reset',
      ),
    ).toBe(true)
    expect(
      isForwardingError(
        'E0611 02:40:00.123456   4242 portforward.go:347] error creating error stream for port 40123 -> 9090: Timeout occurred',
      ),
    ).toBe(true)
    // kubectl's last words before it exits: the exit is the reason, not this line.
    expect(isForwardingError('error: lost connection to pod')).toBe(false)
    // kubectl logs discovery errors as "Unhandled Error" too, and forwards fine afterwards.
    expect(
      isForwardingError(
        'E0611 02:40:00.1   4242 memcache.go:265] "Unhandled Error" err="couldn\'t get resource list for metrics.k8s.io/v1beta1: the server is currently unable to handle the request"',
      ),
    ).toBe(false)
    expect(isForwardingError('Forwarding from 127.0.0.1:40123 -> 9090')).toBe(false)
  })

  it('bounds the backoff: doubling from initialMs, never above maxMs', () => {
    const b = { initialMs: 250, maxMs: 10_000, healthyMs: 30_000 }
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50, 5000].map((n) => backoffDelay(n, b))).toEqual([
      250, 250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ])
    expect(DEFAULT_BACKOFF).toEqual(b)
    expect(DEFAULT_PROBE).toEqual({ intervalMs: 2_000, timeoutMs: 2_000, failures: 2, listenTimeoutMs: 30_000 })
  })

  it('restarts a frozen (SIGSTOP) kubectl, HTTP and TCP-only forwards alike, on the same ports', async () => {
    const { opts } = await options({ 9090: await backend('prometheus'), 19530: await backend('milvus') })
    const started = await startForwards({ ...opts, forwards: [FORWARDS[0]!, MILVUS_TCP] })
    supervisors.push(started.supervisorPid)
    const before = Object.fromEntries(started.forwards.map((f) => [f.name, statusOf(opts.stateDir, f.name)!]))

    const t0 = performance.now()
    for (const f of Object.values(before)) process.kill(f.pid!, 'SIGSTOP')
    const ms = Object.fromEntries(
      await Promise.all(started.forwards.map(async (f) => [f.name, await msUntilAnswering(f.url, `backend ${f.name}`, t0)] as const)),
    )
    const bound = recoveryBoundMs(FAST_PROBE, 50)
    console.log(
      `frozen kubectl -> answering again (probe every ${FAST_PROBE.intervalMs} ms, ${FAST_PROBE.timeoutMs} ms timeout): ${JSON.stringify(ms)} ms; bound ${bound} ms`,
    )
    for (const f of started.forwards) {
      expect(ms[f.name]).toBeLessThan(bound)
      const now = statusOf(opts.stateDir, f.name)!
      expect(now.localPort).toBe(f.localPort)
      expect(now.restarts).toBe(1)
      expect(now.lastRestart?.reason).toBe(`probe failed 2 times: kubectl (pid ${before[f.name]!.pid}) is stopped`)
      expect(Date.parse(now.lastRestart!.at)).toBeGreaterThan(Date.now() - 10_000)
      expect(isProcessRunning(before[f.name]!.pid!)).toBe(false) // killed, not left frozen
    }
  })

  it('with the default probe settings: frozen and silently dead kubectls answer again within the bound', async () => {
    const { opts } = await options({ 9090: await backend('prometheus'), 3000: await backend('grafana'), 19530: await backend('milvus') })
    const started = await startForwards({ ...opts, forwards: [...FORWARDS, MILVUS_TCP], probe: undefined, backoff: undefined })
    supervisors.push(started.supervisorPid)
    const pid = (name: string) => statusOf(opts.stateDir, name)!.pid!
    const [prometheus, grafana, milvus] = [pid('prometheus'), pid('grafana'), pid('milvus')]

    const t0 = performance.now()
    process.kill(prometheus, 'SIGSTOP')
    process.kill(milvus, 'SIGSTOP')
    process.kill(grafana, 'SIGUSR2') // keeps running, accepts connections, forwards nothing
    await sleep(200) // the fake handles the signal on its event loop: no GET may slip in before
    const ms = Object.fromEntries(
      await Promise.all(started.forwards.map(async (f) => [f.name, await msUntilAnswering(f.url, `backend ${f.name}`, t0)] as const)),
    )
    const bound = recoveryBoundMs(DEFAULT_PROBE, DEFAULT_BACKOFF.initialMs)
    console.log(
      `defaults (probe every 2 s, 2 s timeout, restart after 2): prometheus and milvus frozen, grafana silently dead -> answering again: ${JSON.stringify(ms)} ms; bound ${bound} ms`,
    )
    for (const f of started.forwards) expect(ms[f.name]).toBeLessThan(bound)
    expect(statusOf(opts.stateDir, 'grafana')!.lastRestart?.reason).toBe(
      'probe failed 2 times: GET /api/health: no response within 2000 ms',
    )
    expect(statusOf(opts.stateDir, 'milvus')!.lastRestart?.reason).toBe(`probe failed 2 times: kubectl (pid ${milvus}) is stopped`)
  }, 60_000)

  it('restarts a kubectl that prints a forwarding error at once, and not one that only reports a client gone', async () => {
    // Probes 60 s apart: only the stderr line can trigger the restart here.
    const { opts } = await options()
    const started = await startForwards({ ...opts, forwards: [FORWARDS[0]!], probe: { ...FAST_PROBE, intervalMs: 60_000 } })
    supervisors.push(started.supervisorPid)
    const url = started.forwards[0]!.url
    const first = statusOf(opts.stateDir, 'prometheus')!

    process.kill(first.pid!, 'SIGWINCH') // "... write: broken pipe": a client closed early
    await sleep(300)
    expect(statusOf(opts.stateDir, 'prometheus')).toMatchObject({ state: 'ready', restarts: 0, pid: first.pid })
    expect(await httpGet(url)).toBe('backend prometheus')

    const t0 = performance.now()
    process.kill(first.pid!, 'SIGHUP') // forwarding error on stderr, then a dead forward
    await sleep(100) // the fake handles the signal on its event loop: no GET may slip in before
    const ms = await msUntilAnswering(url, 'backend prometheus', t0)
    console.log(`kubectl printed a forwarding error -> answering again: ${ms} ms`)
    expect(ms).toBeLessThan(50 + 2_000)
    const now = statusOf(opts.stateDir, 'prometheus')!
    expect(now.restarts).toBe(1)
    expect(now.lastRestart?.reason).toMatch(/^forwarding error: E\d{4} .*"Unhandled Error" err="an error occurred forwarding \d+ -> 9090: /)
    expect(isProcessRunning(first.pid!)).toBe(false)
  })

  it('restarts, with backoff, a forward whose remote stops answering HTTP, until it answers again', async () => {
    const { opts, log } = await options()
    const started = await startForwards(opts)
    supervisors.push(started.supervisorPid)

    hung.add('prometheus')
    try {
      const hungStatus = await eventually(() => {
        const s = statusOf(opts.stateDir, 'prometheus')
        return s && s.restarts >= 2 ? s : undefined
      }, 'two restarts of the prometheus forward')
      expect(hungStatus.state).not.toBe('ready')
      expect(hungStatus.lastRestart?.reason).toBe('probe failed 2 times: GET /-/ready: no response within 300 ms')
      expect(statusOf(opts.stateDir, 'grafana')).toMatchObject({ state: 'ready', restarts: 0 })
    } finally {
      hung.delete('prometheus')
    }
    const healed = await eventually(() => {
      const s = statusOf(opts.stateDir, 'prometheus')
      return s?.state === 'ready' ? s : undefined
    }, 'the prometheus forward answering again')
    expect(healed.lastProbe).toMatchObject({ ok: true, detail: 'HTTP 200' })
    expect(await httpGet(started.forwards[0]!.url)).toBe('backend prometheus')
    const port = started.forwards[0]!.localPort
    expect(
      new Set(
        kubectlStarts(log)
          .filter((s) => s.args.includes(`${port}:9090`))
          .map((s) => s.args.at(-1)),
      ),
    ).toEqual(new Set([`${port}:9090`]))
  })

  it('waits only for the forwards in waitFor; one whose pod never runs backs off, bounded, and is named in a notice', async () => {
    const { opts } = await options({ 9090: await backend('prometheus'), 3000: 0 }) // 0: Grafana has no running pod
    const backoff = { initialMs: 20, maxMs: 160 }
    const t0 = performance.now()
    const started = await startForwards({ ...opts, waitFor: ['prometheus'], backoff })
    supervisors.push(started.supervisorPid)
    expect(performance.now() - t0).toBeLessThan(5_000)
    expect(await httpGet(started.forwards[0]!.url)).toBe('backend prometheus')

    const grafana = await eventually(() => {
      const s = statusOf(opts.stateDir, 'grafana')
      return s && s.restarts >= 7 ? s : undefined
    }, 'seven restarts of the grafana forward')
    expect(grafana.state).not.toBe('ready')
    expect(grafana.lastRestart?.reason).toBe(
      'exited with code 1: error: unable to forward port because pod is not running. Current status=Pending',
    )

    // The supervisor's own account of each delay: doubling, then capped at maxMs.
    const delays = [...readFileSync(started.logFile, 'utf8').matchAll(/\[grafana\] kubectl exited .*; restarting in (\d+) ms/g)].map((m) =>
      Number(m[1]),
    )
    expect(delays.slice(0, 7)).toEqual([20, 40, 80, 160, 160, 160, 160])

    const url = started.forwards.find((f) => f.name === 'grafana')!.url
    expect(backgroundForwardNotices(started, readForwardStatus(opts.stateDir))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Grafana is not answering yet at ${url} \\(svc/grafana in monitoring has no ready pod\\?\\); the supervisor keeps retrying\\. Last restart: exited with code 1: error: unable to forward port because pod is not running\\.`,
        ),
      ),
    ])
  })

  it('rejects a waitFor name that is not a forward', async () => {
    const { opts } = await options()
    await expect(startForwards({ ...opts, waitFor: ['grafan'] })).rejects.toThrow(/waitFor names "grafan", which is not a port-forward/)
  })
})

// The official kubectl (npm-packaged, see local-cluster/official-binaries.ts) without a cluster:
// a kubeconfig whose API server refuses connections. It checks what fakes cannot: that the real
// binary accepts the supervisor's arguments, and that its stderr is read right: kubectl 1.35 logs
// discovery failures as "Unhandled Error" lines, which must not count as forwarding errors, and
// its last line becomes the restart reason.
describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('with the official kubectl', () => {
  it('restarts a kubectl that cannot reach the API server, with its own last words as the reason', async () => {
    const kubectl = (await officialBinaries()).find((b) => b.tool === 'kubectl' && b.version === 'v1.35.2')!
    const refused = await backend('closed') // a port that refuses once this server is closed
    await new Promise((resolve) => backends.pop()!.close(resolve))
    const kubeconfig = path.join(dir, 'kubeconfig')
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${refused}"}}]`,
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    )
    const started = await startForwards({
      kubectlPath: kubectl.path,
      kubeconfig,
      forwards: [FORWARDS[1]!],
      waitFor: [], // nothing can answer: resolve at the supervisor's first status
      stateDir: path.join(dir, 'state'),
      readyTimeoutMs: 10_000,
      entry,
      backoff: { initialMs: 50, maxMs: 200 },
      probe: FAST_PROBE,
    })
    supervisors.push(started.supervisorPid)
    const grafana = await eventually(() => {
      const s = statusOf(started.stateDir, 'grafana')
      return s && s.restarts >= 3 ? s : undefined
    }, 'three restarts of the real kubectl')
    expect(grafana.state).not.toBe('ready')
    expect(grafana.lastRestart?.reason).toBe(
      `exited with code 1: The connection to the server 127.0.0.1:${refused} was refused - did you specify the right host or port?`,
    )
    const log = readFileSync(started.logFile, 'utf8')
    expect(log).toContain('"Unhandled Error" err="couldn\'t get current server API group list')
    expect(log).not.toContain('forwarding error')
    expect(log).not.toMatch(/unknown flag|unknown command/)
  })
})
