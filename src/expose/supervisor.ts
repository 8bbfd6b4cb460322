// Supervised `kubectl port-forward`s that outlive the action's main step.
//
// startForwards spawns ONE detached supervisor: the action's own bundle re-executed with
// SUPERVISOR_FLAG (so it also works from a single ncc-built file). It runs one kubectl per forward
// and keeps each forward answering on its local port:
//
// - a kubectl that exits (its pod went away) is started again;
// - a kubectl that keeps running with a dead forward (kubectl issues #686, #1368, #1620) is killed
//   and started again when it prints a forwarding error on stderr, or when the forward fails
//   ProbeSettings.failures probes in a row. A probe goes through the local port, as a user's
//   request would: a TCP connect, then for forwards with an httpPath a `GET` whose status line must
//   arrive within the probe timeout (any status: the forward carries bytes both ways; the
//   remote's own health is not the supervisor's business). A kubectl the OS reports stopped
//   (SIGSTOP) fails the probe too: its listening socket still completes TCP handshakes, so a
//   connect alone would not notice it.
//
// Every start reuses the forward's local port, after bounded exponential backoff. Output goes to a
// log file in the state directory, never to the step's stdout (the runner would wait for that
// pipe to close); the status file says per forward its state, restarts and why the last one
// happened. stopForwards, from the post step, stops the supervisor by pid.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo, type Server } from 'node:net'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

export const SUPERVISOR_FLAG = '--port-forward-supervisor'
const LOCAL_ADDRESS = '127.0.0.1'

export interface ForwardSpec {
  name: string // 'prometheus'
  namespace: string
  resource: string // 'svc/prometheus-k8s'
  remotePort: number
  localPort?: number // picked free when absent
  /** Path the probe GETs through the forward ('/-/ready'); absent: the probe is a TCP connect only (gRPC). */
  httpPath?: string
}

export interface StartOptions {
  kubectlPath: string
  /** KUBECONFIG for every kubectl (one path or a ':'-separated list); absent: the environment's. */
  kubeconfig?: string
  /** `--context` for every kubectl, so a later change of the current context does not move the forwards. */
  context?: string
  forwards: ForwardSpec[]
  stateDir: string
  /** How long startForwards waits for the forwards in waitFor to answer a probe, in ms. */
  readyTimeoutMs: number
  /** Names of the forwards that must answer before startForwards resolves; default: all. The others come up in the background. */
  waitFor?: string[]
  signal?: AbortSignal
  /** Called with the supervisor's pid as soon as it is spawned, before anything can fail: the post step stops it from there. */
  onSpawn?: (pid: number) => void
  /** Script (and arguments) that process.execPath runs to reach runSupervisor: the bundle by default. */
  entry?: string[]
  backoff?: Partial<Backoff>
  probe?: Partial<ProbeSettings>
}

export interface ForwardEndpoint {
  name: string
  localPort: number
  address: string // '127.0.0.1:<localPort>'
  url: string // 'http://127.0.0.1:<localPort>'
}

export interface StartedForwards {
  supervisorPid: number
  forwards: ForwardEndpoint[]
  stateDir: string
  logFile: string
  statusFile: string
}

/** Delay before a kubectl is started again: initialMs * 2^(n-1) after the n-th short run in a row, at most maxMs. */
export interface Backoff {
  initialMs: number
  maxMs: number
  /** A kubectl that ran this long before it exited or was restarted counts as healthy: the next delay is initialMs again. */
  healthyMs: number
}

export interface ProbeSettings {
  /** Pause between the end of one probe of a forward and the start of the next, in ms. */
  intervalMs: number
  /** Bound on one probe (the connect and, for HTTP, the response's status line), in ms. */
  timeoutMs: number
  /** Consecutive failed probes after which the forward's kubectl is restarted. */
  failures: number
  /** A kubectl that has not printed "Forwarding from" this long after it started is restarted, in ms. */
  listenTimeoutMs: number
}

/**
 * - `starting`: a kubectl runs; no probe has been answered since it started;
 * - `ready`: the last probe was answered;
 * - `failing`: answered before, the last probe(s) were not (fewer than ProbeSettings.failures);
 * - `backoff`: no kubectl runs; the next starts after the backoff delay;
 * - `stopped`: the supervisor is shutting down.
 */
export type ForwardState = 'starting' | 'ready' | 'failing' | 'backoff' | 'stopped'

export interface ForwardStatus {
  name: string
  namespace: string
  resource: string // 'svc/grafana'
  remotePort: number
  localPort: number
  state: ForwardState
  pid?: number // of the current kubectl
  /** kubectl processes replaced so far (exited, or killed for a failed probe or a forwarding error). */
  restarts: number
  /**
   * Why and when (ISO 8601) the last kubectl was replaced. reason is one of
   * `exited with code N[: <last stderr line>]`, `exited on SIGNAL[: ...]`, `failed to start: <error>`,
   * `probe failed N times: <error>`, `forwarding error: <stderr line>`, `no "Forwarding from" within N ms`.
   */
  lastRestart?: { reason: string; at: string }
  /** The latest probe: ok, when (ISO 8601), and what it saw ('HTTP 200', 'connected', or the error). */
  lastProbe?: { ok: boolean; at: string; detail: string }
}

export interface SupervisorStatus {
  pid: number
  updatedAt: string // ISO 8601
  forwards: ForwardStatus[]
}

interface SupervisorConfig {
  kubectlPath: string
  kubeconfig?: string
  context?: string
  forwards: Array<ForwardSpec & { localPort: number }>
  statusFile: string
  backoff: Backoff
  probe: ProbeSettings
}

type SupervisorMessage = { type: 'status'; status: SupervisorStatus }

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 10_000, healthyMs: 30_000 }
export const DEFAULT_PROBE: ProbeSettings = { intervalMs: 2_000, timeoutMs: 2_000, failures: 2, listenTimeoutMs: 30_000 }

/**
 * A kubectl stderr line saying a forward broke. Upstream kubectl often keeps running after these
 * with its local port open but useless (kubectl issues #686, #1368, #1620). Not `Unhandled Error`
 * alone: kubectl 1.31+ logs discovery errors that way too (an aggregated API that is down, such
 * as metrics.k8s.io while prometheus-adapter starts) and then forwards fine.
 */
const FORWARDING_ERROR =
  /an error occurred forwarding|error copying from (remote stream|local connection)|error creating (error|forwarding) stream/
/**
 * ... unless it only says that the local client went away first (a probe, or a user's curl,
 * closing early): a TCP error on the local connection. kubectl's standalone `error: lost
 * connection to pod` is not matched either: kubectl exits right after it, and the exit is the reason.
 */
const LOCAL_CLIENT_GONE = /(read|write): (broken pipe|connection reset by peer)/

/** True for a kubectl stderr line that means its forward is broken (see FORWARDING_ERROR). */
export function isForwardingError(line: string): boolean {
  return FORWARDING_ERROR.test(line) && !LOCAL_CLIENT_GONE.test(line)
}

/** The delay in ms before the next start after `shortRuns` short-lived runs in a row (0 or 1: initialMs). */
export function backoffDelay(shortRuns: number, backoff: Backoff): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, shortRuns - 1))
}

export function isSupervisorInvocation(argv: readonly string[]): boolean {
  return argv[2] === SUPERVISOR_FLAG
}

export function stateFiles(stateDir: string): { config: string; log: string; status: string } {
  return {
    config: path.join(stateDir, 'port-forward.json'),
    log: path.join(stateDir, 'port-forward.log'),
    status: path.join(stateDir, 'port-forward-status.json'),
  }
}

/** What the supervisor last wrote about its forwards, or undefined before it wrote anything. */
export function readForwardStatus(stateDir: string): SupervisorStatus | undefined {
  try {
    return JSON.parse(readFileSync(stateFiles(stateDir).status, 'utf8')) as SupervisorStatus
  } catch {
    return undefined
  }
}

/**
 * Starts the detached supervisor and resolves once every forward named in opts.waitFor (default:
 * all) answers a probe; the others keep coming up in the background. Rejects, after stopping the
 * supervisor, when that takes longer than opts.readyTimeoutMs (the message names each waited-for
 * forward's state and last restart reason, then the log's tail), on opts.signal, or when the
 * supervisor exits; also for an empty list, a duplicate name or local port, or a waitFor name
 * that is not a forward.
 */
export async function startForwards(opts: StartOptions): Promise<StartedForwards> {
  checkSpecs(opts.forwards, opts.waitFor)
  mkdirSync(opts.stateDir, { recursive: true })
  const files = stateFiles(opts.stateDir)
  const ports = await freePorts(opts.forwards.filter((f) => f.localPort === undefined).length)
  const forwards = opts.forwards.map((f) => ({ ...f, localPort: f.localPort ?? (ports.shift() as number) }))
  const config: SupervisorConfig = {
    kubectlPath: opts.kubectlPath,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.context ? { context: opts.context } : {}),
    forwards,
    statusFile: files.status,
    backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
    probe: { ...DEFAULT_PROBE, ...opts.probe },
  }
  writeFileSync(files.config, JSON.stringify(config, null, 2))

  const logFd = openSync(files.log, 'a')
  let child: ChildProcess
  try {
    const entry = opts.entry ?? [process.argv[1] as string]
    // detached: its own session and process group, so it survives the step and stopForwards can
    // signal the group. The IPC channel carries status updates until the wait below is over.
    child = spawn(process.execPath, [...entry, SUPERVISOR_FLAG, files.config], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'ipc'],
      env: supervisorEnv(process.env),
    })
  } finally {
    closeSync(logFd)
  }
  const pid = child.pid
  if (pid !== undefined) opts.onSpawn?.(pid)
  try {
    if (pid === undefined) await new Promise((_, reject) => child.once('error', reject))
    await waitReady(child, opts.waitFor ?? forwards.map((f) => f.name), opts.readyTimeoutMs, opts.signal)
  } catch (e) {
    if (pid !== undefined) await stopForwards(pid)
    const reason = e instanceof Error ? e.message : String(e)
    throw new Error(`port-forwards did not become ready: ${reason}\n${tail(files.log)}`, { cause: e })
  } finally {
    if (child.connected) child.disconnect()
    child.unref()
  }
  return {
    supervisorPid: pid as number,
    forwards: forwards.map((f) => endpoint(f.name, f.localPort)),
    stateDir: opts.stateDir,
    logFile: files.log,
    statusFile: files.status,
  }
}

/**
 * What the supervisor and its kubectl processes see of the step's environment: what kubectl
 * and Node need (PATH, HOME, locale, temp, KUBECONFIG, proxies, CA files, the in-cluster service
 * address), never the inputs (INPUT_*), the runner's tokens or anything else the step holds.
 */
export function supervisorEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const keep =
    /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LC_[A-Z]+|TZ|TMPDIR|TEMP|TMP|SYSTEMROOT|WINDIR|USERPROFILE|APPDATA|LOCALAPPDATA|KUBECONFIG|KUBERNETES_SERVICE_HOST|KUBERNETES_SERVICE_PORT|(HTTPS?|NO|ALL)_PROXY|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR)$/i
  return Object.fromEntries(Object.entries(env).filter(([k]) => keep.test(k)))
}

/** Stops the supervisor and its kubectl processes. Already gone (or not ours) is fine. */
export async function stopForwards(supervisorPid: number, timeoutMs = 10_000): Promise<void> {
  if (!isSupervisorProcess(supervisorPid)) return
  signal(supervisorPid, 'SIGTERM')
  if (!(await waitGone(supervisorPid, timeoutMs))) {
    signal(-supervisorPid, 'SIGKILL') // the whole group: the supervisor and its kubectl children
    await waitGone(supervisorPid, 2_000)
  }
  // kubectl children left in the group if the supervisor died without stopping them.
  signal(-supervisorPid, 'SIGKILL')
}

/** True while pid is a live (not zombie) process. */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
  const state = procState(pid)
  return state !== 'Z' && state !== 'X'
}

function isSupervisorProcess(pid: number): boolean {
  if (!isProcessRunning(pid)) return false
  try {
    // Guards against a recycled pid when the post step runs long after the main step.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(SUPERVISOR_FLAG)
  } catch {
    return true // no /proc (macOS): trust the pid we saved
  }
}

/** The one-letter state of /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z'...), undefined without /proc. */
function procState(pid: number): string | undefined {
  try {
    // "pid (comm) S ...": comm may hold spaces or parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  } catch {
    return undefined
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

/** Bounded backoff: the supervisor is not our child (the post step is another process), so poll. */
async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 10; isProcessRunning(pid); delay = Math.min(delay * 2, 250)) {
    if (Date.now() >= deadline) return false
    await sleep(delay)
  }
  return true
}

function waitReady(child: ChildProcess, waitFor: string[], timeoutMs: number, abort?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let last: SupervisorStatus | undefined
    const done = (error?: Error) => {
      clearTimeout(timer)
      abort?.removeEventListener('abort', onAbort)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (error) reject(error)
      else resolve()
    }
    const onMessage = (m: SupervisorMessage) => {
      if (m.type !== 'status') return
      last = m.status
      if (waitFor.every((name) => last?.forwards.find((f) => f.name === name)?.state === 'ready')) done()
    }
    const onExit = (code: number | null, sig: string | null) => done(new Error(`the supervisor exited (${sig ?? `code ${code}`})`))
    const onAbort = () => done(abort?.reason instanceof Error ? abort.reason : new Error('aborted'))
    const timer = setTimeout(() => done(new Error(`not ready within ${timeoutMs} ms: ${describeWaited(last, waitFor)}`)), timeoutMs)
    child.on('message', onMessage)
    child.on('exit', onExit)
    if (abort?.aborted) onAbort()
    else abort?.addEventListener('abort', onAbort, { once: true })
  })
}

/** 'prometheus starting (2 restarts, last: exited with code 1: ...), milvus ready' */
function describeWaited(status: SupervisorStatus | undefined, names: string[]): string {
  return names
    .map((name) => {
      const f = status?.forwards.find((s) => s.name === name)
      if (!f) return `${name} not started`
      const last = f.lastRestart
        ? `, last: ${f.lastRestart.reason}`
        : f.lastProbe && !f.lastProbe.ok
          ? `, probe: ${f.lastProbe.detail}`
          : ''
      return `${name} ${f.state} (${f.restarts} restarts${last})`
    })
    .join('; ')
}

function checkSpecs(forwards: ForwardSpec[], waitFor: string[] | undefined): void {
  if (forwards.length === 0) throw new Error('no port-forwards to start')
  const names = new Set<string>()
  const ports = new Set<number>()
  for (const f of forwards) {
    if (names.has(f.name)) throw new Error(`port-forward "${f.name}" is listed twice`)
    names.add(f.name)
    if (f.localPort !== undefined) {
      if (ports.has(f.localPort)) throw new Error(`local port ${f.localPort} is used twice`)
      ports.add(f.localPort)
    }
  }
  for (const name of waitFor ?? []) if (!names.has(name)) throw new Error(`waitFor names "${name}", which is not a port-forward`)
}

/** Ports the OS has free now; all held open together so they differ from each other. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, LOCAL_ADDRESS, resolve)
      })
    }
    return servers.map((s) => (s.address() as AddressInfo).port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}

function endpoint(name: string, localPort: number): ForwardEndpoint {
  const address = `${LOCAL_ADDRESS}:${localPort}`
  return { name, localPort, address, url: `http://${address}` }
}

function tail(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    return `--- last lines of ${file} ---\n${text}`
  } catch {
    return `(no log at ${file})`
  }
}

/**
 * One probe of a forward through its local port on 127.0.0.1: a TCP connect, then with httpPath a
 * `GET <httpPath>` (Connection: close) whose status line must arrive. Bounded by timeoutMs as a
 * whole. Resolves with what it saw ('connected', 'HTTP 200'); rejects with an Error saying what
 * failed ('connect: ECONNREFUSED', 'GET /-/ready: no response within 2000 ms'). The socket is
 * always destroyed: through kubectl the connection reaches the pod, and some servers (and kwok's
 * tunnel) never close it from their side.
 */
export function probeLocalPort(port: number, httpPath: string | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: LOCAL_ADDRESS, port })
    let connected = false
    let head = ''
    let settled = false
    const finish = (error: Error | undefined, detail = '') => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (connected && !error && httpPath) {
        // Let the server finish its (short) answer and close, so kubectl does not log a write to a
        // closed connection; destroy it anyway soon.
        socket.end()
        setTimeout(() => socket.destroy(), Math.min(timeoutMs, 500)).unref()
      } else socket.destroy()
      if (error) reject(error)
      else resolve(detail)
    }
    const what = () => (connected ? `GET ${httpPath}` : 'connect')
    const timer = setTimeout(
      () => finish(new Error(`${what()}: no ${connected ? 'response' : 'connection'} within ${timeoutMs} ms`)),
      timeoutMs,
    )
    socket.on('error', (e: NodeJS.ErrnoException) => finish(new Error(`${what()}: ${e.code ?? e.message}`)))
    socket.on('close', () => finish(new Error(`${what()}: connection closed before ${connected ? 'a response' : 'it was established'}`)))
    socket.on('connect', () => {
      connected = true
      if (!httpPath) return finish(undefined, 'connected')
      socket.setEncoding('latin1')
      socket.write(
        `GET ${httpPath} HTTP/1.1\r\nHost: ${LOCAL_ADDRESS}:${port}\r\nUser-Agent: milvus-monitoring-action-probe\r\nConnection: close\r\n\r\n`,
      )
    })
    socket.on('data', (chunk: string) => {
      head += chunk
      const eol = head.indexOf('\r\n')
      if (eol < 0 && head.length < 1024) return
      const status = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head.slice(0, eol < 0 ? 1024 : eol))
      if (status) finish(undefined, `HTTP ${status[1]}`)
      else finish(new Error(`GET ${httpPath}: not an HTTP response: ${JSON.stringify(head.slice(0, 40))}`))
    })
  })
}

// ---------------------------------------------------------------- the supervisor process itself

interface Forward {
  spec: SupervisorConfig['forwards'][number]
  child?: ChildProcess
  generation: number // one per kubectl started; events of an earlier kubectl are ignored
  state: ForwardState
  restarts: number
  shortRuns: number // consecutive runs that did not count as healthy, for the backoff
  startedAt: number
  answered: boolean // a probe was answered since the current kubectl started
  probeFailures: number // in a row
  killReason?: string // set when the supervisor kills the current kubectl
  lastStderr?: string
  lastRestart?: { reason: string; at: string }
  lastProbe?: { ok: boolean; at: string; detail: string }
  startTimer?: NodeJS.Timeout
  probeTimer?: NodeJS.Timeout
  listenTimer?: NodeJS.Timeout
}

/** Runs in the detached process: keeps every forward answering until SIGTERM/SIGINT. */
export async function runSupervisor(configPath: string): Promise<never> {
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as SupervisorConfig
  const { backoff, probe: probing } = config
  const forwards: Forward[] = config.forwards.map((spec) => ({
    spec,
    generation: 0,
    state: 'starting',
    restarts: 0,
    shortRuns: 0,
    startedAt: 0,
    answered: false,
    probeFailures: 0,
  }))
  let stopping = false
  let announced = false

  const log = (message: string) => process.stdout.write(`${new Date().toISOString()} ${message}\n`)

  const writeStatus = () => {
    const status: SupervisorStatus = {
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      forwards: forwards.map((f) => ({
        name: f.spec.name,
        namespace: f.spec.namespace,
        resource: f.spec.resource,
        remotePort: f.spec.remotePort,
        localPort: f.spec.localPort,
        state: f.state,
        ...(f.child?.pid !== undefined ? { pid: f.child.pid } : {}),
        restarts: f.restarts,
        ...(f.lastRestart ? { lastRestart: f.lastRestart } : {}),
        ...(f.lastProbe ? { lastProbe: f.lastProbe } : {}),
      })),
    }
    try {
      // A later step may empty RUNNER_TEMP: the folder comes back, and a write that still fails
      // costs the status file, never the forwards.
      mkdirSync(path.dirname(config.statusFile), { recursive: true })
      const tmp = `${config.statusFile}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify(status, null, 2))
      renameSync(tmp, config.statusFile) // readers never see half a file
    } catch (e) {
      log(`could not write the status file: ${(e as Error).message}`)
    }
    if (!announced && forwards.every((f) => f.state === 'ready')) {
      announced = true
      log('all port-forwards ready')
    }
    // The starter waits on these until the forwards it needs are ready, then disconnects.
    if (process.connected) process.send?.({ type: 'status', status } satisfies SupervisorMessage, () => undefined)
  }

  const clearTimers = (f: Forward) => {
    for (const t of [f.startTimer, f.probeTimer, f.listenTimer]) if (t) clearTimeout(t)
    f.startTimer = f.probeTimer = f.listenTimer = undefined
  }

  /** Kills the current kubectl of f (if gen is still current); its exit then schedules the next start. */
  const replace = (f: Forward, gen: number, reason: string) => {
    if (stopping || gen !== f.generation || !f.child || f.killReason) return
    f.killReason = reason
    log(`[${f.spec.name}] ${reason}; killing kubectl (pid ${f.child.pid})`)
    f.child.kill('SIGKILL') // the forward is dead: nothing to flush, and a stopped process ignores SIGTERM
  }

  const gone = (f: Forward, exitReason: string) => {
    const reason = f.killReason ?? exitReason
    const answered = f.answered
    f.child = undefined
    f.killReason = undefined
    clearTimers(f)
    if (stopping) {
      f.state = 'stopped'
      writeStatus()
      return
    }
    const healthy = answered && Date.now() - f.startedAt >= backoff.healthyMs
    f.shortRuns = healthy ? 0 : f.shortRuns + 1
    f.restarts++
    f.lastRestart = { reason, at: new Date().toISOString() }
    f.state = 'backoff'
    const delay = backoffDelay(f.shortRuns, backoff)
    log(`[${f.spec.name}] kubectl ${reason}; restarting in ${delay} ms`)
    writeStatus()
    f.startTimer = setTimeout(() => start(f), delay)
  }

  const probe = async (f: Forward, gen: number) => {
    f.probeTimer = undefined
    const current = () => !stopping && gen === f.generation && f.child !== undefined && !f.killReason
    if (!current()) return
    const pid = f.child?.pid
    let ok = false
    let detail: string
    try {
      const state = pid === undefined ? undefined : procState(pid)
      if (state === 'T' || state === 't') throw new Error(`kubectl (pid ${pid}) is stopped`)
      detail = await probeLocalPort(f.spec.localPort, f.spec.httpPath, probing.timeoutMs)
      ok = true
    } catch (e) {
      detail = (e as Error).message
    }
    if (!current()) return
    f.lastProbe = { ok, at: new Date().toISOString(), detail }
    if (ok) {
      if (f.state !== 'ready') log(`[${f.spec.name}] answering (${detail})`)
      f.probeFailures = 0
      f.answered = true
      f.state = 'ready'
    } else {
      f.probeFailures++
      log(`[${f.spec.name}] probe ${f.probeFailures}/${probing.failures} failed: ${detail}`)
      if (f.state === 'ready') f.state = 'failing'
      if (f.probeFailures >= probing.failures) {
        writeStatus()
        return replace(f, gen, `probe failed ${f.probeFailures} times: ${detail}`)
      }
    }
    writeStatus()
    f.probeTimer = setTimeout(() => void probe(f, gen), probing.intervalMs)
  }

  const start = (f: Forward) => {
    f.startTimer = undefined
    if (stopping) return
    const { spec } = f
    const args = [
      ...(config.kubeconfig && !config.kubeconfig.includes(path.delimiter) ? ['--kubeconfig', config.kubeconfig] : []),
      ...(config.context ? ['--context', config.context] : []),
      'port-forward',
      '--namespace',
      spec.namespace,
      '--address',
      LOCAL_ADDRESS,
      spec.resource,
      `${spec.localPort}:${spec.remotePort}`,
    ]
    const env = config.kubeconfig ? { ...process.env, KUBECONFIG: config.kubeconfig } : process.env
    const child = spawn(config.kubectlPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
    const gen = ++f.generation
    Object.assign(f, {
      child,
      state: 'starting',
      startedAt: Date.now(),
      answered: false,
      probeFailures: 0,
      killReason: undefined,
      lastStderr: undefined,
    })
    log(`[${spec.name}] started kubectl (pid ${child.pid}) ${args.join(' ')}`)
    writeStatus()
    f.listenTimer = setTimeout(() => replace(f, gen, `no "Forwarding from" within ${probing.listenTimeoutMs} ms`), probing.listenTimeoutMs)

    let ended = false
    const end = (why: string) => {
      if (ended || gen !== f.generation) return
      ended = true
      gone(f, why)
    }
    child.on('error', (e) => end(`failed to start: ${e.message}`))
    // 'close', not 'exit': the last stderr line (kubectl's reason) has been read by then.
    child.on('close', (code, sig) => {
      const last = f.lastStderr ? `: ${f.lastStderr}` : ''
      end(sig ? `exited on ${sig}${last}` : `exited with code ${code}${last}`)
    })

    createInterface({ input: child.stderr! }).on('line', (line) => {
      log(`[${spec.name}] ${line}`)
      if (gen !== f.generation) return
      if (line.trim()) f.lastStderr = line.trim()
      if (isForwardingError(line)) replace(f, gen, `forwarding error: ${line.trim()}`)
    })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('Handling connection for ')) return // one per connection, probes included
      log(`[${spec.name}] ${line}`)
      // kubectl prints this once its local listener is bound: probing starts now.
      if (line.startsWith('Forwarding from ') && gen === f.generation && f.listenTimer) {
        clearTimeout(f.listenTimer)
        f.listenTimer = undefined
        void probe(f, gen)
      }
    })
  }

  const shutdown = async (why: string, exitCode: number) => {
    if (stopping) return
    stopping = true
    log(`stopping (${why})`)
    const running = forwards.flatMap((f) => {
      clearTimers(f)
      f.state = 'stopped'
      return f.child ? [f.child] : []
    })
    writeStatus()
    await Promise.all(running.map((c) => stopChild(c)))
    log('stopped')
    process.exit(exitCode)
  }

  process.on('SIGTERM', () => void shutdown('SIGTERM', 0))
  process.on('SIGINT', () => void shutdown('SIGINT', 0))
  process.on('disconnect', () => {}) // the starter leaving is expected
  process.on('uncaughtException', (e) => {
    log(`fatal: ${e.stack ?? e.message}`)
    void shutdown('error', 1)
  })

  log(
    `supervisor ${process.pid}: ${forwards.map((f) => `${f.spec.name} ${LOCAL_ADDRESS}:${f.spec.localPort} -> ${f.spec.namespace}/${f.spec.resource}:${f.spec.remotePort} (probe: ${f.spec.httpPath ? `GET ${f.spec.httpPath}` : 'TCP'})`).join(', ')}; ` +
      `probes every ${probing.intervalMs} ms, ${probing.timeoutMs} ms each, restart after ${probing.failures} failures`,
  )
  for (const f of forwards) start(f)
  return new Promise<never>(() => {})
}

/** SIGTERM (and SIGCONT, for a stopped one), then SIGKILL after a bounded wait; resolves once the child has exited. */
function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
    child.kill('SIGCONT')
  })
}
