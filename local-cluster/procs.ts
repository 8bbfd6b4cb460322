// Child processes of the local cluster: each logs to its own file and is stopped in reverse
// order of start, so etcd outlives the API server that writes to it.
import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Proc {
  name: string
  child: ChildProcess
  logFile: string
  exited: Promise<number | null>
}

export class Procs {
  readonly logDir: string
  private readonly procs: Proc[] = []
  onUnexpectedExit: (p: Proc, code: number | null) => void = () => {}
  private stopping = false

  constructor(logDir: string) {
    this.logDir = logDir
  }

  start(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const logFile = join(this.logDir, `${name}.log`)
    const fd = openSync(logFile, 'a')
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } })
    closeSync(fd)
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code) => {
        if (!this.stopping) this.onUnexpectedExit(proc, code)
        resolve(code)
      })
      child.on('error', () => resolve(-1))
    })
    const proc: Proc = { name, child, logFile, exited }
    this.procs.push(proc)
    return proc
  }

  /** Stops one process (SIGTERM, then SIGKILL after graceMs). */
  async stop(proc: Proc, graceMs = 5000): Promise<void> {
    const i = this.procs.indexOf(proc)
    if (i >= 0) this.procs.splice(i, 1)
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return
    proc.child.kill('SIGTERM')
    const timer = sleep(graceMs).then(() => 'timeout' as const)
    if ((await Promise.race([proc.exited, timer])) === 'timeout') {
      proc.child.kill('SIGKILL')
      await proc.exited
    }
  }

  async stopAll(): Promise<void> {
    this.stopping = true
    for (const p of [...this.procs].reverse()) await this.stop(p)
  }

  find(name: string): Proc | undefined {
    return this.procs.find((p) => p.name === name)
  }
}

/** Polls until check() resolves true, with bounded exponential backoff; for start-up only. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let delay = 50
  for (;;) {
    try {
      if (await check()) return
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(delay)
    delay = Math.min(delay * 2, 1000)
  }
}
