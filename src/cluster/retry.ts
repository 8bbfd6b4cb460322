// Bounded retries for calls that fail while an API server restarts or is briefly overloaded.
import { setTimeout as sleep } from 'node:timers/promises'

const TRANSIENT = [
  /connection refused|connection to the server \S+ was refused/i,
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EAI_AGAIN/,
  /unexpected EOF|\bEOF\b/,
  /i\/o timeout|TLS handshake timeout|context deadline exceeded/i,
  /the server is currently unable to handle the request/i,
  /the server was unable to return a response in the time allotted/i,
  /etcdserver: (request timed out|leader changed|too many requests)/i,
  /Too many requests|TooManyRequests|ServiceUnavailable|InternalError.*(etcd|timeout)/,
  /http2: client connection lost|connection reset by peer|broken pipe/i,
  /\b(502|503|504)\b.*(Bad Gateway|Service Unavailable|Gateway Timeout)/i,
  // A resource's storage right after its CRD was created or replaced.
  /HTTP 429: storage is \(re\)initializing/,
]

export function isTransient(message: string): boolean {
  return TRANSIENT.some((re) => re.test(message))
}

export interface RetryOptions {
  signal: AbortSignal
  onRetry?: (attempt: number, error: Error, delayMs: number) => void
  initialMs?: number
  maxMs?: number
}

/** Retries fn while its error is transient, with exponential backoff, until the signal aborts. */
export async function retryTransient<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  let delay = o.initialMs ?? 500
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e))
      if (!isTransient(error.message) || o.signal.aborted) throw error
      o.onRetry?.(attempt, error, delay)
      await sleep(delay, undefined, { signal: o.signal }).catch(() => {
        throw o.signal.reason instanceof Error ? o.signal.reason : error
      })
      delay = Math.min(delay * 2, o.maxMs ?? 8000)
    }
  }
}
