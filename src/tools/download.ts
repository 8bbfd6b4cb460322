// The HTTP layer of every download: version pointers, checksum files, existence probes, and
// files of any size (binaries, the kube-prometheus archive, the dashboard). Each request is bounded
// by the run's budget (a signal), retried on transient failures, and injectable for unit tests.
// Node's global fetch ignores HTTPS_PROXY/HTTP_PROXY/NO_PROXY: the default transport is undici's
// fetch with a dispatcher that sends each request where proxyForUrl (src/proxy.ts) says.
import * as core from '@actions/core'
import { createWriteStream } from 'node:fs'
import { rename, rm, writeFile } from 'node:fs/promises'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import { formatDuration } from '../budget.ts'
import { describeProxy, proxyForUrl } from '../cluster/proxy.ts'

/** The part of a fetch Response this module reads. */
export interface HttpResponse {
  status: number
  text(): Promise<string>
  /** The body as a stream; only downloadFile reads it (a fake without one answers with text()). */
  body?: ReadableStream<Uint8Array> | null
  /** The URL answered after redirects. */
  url?: string
  headers?: { get(name: string): string | null }
}

/** A fetch-like function; the global `fetch` satisfies it. */
export type HttpFetch = (url: string, init?: { method?: string; signal?: AbortSignal }) => Promise<HttpResponse>

/**
 * How one request is bounded: `signal` is the run's budget (every attempt and every backoff ends
 * with it), `stallMs` how long an attempt may go without an answer or a byte before it counts as
 * a transient failure and is retried.
 */
export interface RequestOptions {
  signal?: AbortSignal
  stallMs?: number
  /** The first backoff; doubled per retry up to MAX_BACKOFF_MS. */
  backoffMs?: number
  /** Where the transfers under way are listed, for the message of a budget that runs out. */
  transfers?: Transfers
  /** Accept an https URL that redirects to http (allow-insecure-downloads). */
  allowInsecure?: boolean
}

const STALL_MS = 30_000
const FIRST_BACKOFF_MS = 1000
const MAX_BACKOFF_MS = 30_000

let envDispatcher: Promise<Dispatcher> | undefined

/**
 * An undici dispatcher that connects directly or through undici's ProxyAgent, per request, as
 * proxyForUrl decides from the environment at that moment (so kubectl's rules: HTTPS_PROXY for
 * https, HTTP_PROXY for http, NO_PROXY, loopback never proxied). One per process; undici is
 * loaded on first use, keeping it off the action's start-up path.
 */
export function proxyAwareDispatcher(): Promise<Dispatcher> {
  envDispatcher ??= import('undici').then(({ Agent, ProxyAgent }) => {
    const direct = new Agent()
    const proxied = new Map<string, Dispatcher>()
    return direct.compose((dispatch) => (opts, handler) => {
      const { proxy } = proxyForUrl(String(opts.origin))
      if (proxy === undefined) return dispatch(opts, handler)
      let agent = proxied.get(proxy)
      // proxyTunnel false: http URLs are sent to the proxy as absolute-URI requests, as Go's
      // transport does; https ones are tunnelled with CONNECT either way.
      if (!agent) proxied.set(proxy, (agent = new ProxyAgent({ uri: proxy, proxyTunnel: false })))
      return agent.dispatch(opts, handler)
    })
  })
  return envDispatcher
}

/** undici's fetch through proxyAwareDispatcher; rejects like fetch (TypeError, socket error as cause). */
export const defaultFetch: HttpFetch = async (url, init) => {
  const [{ fetch }, dispatcher] = await Promise.all([import('undici'), proxyAwareDispatcher()])
  return fetch(url, { ...init, dispatcher })
}

/** Transfers under way, each with what its last attempt met: named when the budget runs out. */
export class Transfers {
  readonly #active = new Map<string, string>()

  start(url: string): void {
    this.#active.set(url, '')
  }

  note(url: string, what: string): void {
    if (this.#active.has(url)) this.#active.set(url, what)
  }

  end(url: string): void {
    this.#active.delete(url)
  }

  /** '' when nothing is under way, else '; still waiting on <url> (<last problem>), ...'. */
  describe(): string {
    if (this.#active.size === 0) return ''
    const each = [...this.#active].map(([url, what]) => (what ? `${url} (${what})` : url))
    return `; still waiting on ${each.join(', ')}`
  }
}

/** Thrown for a non-2xx answer, so callers can tell "not there" from "unreachable". */
export class HttpStatusError extends Error {
  readonly url: string
  readonly status: number
  readonly retryAfterMs: number | undefined
  constructor(url: string, status: number, retryAfterMs?: number) {
    super(`GET ${url} answered HTTP ${status}`)
    this.name = 'HttpStatusError'
    this.url = url
    this.status = status
    this.retryAfterMs = retryAfterMs
  }
}

/** An attempt that got no answer, or no byte, for stallMs. */
class StallError extends Error {
  constructor(url: string, ms: number) {
    super(`${url} sent nothing for ${formatDuration(ms)}`)
    this.name = 'StallError'
  }
}

/** Statuses a mirror or CDN answers while it is briefly unwell; anything else is final. */
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504])

/** Socket-level failures worth another attempt: resets, timeouts, a DNS server that did not answer. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

function errorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') return code
  }
  return undefined
}

/** Whether another attempt may succeed where this one failed. */
export function isTransient(err: unknown): boolean {
  if (err instanceof StallError) return true
  if (err instanceof HttpStatusError) return TRANSIENT_STATUS.has(err.status)
  const code = errorCode(err)
  if (code !== undefined) return TRANSIENT_CODES.has(code)
  // A body cut short: undici reports "terminated" with the socket error as the cause.
  return err instanceof Error && /terminated|other side closed|premature close/i.test(`${err.message} ${String(err.cause)}`)
}

function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message
}

/** Retry-After in milliseconds (seconds or an HTTP date), undefined when absent or unreadable. */
function retryAfter(res: HttpResponse): number | undefined {
  const raw = res.headers?.get('retry-after')
  if (!raw) return undefined
  const seconds = Number(raw)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const at = Date.parse(raw)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/**
 * One request, retried while its failure is transient (a reset, a stall, 408/429/5xx) with
 * exponential backoff, until it succeeds, fails for good, or `opts.signal` (the run's budget)
 * ends it. `use` reads the response within the attempt, so a body that stalls is retried too;
 * a status outside 2xx reaches `use` only when `acceptStatus` says so.
 */
async function attempts<T>(
  http: HttpFetch,
  method: 'GET' | 'HEAD',
  url: string,
  opts: RequestOptions,
  use: (res: HttpResponse, alive: () => void, signal: AbortSignal) => Promise<T>,
  acceptStatus: (status: number) => boolean = (s) => s >= 200 && s <= 299,
): Promise<T> {
  const stallMs = opts.stallMs ?? STALL_MS
  let backoff = opts.backoffMs ?? FIRST_BACKOFF_MS
  opts.transfers?.start(url)
  try {
    for (let attempt = 1; ; attempt++) {
      opts.signal?.throwIfAborted()
      const stall = new AbortController()
      const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal
      const timer = setTimeout(() => stall.abort(new StallError(url, stallMs)), stallMs)
      const alive = () => void timer.refresh()
      let error: unknown
      try {
        const res = await http(url, { method, signal })
        alive()
        checkScheme(url, res, opts)
        if (!acceptStatus(res.status)) {
          await res.body?.cancel().catch(() => undefined)
          throw new HttpStatusError(url, res.status, retryAfter(res))
        }
        return await use(res, alive, signal)
      } catch (err) {
        error = stall.signal.aborted && !opts.signal?.aborted ? stall.signal.reason : err
      } finally {
        clearTimeout(timer)
      }
      // The budget ended it: the last failure says what was going on.
      if (opts.signal?.aborted || !isTransient(error)) throw describeFailure(url, error)
      const wait = Math.min(Math.max(backoff, error instanceof HttpStatusError ? (error.retryAfterMs ?? 0) : 0), MAX_BACKOFF_MS)
      const why = causeOf(error)
      opts.transfers?.note(url, `attempt ${attempt}: ${why}`)
      core.info(`${method} ${url}: ${why}; retry ${attempt} in ${formatDuration(wait)}`)
      await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => {
        throw describeFailure(url, error)
      })
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
    }
  } finally {
    opts.transfers?.end(url)
  }
}

/** An https URL answered over http after a redirect is refused, as an http:// input would be. */
function checkScheme(url: string, res: HttpResponse, opts: RequestOptions): void {
  if (opts.allowInsecure || !res.url || !url.startsWith('https:') || !res.url.startsWith('http:')) return
  throw new InsecureRedirectError(url, res.url)
}

class InsecureRedirectError extends Error {
  constructor(url: string, to: string) {
    super(`${url} redirected to ${to}, which is plain http; set allow-insecure-downloads: true to accept that`)
    this.name = 'InsecureRedirectError'
  }
}

function describeFailure(url: string, err: unknown): Error {
  if (err instanceof HttpStatusError || err instanceof InsecureRedirectError || err instanceof StallError) return err
  if (err instanceof Error && err.message.includes(url)) return err
  const route = proxyForUrl(url)
  // Name the proxy only when one was used: a direct failure reads as before.
  const via = route.proxy ? ` ${describeProxy(route)}` : ''
  const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)
  return new Error(`Could not reach ${url}${via}: ${cause}`, { cause: err })
}

/** GET a small text file; any non-2xx status is an error naming the URL. */
export async function fetchText(http: HttpFetch, url: string, opts: RequestOptions = {}): Promise<string> {
  return attempts(http, 'GET', url, opts, (res) => res.text())
}

/**
 * HEAD probe: true for 2xx, false for 404/410. Anything else (403, 5xx once retries are spent) is
 * an error, since reading it as "absent" could silently resolve an older version.
 */
export async function exists(http: HttpFetch, url: string, opts: RequestOptions = {}): Promise<boolean> {
  const found = (s: number) => s >= 200 && s <= 299
  return attempts(
    http,
    'HEAD',
    url,
    opts,
    async (res) => found(res.status),
    (s) => found(s) || s === 404 || s === 410,
  ).catch((err: unknown) => {
    if (err instanceof HttpStatusError) throw new Error(`HEAD ${url} answered HTTP ${err.status}`, { cause: err })
    throw err
  })
}

/**
 * GET a file of any size into `dest` (created or replaced), streamed, retried from the start on a
 * transient failure. A partial file is removed; `dest` exists only once the whole body arrived.
 */
export async function downloadFile(http: HttpFetch, url: string, dest: string, opts: RequestOptions = {}): Promise<void> {
  const partial = `${dest}.partial`
  try {
    await attempts(http, 'GET', url, opts, async (res, alive, signal) => {
      const body = res.body ?? null
      if (body === null) {
        await writeFile(partial, await res.text())
      } else {
        const counting = new Transform({
          transform(chunk: Buffer, _enc, done) {
            alive()
            done(null, chunk)
          },
        })
        await pipeline(
          Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>),
          counting,
          createWriteStream(partial),
          { signal },
        )
      }
      await rename(partial, dest)
    })
  } finally {
    await rm(partial, { force: true })
  }
}
