// Asking a Prometheus over its HTTP API: the transports (through the API server's service
// proxy, or fetch for a URL) and the small parsers every caller shares.
import { ApiError, type Kube, type ServiceRef } from '../cluster/kube.ts'

export type PrometheusRequest = (pathAndQuery: string, signal: AbortSignal) => Promise<unknown>

export function queryPath(promql: string): string {
  return `/api/v1/query?query=${encodeURIComponent(promql)}`
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
}

/** Parses a Prometheus duration ('30s', '1m30s', '500ms') to ms; undefined when malformed. */
export function parseDuration(s: string): number | undefined {
  if (!/^(\d+(ms|[smhdwy]))+$/.test(s)) return undefined
  let ms = 0
  for (const m of s.matchAll(/(\d+)(ms|[smhdwy])/g)) ms += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? 0)
  return ms > 0 ? ms : undefined
}

/**
 * For a wait's `.catch`: an answer to ask again for (undefined), unless the API server refused
 * the identity (401, 403), which no wait outlives: then it rethrows.
 */
export function askAgain(e: unknown): undefined {
  if (e instanceof ApiError && (e.status === 401 || e.status === 403)) throw e
  return undefined
}

/** A non-2xx answer of the default transport. */
export class PrometheusHttpError extends Error {
  readonly status: number
  constructor(status: number, statusText: string, body: string) {
    const detail = body.trim().slice(0, 300)
    super(`HTTP ${status} ${statusText}${detail ? `: ${detail}` : ''}`)
    this.name = 'PrometheusHttpError'
    this.status = status
  }
}

/** fetch() transport: JSON of baseUrl + path; non-2xx answers throw PrometheusHttpError. */
export function fetchRequest(baseUrl: string): PrometheusRequest {
  const base = baseUrl.replace(/\/+$/, '')
  return async (pathAndQuery, signal) => {
    const res = await fetch(base + pathAndQuery, { signal, headers: { accept: 'application/json' } })
    if (!res.ok) throw new PrometheusHttpError(res.status, res.statusText, await res.text())
    return res.json()
  }
}

/**
 * Transport through the API server's service proxy (Kube.serviceProxyGet): every request goes
 * to the Service `ref` with the kubeconfig's credentials (and proxy), so no port-forward is
 * involved. Resolves with the parsed JSON; rejects with ApiError (HTTP status kept: 503 while
 * the Service has no ready endpoint, 404 when it does not exist) or the socket's error, which
 * waitForTargets reads as 'unreachable'. `timeoutMs` bounds socket inactivity of one request;
 * `pathPrefix` ('/prometheus', default '') is Prometheus' route prefix, put before every path.
 */
export function serviceProxyRequest(
  kube: Pick<Kube, 'serviceProxyGet'>,
  ref: ServiceRef,
  opts: { timeoutMs?: number; pathPrefix?: string } = {},
): PrometheusRequest {
  const prefix = opts.pathPrefix ?? ''
  return (pathAndQuery, signal) =>
    kube.serviceProxyGet(ref, prefix + pathAndQuery, { signal, ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) })
}
