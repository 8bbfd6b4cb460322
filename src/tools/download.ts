// The small-text HTTP layer (version pointers, checksum files, existence probes). Binaries go
// through @actions/tool-cache instead, for its retries. Injectable so the logic is unit-tested.
// Node's global fetch ignores HTTPS_PROXY/HTTP_PROXY/NO_PROXY: the default transport is undici's
// fetch with a dispatcher that sends each request where proxyForUrl (src/proxy.ts) says.
import type { Dispatcher } from 'undici'
import { describeProxy, proxyForUrl } from '../cluster/proxy.ts'

/** The part of a fetch Response this module reads. */
export interface HttpResponse {
  status: number
  text(): Promise<string>
}

/** A fetch-like function; the global `fetch` satisfies it. */
export type HttpFetch = (url: string, init?: { method?: string; signal?: AbortSignal }) => Promise<HttpResponse>

// Pointers and checksum files are tiny; a stalled connection should fail, not hang the job.
const REQUEST_TIMEOUT_MS = 30_000

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

async function request(http: HttpFetch, method: 'GET' | 'HEAD', url: string): Promise<HttpResponse> {
  try {
    return await http(url, { method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  } catch (err) {
    const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)
    const route = proxyForUrl(url)
    // Name the proxy only when one was used: a direct failure reads as before.
    const via = route.proxy ? ` ${describeProxy(route)}` : ''
    throw new Error(`Could not reach ${url}${via}: ${cause}`, { cause: err })
  }
}

/** Thrown for a non-2xx answer, so callers can tell "not there" from "unreachable". */
export class HttpStatusError extends Error {
  readonly url: string
  readonly status: number
  constructor(url: string, status: number) {
    super(`GET ${url} answered HTTP ${status}`)
    this.name = 'HttpStatusError'
    this.url = url
    this.status = status
  }
}

/** GET a small text file; any non-2xx status is an error naming the URL. */
export async function fetchText(http: HttpFetch, url: string): Promise<string> {
  const res = await request(http, 'GET', url)
  if (res.status < 200 || res.status > 299) throw new HttpStatusError(url, res.status)
  return res.text()
}

/**
 * HEAD probe: true for 2xx, false for 404/410. Anything else (403, 5xx) is an error, since
 * reading it as "absent" could silently resolve an older version.
 */
export async function exists(http: HttpFetch, url: string): Promise<boolean> {
  const res = await request(http, 'HEAD', url)
  if (res.status >= 200 && res.status <= 299) return true
  if (res.status === 404 || res.status === 410) return false
  throw new Error(`HEAD ${url} answered HTTP ${res.status}`)
}
