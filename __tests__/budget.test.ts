import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Budget, TimeoutError, formatDuration, parseDuration } from '../src/budget.ts'

// A clock the tests move by hand, for the parts that involve no timers.
function manualClock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => (t += ms) }
}

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [999.9, '999ms'],
    [1000, '1s'],
    [42_500, '42s'],
    [60_000, '1m 00s'],
    [65_000, '1m 05s'],
    [15 * 60_000, '15m 00s'],
    [3_723_000, '1h 02m 03s'],
    [-5, '0ms'],
    [Number.NaN, '0ms'],
  ])('%s ms -> %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['2h0m0s', 7_200_000],
    [' 10m ', 600_000],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['0', 0],
  ])('%j -> %d ms', (raw, ms) => {
    expect(parseDuration(raw)).toBeCloseTo(ms, 9)
  })

  it.each(['', '15', '15 m', 'm', '1h 30m', '-5m', '+5m', '1d', '1w', 'fifteen minutes', '1h30', '5M', '.m'])('rejects %j', (raw) => {
    expect(() => parseDuration(raw)).toThrow(/is not a duration.*'15m'/)
  })
})

describe('Budget without timers', () => {
  it('counts down from the total and stops at zero', () => {
    const clock = manualClock()
    const budget = new Budget(10_000, clock.now)
    expect(budget.remainingMs()).toBe(10_000)
    clock.advance(3_000)
    expect(budget.remainingMs()).toBe(7_000)
    clock.advance(20_000)
    expect(budget.remainingMs()).toBe(0)
  })

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects a total of %s', (total) => {
    expect(() => new Budget(total)).toThrow(RangeError)
  })

  it('records phases in start order, failed ones too', async () => {
    const clock = manualClock()
    const budget = new Budget(60_000, clock.now)
    await budget.phase('install tools', async () => {
      clock.advance(1_200)
    })
    await expect(
      budget.phase('deploy', async () => {
        clock.advance(300)
        throw new Error('helm failed')
      }),
    ).rejects.toThrow('helm failed')
    expect(budget.timings()).toEqual([
      { name: 'install tools', startMs: 0, ms: 1_200, outcome: 'done' },
      { name: 'deploy', startMs: 1_200, ms: 300, outcome: 'failed' },
    ])
  })

  it('records overlapping phases separately, a running one with its time so far', async () => {
    const clock = manualClock()
    const budget = new Budget(60_000, clock.now)
    let finishA!: () => void
    const a = budget.phase('kube-prometheus', () => new Promise<void>((r) => (finishA = r)))
    const b = budget.phase('milvus', async () => {
      clock.advance(500)
    })
    await b
    clock.advance(250)
    expect(budget.timings()).toEqual([
      { name: 'kube-prometheus', startMs: 0, ms: 750, outcome: 'running' },
      { name: 'milvus', startMs: 0, ms: 500, outcome: 'done' },
    ])
    clock.advance(250)
    finishA()
    await a
    clock.advance(10_000)
    expect(budget.timings()[0]).toEqual({ name: 'kube-prometheus', startMs: 0, ms: 1_000, outcome: 'done' })
  })

  it('gives each phase its start since the run started, by the wall clock too', async () => {
    const clock = manualClock()
    const before = Date.now()
    const budget = new Budget(60_000, clock.now)
    clock.advance(2_000)
    await budget.phase('late', async () => {
      clock.advance(100)
    })
    expect(budget.timings()[0]).toMatchObject({ startMs: 2_000, ms: 100 })
    expect(budget.startedAt).toBeGreaterThanOrEqual(before)
    expect(budget.startedAt).toBeLessThanOrEqual(Date.now())
  })

  it('returns copies, so callers cannot edit the record', async () => {
    const budget = new Budget(1_000, manualClock().now)
    await budget.phase('x', async () => undefined)
    budget.timings()[0]!.ms = 99
    expect(budget.timings()[0]!.ms).toBe(0)
  })
})

describe('Budget.wait', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('passes what is left and an unaborted signal, and returns the result', async () => {
    const budget = new Budget(10_000, () => Date.now())
    vi.advanceTimersByTime(4_000)
    const fn = vi.fn(async (signal: AbortSignal, remainingMs: number) => {
      expect(signal.aborted).toBe(false)
      return remainingMs
    })
    await expect(budget.wait('the CRDs', fn)).resolves.toBe(6_000)
    expect(fn).toHaveBeenCalledOnce()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('reads a `what` given as a function when time runs out, so it can name what is under way then', async () => {
    const budget = new Budget(1_000, () => Date.now())
    let now = 'nothing yet'
    const waiting = budget.wait(
      () => `the downloads (${now})`,
      () => new Promise<never>(() => undefined),
    )
    const outcome = waiting.catch((e: unknown) => e as TimeoutError)
    now = 'https://mirror.example/kubectl'
    await vi.advanceTimersByTimeAsync(1_000)
    expect((await outcome).what).toBe('the downloads (https://mirror.example/kubectl)')
  })

  it('aborts the signal and rejects with a TimeoutError naming the wait when time runs out', async () => {
    const budget = new Budget(15 * 60_000, () => Date.now())
    vi.advanceTimersByTime(10 * 60_000)
    let seen: AbortSignal | undefined
    const waiting = budget.wait('Prometheus to scrape milvus/my-release-milvus', (signal) => {
      seen = signal
      return new Promise<never>(() => undefined)
    })
    const outcome = expect(waiting).rejects.toBeInstanceOf(TimeoutError)
    await vi.advanceTimersByTimeAsync(5 * 60_000 - 1)
    expect(seen?.aborted).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await outcome
    expect(seen?.aborted).toBe(true)
    const error = seen?.reason as TimeoutError
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.what).toBe('Prometheus to scrape milvus/my-release-milvus')
    expect(error.waitedMs).toBe(5 * 60_000)
    expect(error.totalMs).toBe(15 * 60_000)
    expect(error.message).toBe(
      'Timed out waiting for Prometheus to scrape milvus/my-release-milvus after 5m 00s ' +
        '(the whole run has a budget of 15m 00s); if the cluster is just slow, raise the ' +
        '`timeout` input (e.g. `timeout: 30m`).',
    )
  })

  it('shares one budget between successive waits', async () => {
    const budget = new Budget(10_000, () => Date.now())
    await budget.wait('first', async () => {
      vi.advanceTimersByTime(7_000)
    })
    const second = budget.wait('second', (_signal, remainingMs) => {
      expect(remainingMs).toBe(3_000)
      return new Promise<never>(() => undefined)
    })
    const outcome = expect(second).rejects.toThrow(/waiting for second after 3s .*budget of 10s/)
    await vi.advanceTimersByTimeAsync(3_000)
    await outcome
  })

  it('rejects at once, without calling fn, when nothing is left', async () => {
    const budget = new Budget(1_000, () => Date.now())
    vi.advanceTimersByTime(1_000)
    const fn = vi.fn(async () => 'never')
    await expect(budget.wait('Milvus pods', fn)).rejects.toThrow(/waiting for Milvus pods after 0ms/)
    expect(fn).not.toHaveBeenCalled()
  })

  it('passes on the failure of fn and clears its timer', async () => {
    const budget = new Budget(10_000, () => Date.now())
    await expect(
      budget.wait('helm', async () => {
        throw new Error('release failed')
      }),
    ).rejects.toThrow('release failed')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('turns a synchronous throw of fn into a rejection', async () => {
    const budget = new Budget(10_000, () => Date.now())
    await expect(
      budget.wait('x', () => {
        throw new Error('sync')
      }),
    ).rejects.toThrow('sync')
  })

  it('drops the rejection fn gives after it was aborted', async () => {
    const budget = new Budget(1_000, () => Date.now())
    let lateRejection: Promise<unknown> | undefined
    const waiting = budget.wait('watch', (signal) => {
      lateRejection = new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(new Error('aborted watch')))
      })
      return lateRejection
    })
    const outcome = expect(waiting).rejects.toBeInstanceOf(TimeoutError)
    await vi.advanceTimersByTimeAsync(1_000)
    await outcome
    // fn's own rejection happened, but the wait had already settled with the TimeoutError.
    await expect(lateRejection).rejects.toThrow('aborted watch')
  })
})

describe('Budget.fail', () => {
  it('rejects every wait under way with the error, aborting its signal, and every later wait at once', async () => {
    const budget = new Budget(60_000)
    const cause = new Error('FailedCreate: violates PodSecurity')
    let seen: unknown
    const a = budget.wait(
      'a',
      (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject((seen = signal.reason)))),
    )
    const b = budget.wait('b', () => new Promise(() => undefined))
    budget.fail(cause)
    await expect(a).rejects.toBe(cause)
    await expect(b).rejects.toBe(cause)
    expect(seen).toBe(cause)
    await expect(budget.wait('c', () => Promise.resolve(1))).rejects.toBe(cause)
    expect(budget.failure).toBe(cause)
  })

  it('keeps the first error and leaves finished waits alone', async () => {
    const budget = new Budget(60_000)
    await expect(budget.wait('done', () => Promise.resolve('ok'))).resolves.toBe('ok')
    const first = new Error('first')
    budget.fail(first)
    budget.fail(new Error('second'))
    expect(budget.failure).toBe(first)
  })
})

describe('Budget.critical and settle', () => {
  it('settle waits for critical work under way, bounded', async () => {
    const budget = new Budget(60_000)
    let finish: () => void = () => undefined
    const work = budget.critical(new Promise<void>((r) => (finish = r)))
    setTimeout(finish, 50)
    expect(await budget.settle(5000)).toBe(true)
    await work
    const never = budget.critical(new Promise<void>(() => undefined))
    expect(await budget.settle(50)).toBe(false)
    void never
  })

  it('nothing critical: settles at once', async () => {
    expect(await new Budget(1000).settle(10)).toBe(true)
  })
})
