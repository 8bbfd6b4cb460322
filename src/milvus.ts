// Milvus through its Helm chart: the mode's values, the user's values over them, and the
// ServiceMonitor always on.
import type { MilvusMode } from './types.ts'

export type Values = Record<string, unknown>

/** CI-sized standalone: one Milvus pod, one etcd, standalone MinIO, no Pulsar. */
export function modeValues(mode: MilvusMode): Values {
  if (mode === 'cluster') return { cluster: { enabled: true } }
  return {
    cluster: { enabled: false },
    etcd: { replicaCount: 1 },
    minio: { mode: 'standalone' },
    pulsarv3: { enabled: false },
  }
}

function isPlainObject(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Helm's own rule: maps merge key by key, anything else is replaced by the later value. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const b = out[k]
    out[k] = isPlainObject(b) && isPlainObject(v) ? mergeValues(b, v) : v
  }
  return out
}

/** The values the action installs with: mode, then the user's, then the ServiceMonitor switch. */
export function releaseValues(mode: MilvusMode, user: Values): Values {
  return mergeValues(mergeValues(modeValues(mode), user), { metrics: { enabled: true, serviceMonitor: { enabled: true } } })
}

const SECRET_KEY = /pass(word)?|secret|token|credential|access_?key|private_?key|api_?key/i

/** String leaves of the values under secret-looking keys: masked in the log before anything runs. */
export function secretValues(values: Values, underSecret = false): string[] {
  const out: string[] = []
  for (const [k, v] of Object.entries(values)) {
    const secret = underSecret || SECRET_KEY.test(k)
    if (isPlainObject(v)) out.push(...secretValues(v, secret))
    else if (Array.isArray(v)) out.push(...secretValues(Object.fromEntries(v.map((x, i) => [String(i), x])), secret))
    else if (secret && (typeof v === 'string' || typeof v === 'number') && String(v).length > 0) out.push(String(v))
  }
  return out
}
