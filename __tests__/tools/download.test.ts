// The download layer with a fake fetch: retries, stalls, the budget's signal, refused redirects.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { downloadFile, exists, fetchText, isTransient, Transfers, type HttpFetch, type HttpResponse } from '../../src/tools/download.ts'

const URL_ = 'https://mirror.example/file'
const FAST = { backoffMs: 5, stallMs: 200 }

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'download-test-'))
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true) // core.info of each retry
})
afterEach(async () => {
  vi.restoreAllMocks()
  await rm(dir, { recursive: true, force: true })
})

function answer(status: number, body = '', extra: Partial<HttpResponse> = {}): HttpResponse {
  return { status, text: async () => body, body: new Response(body).body, headers: new Headers(), ...extra }
}

/** Answers in turn; the last one repeats. Records each call. */
function sequence(...steps: Array<HttpResponse | Error | 'stall'>) {
  const calls: string[] = []
  const http: HttpFetch = (url, init) => {
    calls.push(`${init?.method ?? 'GET'} ${url}`)
    const step = steps[Math.min(calls.length - 1, steps.length - 1)]!
    if (step === 'stall') {
      return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error)))
    }
    return step instanceof Error ? Promise.reject(step) : Promise.resolve(step)
  }
  return { http, calls }
}

const reset = () =>
  Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) })

describe('retries', () => {
  it('a 503, a reset and a stall are retried, then the file arrives whole', async () => {
    const { http, calls } = sequence(answer(503), reset(), 'stall', answer(200, 'binary'))
    const dest = join(dir, 'kubectl')
    await downloadFile(http, URL_, dest, FAST)
    expect(await readFile(dest, 'utf8')).toBe('binary')
    expect(calls).toHaveLength(4)
    expect(await readdir(dir)).toEqual(['kubectl']) // no partial file left
  })

  it.each([404, 403, 401])('HTTP %d is final: one request, the status in the message', async (status) => {
    const { http, calls } = sequence(answer(status))
    await expect(fetchText(http, URL_, FAST)).rejects.toThrow(`GET ${URL_} answered HTTP ${status}`)
    expect(calls).toHaveLength(1)
  })

  it('a refused connection or an unknown host is final', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    })
    const { http, calls } = sequence(refused)
    await expect(fetchText(http, URL_, FAST)).rejects.toThrow(`Could not reach ${URL_}: connect ECONNREFUSED`)
    expect(calls).toHaveLength(1)
  })

  it('Retry-After is honoured', async () => {
    const { http, calls } = sequence(answer(429, '', { headers: new Headers({ 'retry-after': '0.2' }) }), answer(200, 'ok'))
    const started = performance.now()
    expect(await fetchText(http, URL_, FAST)).toBe('ok')
    expect(performance.now() - started).toBeGreaterThanOrEqual(190)
    expect(calls).toHaveLength(2)
  })

  it('HEAD probes retry a 502 and still read 404 as absent', async () => {
    expect(await exists(sequence(answer(502), answer(200)).http, URL_, FAST)).toBe(true)
    expect(await exists(sequence(answer(502), answer(404)).http, URL_, FAST)).toBe(false)
  })

  it.each([
    [new Error('x'), false],
    [Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), true],
    [Object.assign(new Error('x'), { cause: Object.assign(new Error('y'), { code: 'UND_ERR_SOCKET' }) }), true],
    [Object.assign(new Error('x'), { code: 'ENOTFOUND' }), false],
    [new TypeError('terminated', { cause: new Error('other side closed') }), true],
  ])('isTransient(%s) is %s', (err, want) => {
    expect(isTransient(err)).toBe(want)
  })
})

describe('the budget', () => {
  it('a mirror that keeps stalling ends when the signal does, naming the URL and what it did', async () => {
    const { http, calls } = sequence('stall')
    const transfers = new Transfers()
    const signal = AbortSignal.timeout(700)
    const started = performance.now()
    const seen: string[] = []
    const timer = setInterval(() => seen.push(transfers.describe()), 50)
    const err = await downloadFile(http, URL_, join(dir, 'f'), { ...FAST, signal, transfers }).then(
      () => undefined,
      (e: Error) => e,
    )
    clearInterval(timer)
    expect(performance.now() - started).toBeLessThan(1500)
    expect(err?.message).toContain(URL_)
    expect(calls.length).toBeGreaterThanOrEqual(2) // retried while the budget lasted
    expect(seen.some((s) => s.includes(`still waiting on ${URL_} (attempt 1: ${URL_} sent nothing for 200ms)`))).toBe(true)
    expect(transfers.describe()).toBe('') // nothing under way once it ended
    expect(await readdir(dir)).toEqual([])
  })

  it('a persistent 500 gives up when the signal ends, with the last status', async () => {
    const { http } = sequence(answer(500))
    await expect(fetchText(http, URL_, { ...FAST, signal: AbortSignal.timeout(300) })).rejects.toThrow(`GET ${URL_} answered HTTP 500`)
  })
})

describe('redirects', () => {
  it('an https URL answered from http is refused unless allowed', async () => {
    const redirected = answer(200, 'x', { url: 'http://mirror.example/file' })
    await expect(fetchText(sequence(redirected).http, URL_, FAST)).rejects.toThrow(
      `${URL_} redirected to http://mirror.example/file, which is plain http; set allow-insecure-downloads: true`,
    )
    expect(await fetchText(sequence(redirected).http, URL_, { ...FAST, allowInsecure: true })).toBe('x')
  })
})
