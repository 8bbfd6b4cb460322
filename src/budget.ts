// One time budget for the whole run: every wait draws on what is left of the `timeout` input,
// so a slow install leaves less time for the scrape wait instead of each step timing out alone.
import type { PhaseTiming } from './types.ts'

/** A wait ran out of the run's time budget. */
export class TimeoutError extends Error {
  readonly what: string
  readonly waitedMs: number
  readonly totalMs: number

  constructor(what: string, waitedMs: number, totalMs: number) {
    super(
      `Timed out waiting for ${what} after ${formatDuration(waitedMs)} ` +
        `(the whole run has a budget of ${formatDuration(totalMs)}); ` +
        `if the cluster is just slow, raise the \`timeout\` input (e.g. \`timeout: ${suggestTimeout(totalMs)}\`).`,
    )
    this.name = 'TimeoutError'
    this.what = what
    this.waitedMs = waitedMs
    this.totalMs = totalMs
  }
}

// Double the budget, rounded up to whole minutes, so the hint is a value worth trying.
function suggestTimeout(totalMs: number): string {
  const minutes = Math.max(1, Math.ceil((totalMs * 2) / 60_000))
  const h = Math.floor(minutes / 60)
  const m = minutes % 60
  if (h === 0) return `${m}m`
  return m === 0 ? `${h}h` : `${h}h${m}m`
}

interface PhaseRecord {
  name: string
  start: number
  end: number | undefined
  failed: boolean
}

export class Budget {
  readonly totalMs: number
  /** When the run started, by the wall clock (ms since the epoch): the origin of the timeline. */
  readonly startedAt: number
  readonly #now: () => number
  readonly #start: number
  readonly #phases: PhaseRecord[] = []
  readonly #running = new Set<(error: Error) => void>()
  #failure: Error | undefined

  // performance.now is monotonic: a clock step on the runner must not eat or extend the budget.
  constructor(totalMs: number, now: () => number = () => performance.now()) {
    if (!(totalMs > 0) || !Number.isFinite(totalMs)) {
      throw new RangeError(`Budget must be a positive, finite number of milliseconds, got ${totalMs}`)
    }
    this.totalMs = totalMs
    this.#now = now
    this.#start = now()
    this.startedAt = Date.now()
  }

  remainingMs(): number {
    return Math.max(0, this.totalMs - (this.#now() - this.#start))
  }

  /**
   * Run `fn` with what is left of the budget. On expiry the signal is aborted (with the
   * TimeoutError as its reason) and the returned promise rejects at once, without waiting
   * for `fn` to notice: callers pass the signal to their watches and polls so they stop.
   * `what` may be a function, read when the budget runs out (e.g. naming the download under way).
   */
  wait<T>(waitingFor: string | (() => string), fn: (signal: AbortSignal, remainingMs: number) => Promise<T>): Promise<T> {
    const what = typeof waitingFor === 'function' ? waitingFor() : waitingFor
    const started = this.#now()
    const remaining = this.remainingMs()
    const controller = new AbortController()
    if (this.#failure) {
      controller.abort(this.#failure)
      return Promise.reject(this.#failure)
    }
    if (remaining <= 0) {
      const error = new TimeoutError(what, 0, this.totalMs)
      controller.abort(error)
      return Promise.reject(error)
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const fail = (error: Error) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        this.#running.delete(fail)
        controller.abort(error)
        reject(error)
      }
      this.#running.add(fail)
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        this.#running.delete(fail)
        const error = new TimeoutError(typeof waitingFor === 'function' ? waitingFor() : waitingFor, this.#now() - started, this.totalMs)
        controller.abort(error)
        reject(error)
      }, remaining)
      let running: Promise<T>
      try {
        running = fn(controller.signal, remaining)
      } catch (error) {
        // A synchronous throw is a failure of the wait, not a timeout.
        running = Promise.reject(error)
      }
      running.then(
        (value) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          this.#running.delete(fail)
          resolve(value)
        },
        (error: unknown) => {
          // After a timeout, fn's own rejection (usually the abort) is expected and dropped.
          if (settled) return
          settled = true
          clearTimeout(timer)
          this.#running.delete(fail)
          reject(error)
        },
      )
    })
  }

  /**
   * Ends the run early: every wait under way rejects with `error` (its signal aborted with it as
   * the reason) and every later wait rejects at once. For a cause the cluster reported that no
   * amount of waiting fixes. The first call wins.
   */
  fail(error: Error): void {
    if (this.#failure) return
    this.#failure = error
    for (const f of [...this.#running]) f(error)
  }

  readonly #critical = new Set<Promise<unknown>>()

  /**
   * Marks work that must not be cut off when the run ends early (an apply of many objects):
   * settle() waits for it. Returns `work` unchanged.
   */
  critical<T>(work: Promise<T>): Promise<T> {
    this.#critical.add(work)
    const done = () => this.#critical.delete(work)
    work.then(done, done)
    return work
  }

  /** Waits until every critical() work under way has settled, at most `maxMs`; true when it all did. */
  async settle(maxMs: number): Promise<boolean> {
    if (this.#critical.size === 0) return true
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), maxMs)))
    const all = Promise.allSettled([...this.#critical]).then(() => true)
    const settled = await Promise.race([all, timeout])
    clearTimeout(timer)
    return settled
  }

  /** The error fail() was called with, if any. */
  get failure(): Error | undefined {
    return this.#failure
  }

  /** Run `fn` and record how long it took, whether it succeeds or fails. Phases may overlap. */
  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const record: PhaseRecord = { name, start: this.#now(), end: undefined, failed: false }
    this.#phases.push(record)
    try {
      return await fn()
    } catch (error) {
      record.failed = true
      throw error
    } finally {
      record.end = this.#now()
    }
  }

  /**
   * Phases in the order they started, each with its start since the run's. A phase still
   * running (e.g. a parallel one when another failed) is reported with the time it has run so far.
   */
  timings(): PhaseTiming[] {
    const now = this.#now()
    return this.#phases.map((p) => ({
      name: p.name,
      startMs: p.start - this.#start,
      ms: (p.end ?? now) - p.start,
      outcome: p.end === undefined ? 'running' : p.failed ? 'failed' : 'done',
    }))
  }
}

/** Human-readable duration for logs and the job summary: '850ms', '42s', '1m 05s', '1h 02m 03s'. */
export function formatDuration(ms: number): string {
  const safe = Number.isFinite(ms) && ms > 0 ? ms : 0
  if (safe < 1000) return `${Math.floor(safe)}ms`
  const totalSeconds = Math.floor(safe / 1000)
  const s = totalSeconds % 60
  const totalMinutes = Math.floor(totalSeconds / 60)
  const m = totalMinutes % 60
  const h = Math.floor(totalMinutes / 60)
  const pad = (n: number): string => String(n).padStart(2, '0')
  if (h > 0) return `${h}h ${pad(m)}m ${pad(s)}s`
  if (m > 0) return `${m}m ${pad(s)}s`
  return `${s}s`
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y

/**
 * Parse a Go-style duration ('90s', '15m', '1h30m', '1.5h', '500ms') into milliseconds.
 * Unlike Go, a sign is not accepted: the action has no use for negative durations.
 * Throws an Error saying what is accepted.
 */
export function parseDuration(raw: string): number {
  const s = raw.trim()
  const fail = (): never => {
    throw new Error(
      `${JSON.stringify(raw)} is not a duration: use a number with a unit (h, m, s, ms), ` +
        `combined as in Go, e.g. '90s', '15m', '1h30m'`,
    )
  }
  if (s === '') fail()
  if (s === '0') return 0 // as in Go; callers then say why zero is not allowed
  let total = 0
  PART.lastIndex = 0
  while (PART.lastIndex < s.length) {
    const m = PART.exec(s)
    if (!m) return fail()
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? fail())
  }
  return total
}
