// Supervised `kubectl port-forward`s that outlive the action's main step.
//
// startForwards spawns ONE detached supervisor: the action's own bundle re-executed with
// SUPERVISOR_FLAG (so it also works from a single ncc-built file). It runs one kubectl per forward
// and restarts any that exits (kubectl exits when its pod goes away) on the same local port, with
// bounded exponential backoff. Its output goes to a log file in the state directory, never to the
// step's stdout (the runner would wait for that pipe to close). stopForwards, from the post step,
// stops it by pid.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
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
}

export interface StartOptions {
  kubectlPath: string
  kubeconfig?: string
  forwards: ForwardSpec[]
  stateDir: string
  readyTimeoutMs: number
  signal?: AbortSignal
  /** Script (and arguments) that process.execPath runs to reach runSupervisor: the bundle by default. */
  entry?: string[]
  backoff?: Partial<Backoff>
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
  logFile: string
  statusFile: string
}

export interface Backoff {
  initialMs: number
  maxMs: number
  /** A kubectl that ran this long before exiting restarts at initialMs again. */
  healthyMs: number
}

export interface ForwardStatus {
  name: string
  localPort: number
  ready: boolean
  pid?: number // of the current kubectl
  starts: number
  lastExit?: string
}

export interface SupervisorStatus {
  pid: number
  forwards: ForwardStatus[]
}

interface SupervisorConfig {
  kubectlPath: string
  kubeconfig?: string
  forwards: Array<ForwardSpec & { localPort: number }>
  statusFile: string
  backoff: Backoff
}

type SupervisorMessage = { type: 'ready'; status: SupervisorStatus }

const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 10_000, healthyMs: 30_000 }

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

export async function startForwards(opts: StartOptions): Promise<StartedForwards> {
  checkSpecs(opts.forwards)
  mkdirSync(opts.stateDir, { recursive: true })
  const files = stateFiles(opts.stateDir)
  const ports = await freePorts(opts.forwards.filter((f) => f.localPort === undefined).length)
  const forwards = opts.forwards.map((f) => ({ ...f, localPort: f.localPort ?? (ports.shift() as number) }))
  const config: SupervisorConfig = {
    kubectlPath: opts.kubectlPath,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    forwards,
    statusFile: files.status,
    backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
  }
  writeFileSync(files.config, JSON.stringify(config, null, 2))

  const logFd = openSync(files.log, 'a')
  let child: ChildProcess
  try {
    const entry = opts.entry ?? [process.argv[1] as string]
    // detached: its own session and process group, so it survives the step and stopForwards can
    // signal the group. The IPC channel only carries the first "ready" and is dropped after it.
    child = spawn(process.execPath, [...entry, SUPERVISOR_FLAG, files.config], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'ipc'],
    })
  } finally {
    closeSync(logFd)
  }
  const pid = child.pid
  try {
    if (pid === undefined) await new Promise((_, reject) => child.once('error', reject))
    await waitReady(child, opts.readyTimeoutMs, opts.signal)
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
    logFile: files.log,
    statusFile: files.status,
  }
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

function waitReady(child: ChildProcess, timeoutMs: number, abort?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer)
      abort?.removeEventListener('abort', onAbort)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (error) reject(error)
      else resolve()
    }
    const onMessage = (m: SupervisorMessage) => {
      if (m.type === 'ready') done()
    }
    const onExit = (code: number | null, sig: string | null) =>
      done(new Error(`the supervisor exited (${sig ?? `code ${code}`})`))
    const onAbort = () => done(abort?.reason instanceof Error ? abort.reason : new Error('aborted'))
    const timer = setTimeout(() => done(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs)
    child.on('message', onMessage)
    child.on('exit', onExit)
    if (abort?.aborted) onAbort()
    else abort?.addEventListener('abort', onAbort, { once: true })
  })
}

function checkSpecs(forwards: ForwardSpec[]): void {
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

// ---------------------------------------------------------------- the supervisor process itself

interface Forward {
  spec: SupervisorConfig['forwards'][number]
  child?: ChildProcess
  ready: boolean
  starts: number
  failures: number // consecutive short-lived runs, for the backoff
  startedAt: number
  lastExit?: string
  timer?: NodeJS.Timeout
}

/** Runs in the detached process: keeps every forward up until SIGTERM/SIGINT. */
export async function runSupervisor(configPath: string): Promise<never> {
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as SupervisorConfig
  const forwards: Forward[] = config.forwards.map((spec) => ({ spec, ready: false, starts: 0, failures: 0, startedAt: 0 }))
  let stopping = false
  let announced = false

  const log = (message: string) => process.stdout.write(`${new Date().toISOString()} ${message}\n`)

  const writeStatus = () => {
    const status: SupervisorStatus = {
      pid: process.pid,
      forwards: forwards.map((f) => ({
        name: f.spec.name,
        localPort: f.spec.localPort,
        ready: f.ready,
        ...(f.child?.pid !== undefined ? { pid: f.child.pid } : {}),
        starts: f.starts,
        ...(f.lastExit ? { lastExit: f.lastExit } : {}),
      })),
    }
    const tmp = `${config.statusFile}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(status, null, 2))
    renameSync(tmp, config.statusFile) // readers never see half a file
    if (!announced && forwards.every((f) => f.ready)) {
      announced = true
      log('all port-forwards ready')
      // Nothing more goes over IPC after this: drop the channel once the message is out.
      if (process.connected) {
        process.send?.({ type: 'ready', status } satisfies SupervisorMessage, () => {
          if (process.connected) process.disconnect()
        })
      }
    }
  }

  const start = (f: Forward) => {
    f.timer = undefined
    if (stopping) return
    const { spec } = f
    const args = [
      ...(config.kubeconfig ? ['--kubeconfig', config.kubeconfig] : []),
      'port-forward',
      '--namespace',
      spec.namespace,
      '--address',
      LOCAL_ADDRESS,
      spec.resource,
      `${spec.localPort}:${spec.remotePort}`,
    ]
    const child = spawn(config.kubectlPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    f.child = child
    f.starts++
    f.startedAt = Date.now()
    log(`[${spec.name}] started kubectl (pid ${child.pid}) ${args.join(' ')}`)
    writeStatus()

    let gone = false
    const onGone = (why: string) => {
      if (gone) return
      gone = true
      f.child = undefined
      f.ready = false
      f.lastExit = why
      const healthy = Date.now() - f.startedAt >= config.backoff.healthyMs
      f.failures = healthy ? 0 : f.failures + 1
      writeStatus()
      if (stopping) return
      const delay = Math.min(config.backoff.maxMs, config.backoff.initialMs * 2 ** Math.max(0, f.failures - 1))
      log(`[${spec.name}] kubectl ${why}; restarting in ${delay} ms`)
      f.timer = setTimeout(() => start(f), delay)
    }
    child.on('error', (e) => onGone(`failed: ${e.message}`))
    child.on('exit', (code, sig) => onGone(`exited (${sig ?? `code ${code}`})`))

    createInterface({ input: child.stderr! }).on('line', (line) => log(`[${spec.name}] ${line}`))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log(`[${spec.name}] ${line}`)
      // kubectl prints this only once its local listener is bound, so the port accepts from here
      // on. No probe connection on top: kubectl forwards every connection to the pod, kwok never
      // closes such a connection at the target, and kubectl exits if the target port is not up yet.
      if (line.startsWith('Forwarding from ') && f.child === child && !f.ready) {
        f.ready = true
        writeStatus()
      }
    })
  }

  const shutdown = async (why: string, exitCode: number) => {
    if (stopping) return
    stopping = true
    log(`stopping (${why})`)
    const running = forwards.flatMap((f) => {
      if (f.timer) clearTimeout(f.timer)
      return f.child ? [f.child] : []
    })
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

  log(`supervisor ${process.pid}: ${forwards.map((f) => `${f.spec.name} ${LOCAL_ADDRESS}:${f.spec.localPort} -> ${f.spec.namespace}/${f.spec.resource}:${f.spec.remotePort}`).join(', ')}`)
  for (const f of forwards) start(f)
  return new Promise<never>(() => {})
}

/** SIGTERM, then SIGKILL after a bounded wait; resolves once the child has exited. */
function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}
