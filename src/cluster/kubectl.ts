// The one place the action runs kubectl.
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process'
import type { Readable } from 'node:stream'
import * as exec from '@actions/exec'
import { FIELD_MANAGER } from '../marks.ts'

export interface ExecResult {
  stdout: string
  stderr: string
  exitCode: number
}

export class CommandError extends Error {
  readonly result: ExecResult
  constructor(command: string, result: ExecResult) {
    const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-20).join('\n')
    super(`${command} failed (exit ${result.exitCode}): ${detail}`)
    this.name = 'CommandError'
    this.result = result
  }
}

export interface RunOptions {
  input?: string
  allowFailure?: boolean
  env?: Record<string, string>
  /** On abort the tool gets SIGTERM and the promise settles only once it has exited (so helm can record its release as failed rather than pending). */
  signal?: AbortSignal
}

/** Runs a binary quietly and returns its output; a non-zero exit throws CommandError. */
export async function runTool(path: string, name: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  if (opts.signal) return runAbortable(path, name, args, { ...opts, signal: opts.signal })
  const result = await exec.getExecOutput(path, args, {
    silent: true,
    ignoreReturnCode: true,
    ...(opts.input !== undefined ? { input: Buffer.from(opts.input) } : {}),
    ...(opts.env ? { env: { ...(process.env as Record<string, string>), ...opts.env } } : {}),
  })
  if (result.exitCode !== 0 && !opts.allowFailure) throw new CommandError(`${name} ${args.slice(0, 3).join(' ')}`, result)
  return result
}

/** The tools this path started and that have not exited yet. */
const running = new Set<ChildProcess>()

/**
 * Stops every tool process still running (SIGTERM, then SIGKILL after `graceMs`) and resolves
 * once each has exited, with how many there were: nothing the main step started writes to the
 * cluster after it ends, where it would race the post step's deletes.
 */
export async function stopRunningTools(graceMs = 10_000): Promise<number> {
  const left = [...running]
  await Promise.all(
    left.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          const kill = setTimeout(() => child.kill('SIGKILL'), graceMs)
          child.once('close', () => (clearTimeout(kill), resolve()))
          child.kill('SIGTERM')
        }),
    ),
  )
  return left.length
}

// @actions/exec cannot stop a process; this path can, and waits for its exit.
function runAbortable(path: string, name: string, args: string[], opts: RunOptions & { signal: AbortSignal }): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ? { ...process.env, ...opts.env } : process.env })
    running.add(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    const onAbort = () => child.kill('SIGTERM')
    if (opts.signal.aborted) onAbort()
    else opts.signal.addEventListener('abort', onAbort, { once: true })
    child.on('error', (e) => {
      opts.signal.removeEventListener('abort', onAbort)
      reject(e)
    })
    child.on('close', (code, sig) => {
      running.delete(child)
      opts.signal.removeEventListener('abort', onAbort)
      const result = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        exitCode: code ?? (sig ? 128 : 1),
      }
      if (result.exitCode !== 0 && !opts.allowFailure) reject(new CommandError(`${name} ${args.slice(0, 3).join(' ')}`, result))
      else resolve(result)
    })
  })
}

/** Where a tool is pointed: a kubeconfig context by name and the KUBECONFIG it lives in. */
export interface ToolConnection {
  context?: string
  kubeconfig?: string
}

/** `RunOptions` with KUBECONFIG set to the connection's, so a later change of the job's KUBECONFIG does not move the tool. */
export function withKubeconfig(opts: RunOptions, conn: ToolConnection | undefined): RunOptions {
  return conn?.kubeconfig ? { ...opts, env: { ...opts.env, KUBECONFIG: conn.kubeconfig } } : opts
}

/** The jsonpath template `Kubectl.create` prints each created object with. */
export const CREATED_LINE = '{.apiVersion}{"\\t"}{.kind}{"\\t"}{.metadata.namespace}{"\\t"}{.metadata.name}{"\\t"}{.metadata.uid}{"\\n"}'

/** An object `kubectl create` reports created: a line of CREATED_LINE. */
export interface CreatedLine {
  apiVersion: string
  kind: string
  namespace?: string
  name: string
  uid: string
}

/** The objects of `Kubectl.create`'s stdout, in order; lines not of that shape are skipped. */
export function parseCreated(stdout: string): CreatedLine[] {
  const out: CreatedLine[] = []
  for (const line of stdout.split('\n')) {
    const [apiVersion, kind, namespace, name, uid] = line.split('\t')
    if (!apiVersion || !kind || !name || !uid) continue
    out.push({ apiVersion, kind, name, uid, ...(namespace ? { namespace } : {}) })
  }
  return out
}

/** The lines of `Kubectl.create`'s stderr that are neither an object that exists (AlreadyExists) nor a warning. */
export function createFailures(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Warning:/.test(l) && !/\(AlreadyExists\)|already exists/.test(l))
}

export class Kubectl {
  readonly path: string
  readonly conn: ToolConnection | undefined
  /** `conn`: pin every command to this context and kubeconfig (`--context`, KUBECONFIG); absent: kubectl's current context. */
  constructor(path: string, conn?: ToolConnection) {
    this.path = path
    this.conn = conn
  }

  run(args: string[], opts: RunOptions = {}): Promise<ExecResult> {
    const ctx = this.conn?.context ? ['--context', this.conn.context] : []
    // Global flags last, so errors still name the command (`kubectl apply --server-side ...`).
    return runTool(this.path, 'kubectl', [...args, ...ctx], withKubeconfig(opts, this.conn))
  }

  /** A long-running kubectl (a port-forward), pinned like `run`; its output is the caller's to read. */
  spawn(args: string[], signal: AbortSignal): ChildProcessByStdio<null, Readable, Readable> {
    const ctx = this.conn?.context ? ['--context', this.conn.context] : []
    const env = this.conn?.kubeconfig ? { ...process.env, KUBECONFIG: this.conn.kubeconfig } : process.env
    return spawn(this.path, [...args, ...ctx], { stdio: ['ignore', 'pipe', 'pipe'], env, signal })
  }

  /** Server-side apply with our own field manager; conflicts forced so a re-run takes over its fields. */
  apply(target: { dir: string } | { manifest: string }): Promise<ExecResult> {
    const args = ['apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`]
    return 'dir' in target ? this.run([...args, '-f', target.dir]) : this.run([...args, '-f', '-'], { input: target.manifest })
  }

  /**
   * Creates the objects of a folder (kubectl create, the action's field manager), going on past
   * those that exist: stdout has one line per object the API server created (answered 201),
   * `apiVersion kind namespace name uid` separated by tabs (CREATED_LINE), stderr an error per
   * object it did not. Never throws for a non-zero exit: read both.
   */
  create(target: { dir: string }): Promise<ExecResult> {
    return this.run(['create', `--field-manager=${FIELD_MANAGER}`, '-o', `jsonpath=${CREATED_LINE}`, '-f', target.dir], {
      allowFailure: true,
    })
  }

  delete(target: { dir: string } | { kind: string; namespace?: string; selector: string }, wait: boolean): Promise<ExecResult> {
    const common = ['--ignore-not-found', `--wait=${wait}`]
    if ('dir' in target) return this.run(['delete', ...common, '-f', target.dir], { allowFailure: true })
    const ns = target.namespace ? ['-n', target.namespace] : []
    return this.run(['delete', target.kind, ...ns, '-l', target.selector, ...common])
  }
}
