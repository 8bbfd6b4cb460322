// Waiting until Prometheus scrapes Milvus: reading the targets API into a verdict that says
// what is missing, and polling it at a pace that follows Prometheus' own scrape schedule.
import * as core from '@actions/core'
import { setTimeout as delay } from 'node:timers/promises'
import { ApiError, type Kube, type ServiceRef } from '../cluster/kube.ts'
import type { StackRun } from '../context.ts'
import { fetchRequest, parseDuration, queryPath, serviceProxyRequest, type PrometheusRequest } from '../prometheus/api.ts'
export {
  fetchRequest,
  parseDuration,
  PrometheusHttpError,
  queryPath,
  serviceProxyRequest,
  type PrometheusRequest,
} from '../prometheus/api.ts'
import type { MonitorKind, TargetState } from '../types.ts'
import type { VerdictState, TargetVerdict } from '../types.ts'
export type { VerdictState, TargetVerdict }

export interface InterpretContext {
  scrapePool: string
  /** The Milvus namespace, named in the RBAC advice. */
  namespace: string
  /** JSON of /api/v1/scrape_pools, for Prometheus versions whose targets API lacks droppedTargetCounts. */
  scrapePools?: unknown
}

/** The scrape pool (job_name) the Prometheus Operator generates for a ServiceMonitor endpoint (`podMonitor/...` for a PodMonitor's). */
export function scrapePoolFor(namespace: string, name: string, endpointIndex = 0, kind: MonitorKind = 'ServiceMonitor'): string {
  return `${kind === 'PodMonitor' ? 'podMonitor' : 'serviceMonitor'}/${namespace}/${name}/${endpointIndex}`
}

/** Path of the targets query: state=any so dropped targets and per-pool dropped counts come along. */
export function targetsPath(scrapePool: string): string {
  return `/api/v1/targets?state=any&scrapePool=${encodeURIComponent(scrapePool)}`
}

export const SCRAPE_POOLS_PATH = '/api/v1/scrape_pools'

// ---------------------------------------------------------------------------------------------
// Reading the JSON. Bodies are untrusted (they may come through a proxy), so read defensively.

type Json = Record<string, unknown>

function record(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {}
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : []
}
function text(v: unknown): string {
  return typeof v === 'string' ? v : ''
}
function labelSet(v: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, val] of Object.entries(record(v))) if (typeof val === 'string') out[k] = val
  return out
}

/** RFC 3339 to ms; Go's zero time ('0001-01-01T00:00:00Z', never scraped) counts as absent. */
function parseTime(s: string): number | undefined {
  const ms = Date.parse(s)
  return Number.isFinite(ms) && ms > 0 ? ms : undefined
}

interface ActiveTarget {
  state: TargetState
  intervalMs?: number
  lastScrapeMs?: number
  durationMs: number
}

function activeTarget(raw: unknown): ActiveTarget {
  const t = record(raw)
  const health = text(t.health)
  const lastScrape = text(t.lastScrape)
  return {
    state: {
      scrapePool: text(t.scrapePool),
      scrapeUrl: text(t.scrapeUrl),
      health: health === 'up' || health === 'down' ? health : 'unknown',
      lastError: text(t.lastError),
      lastScrape,
      labels: labelSet(t.labels),
    },
    intervalMs: parseDuration(text(t.scrapeInterval)),
    lastScrapeMs: parseTime(lastScrape),
    durationMs: typeof t.lastScrapeDuration === 'number' ? t.lastScrapeDuration * 1000 : 0,
  }
}

/** A short description of a dropped target: where it was and which port name it had. */
function describeDropped(raw: unknown): string {
  const l = labelSet(record(raw).discoveredLabels)
  const port =
    l.__meta_kubernetes_endpointslice_port_name ??
    l.__meta_kubernetes_endpoint_port_name ??
    l.__meta_kubernetes_pod_container_port_name ??
    l.__meta_kubernetes_service_port_name
  const where = l.__meta_kubernetes_service_name ? `service ${l.__meta_kubernetes_service_name} ` : ''
  return `${where}${l.__address__ ?? '?'}${port === undefined ? '' : ` port "${port}"`}`
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** Whether the pool is loaded: undefined when this Prometheus does not say (see needsScrapePools). */
function poolLoaded(data: Json, ctx: InterpretContext): boolean | undefined {
  const counts = data.droppedTargetCounts
  if (counts !== null && typeof counts === 'object') return Object.hasOwn(counts, ctx.scrapePool)
  if (ctx.scrapePools !== undefined) {
    return list(record(record(ctx.scrapePools).data).scrapePools).includes(ctx.scrapePool)
  }
  return undefined
}

/** An answer that is not `status: success` (a Prometheus error, or a proxy's), as a transient verdict. */
function answerError(body: unknown): TargetVerdict | undefined {
  const b = record(body)
  if (b.status === 'success') return undefined
  const detail = [text(b.errorType), text(b.error)].filter(Boolean).join(': ') || 'not a Prometheus API answer'
  return unreachableVerdict(new Error(detail))
}

/**
 * Reads a `/api/v1/targets?state=any&scrapePool=<pool>` answer (see targetsPath) into a verdict.
 * All of the pool's targets must be up for 'up': in cluster mode each Milvus component is a
 * target of the same pool, and a dashboard with one component missing is not what was asked for.
 */
export function interpretTargets(body: unknown, ctx: InterpretContext): TargetVerdict {
  const failed = answerError(body)
  if (failed) return failed
  const data = record(record(body).data)
  // Older Prometheus ignores the scrapePool parameter: filter here too.
  const inPool = (t: unknown) => record(t).scrapePool === ctx.scrapePool
  const active = list(data.activeTargets).filter(inPool).map(activeTarget)
  const dropped = list(data.droppedTargets).filter(inPool)
  const pool = JSON.stringify(ctx.scrapePool)
  const ns = JSON.stringify(ctx.namespace)

  if (active.length === 0) {
    const counts = record(data.droppedTargetCounts)
    const counted = counts[ctx.scrapePool]
    const droppedCount = typeof counted === 'number' ? counted : dropped.length
    if (droppedCount === 0 && poolLoaded(data, ctx) !== true) {
      return {
        state: 'pool-missing',
        targets: [],
        message:
          `scrape pool ${pool} not loaded yet — Prometheus has no scrape config by that name: the ` +
          `Prometheus Operator has not rendered the ServiceMonitor into the config yet, or the config ` +
          `reloader has not reloaded Prometheus. If this persists, check that the Prometheus resource's ` +
          `serviceMonitorSelector and serviceMonitorNamespaceSelector select the ServiceMonitor, and read ` +
          `the operator's logs.`,
      }
    }
    if (droppedCount > 0) {
      const shown = dropped.slice(0, 3).map(describeDropped)
      const more = droppedCount > shown.length ? `, and ${droppedCount - shown.length} more` : ''
      return {
        state: 'no-targets',
        targets: [],
        message:
          `no targets discovered — Prometheus found ${plural(droppedCount, 'endpoint')} for scrape pool ` +
          `${pool} but its relabelling dropped them all${shown.length ? ` (${shown.join(', ')}${more})` : ''}. ` +
          `Usually the ServiceMonitor's endpoints[].port names no port of the Milvus Service: compare it ` +
          `with the Service's port names (the Milvus chart names its metrics port "metrics").`,
      }
    }
    return {
      state: 'no-targets',
      targets: [],
      message:
        `no targets discovered — scrape pool ${pool} is loaded but Kubernetes service discovery found ` +
        `nothing in namespace ${ns}. Usually RBAC: Prometheus' ServiceAccount (monitoring/prometheus-k8s ` +
        `in kube-prometheus) may not list Services, Endpoints, EndpointSlices and Pods in ${ns}. Fix: set ` +
        `the prometheus-rbac input to true, or create a Role in ${ns} granting get/list/watch on services, ` +
        `endpoints, pods and endpointslices.discovery.k8s.io with a RoleBinding to ServiceAccount ` +
        `monitoring/prometheus-k8s (check: kubectl auth can-i list endpointslices.discovery.k8s.io ` +
        `-n ${ctx.namespace} --as=system:serviceaccount:monitoring:prometheus-k8s). Otherwise the ` +
        `ServiceMonitor's selector matches no Service in ${ns}, or that Service has no endpoints yet.`,
    }
  }

  const targets = active.map((t) => t.state)
  const notUp = active.filter((t) => t.state.health !== 'up')
  const intervals = active.flatMap((t) => (t.intervalMs === undefined ? [] : [t.intervalMs]))
  const due = notUp.flatMap((t) =>
    t.lastScrapeMs === undefined || t.intervalMs === undefined ? [] : [t.lastScrapeMs + t.intervalMs + t.durationMs],
  )
  const timing = {
    ...(due.length ? { nextScrapeAt: Math.min(...due) } : {}),
    ...(intervals.length ? { scrapeIntervalMs: Math.min(...intervals) } : {}),
  }
  const down = targets.filter((t) => t.health === 'down')
  if (down.length > 0) {
    const what = down.map((t) => `${t.scrapeUrl}: ${t.lastError || 'no error given'}`).join('; ')
    const head = targets.length === 1 ? 'target down' : `${down.length} of ${targets.length} targets down`
    return { state: 'down', targets, message: `${head} — ${what}`, ...timing }
  }
  if (notUp.length > 0) {
    return {
      state: 'pending',
      targets,
      message:
        `waiting for the first scrape — ${plural(targets.length, 'target')} discovered, not scraped yet: ` +
        notUp.map((t) => t.state.scrapeUrl).join(', '),
      ...timing,
    }
  }
  return { state: 'up', targets, message: `${plural(targets.length, 'target')} up`, ...timing }
}

/** True when the answer cannot tell a missing pool from an empty one: ask /api/v1/scrape_pools. */
export function needsScrapePools(body: unknown): boolean {
  const data = record(record(body).data)
  return (
    record(body).status === 'success' &&
    !(data.droppedTargetCounts !== null && typeof data.droppedTargetCounts === 'object') &&
    list(data.activeTargets).length === 0 &&
    list(data.droppedTargets).length === 0
  )
}

function promqlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
}

/** The `up{job=...,namespace=...}` selectors covering the targets, one per job and namespace. */
export function upQueries(targets: TargetState[]): string[] {
  const out = new Set<string>()
  for (const t of targets) {
    const matchers = [`job=${promqlString(t.labels.job ?? '')}`]
    if (t.labels.namespace !== undefined) matchers.push(`namespace=${promqlString(t.labels.namespace)}`)
    out.add(`up{${matchers.join(',')}}`)
  }
  return [...out]
}

/**
 * Confirms an 'up' verdict with the answers to upQueries: each target needs a sample, matched by
 * job and instance, reading 1. Otherwise the verdict is 'pending' (the series lags the API).
 */
export function confirmUp(verdict: TargetVerdict, queryBodies: unknown[]): TargetVerdict {
  if (verdict.state !== 'up') return verdict
  for (const body of queryBodies) {
    const failed = answerError(body)
    if (failed) return failed
  }
  const samples = queryBodies.flatMap((b) => list(record(record(b).data).result)).map(record)
  const valueOf = (t: TargetState): string | undefined => {
    const s = samples.find((x) => {
      const m = labelSet(x.metric)
      return m.job === t.labels.job && m.instance === t.labels.instance
    })
    return s === undefined ? undefined : text(list(s.value)[1])
  }
  const unconfirmed = verdict.targets.filter((t) => valueOf(t) !== '1')
  const queries = upQueries(verdict.targets).join(', ')
  if (unconfirmed.length > 0) {
    const what = unconfirmed.map((t) => `${t.labels.instance ?? t.scrapeUrl} (${valueOf(t) ?? 'no sample'})`)
    return {
      ...verdict,
      state: 'pending',
      message: `waiting for ${queries} to read 1 — the targets API reports up, but not yet: ${what.join(', ')}`,
    }
  }
  return { ...verdict, message: `${verdict.message} — ${queries} == 1` }
}

/** An error of the transport as a transient verdict. */
export function unreachableVerdict(err: unknown): TargetVerdict {
  return {
    state: 'unreachable',
    targets: [],
    message: `Prometheus not reachable — ${describeError(err)} (restarting or not ready yet; retrying)`,
  }
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  if (err.name === 'TimeoutError') return 'no answer in time'
  // fetch() hides the socket error in its cause ('connect ECONNREFUSED 127.0.0.1:9090').
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
  return `${err.message}${cause}`
}

// ---------------------------------------------------------------------------------------------
// Pacing.

export interface Pacing {
  /** First backoff step, ms. */
  minMs: number
  /** Backoff cap, ms. */
  maxMs: number
  /** How long after a due scrape to look, so its result is in. */
  marginMs: number
  /**
   * Backoff cap while the first successful scrape can come at any moment (the pool loading, the
   * target being discovered, a target not scraped yet), ms: what bounds the detection lag.
   */
  soonMaxMs: number
}

export const DEFAULT_PACING: Pacing = { minMs: 250, maxMs: 5000, marginMs: 200, soonMaxMs: 1000 }

/**
 * How long to wait before the next poll. While targets wait for a scrape, wake just after the
 * next one is due; capped at one interval so a skewed clock between runner and Prometheus
 * cannot stall the wait. Otherwise back off exponentially, to at most a second while the first
 * scrape may come any moment; `attempt` counts the polls since the verdict last changed.
 */
export function nextPollDelay(verdict: TargetVerdict, attempt: number, now: number, p = DEFAULT_PACING): number {
  const soon = verdict.state === 'pool-missing' || verdict.state === 'no-targets' || verdict.state === 'pending'
  const backoff = Math.min(soon ? p.soonMaxMs : p.maxMs, p.minMs * 2 ** Math.min(attempt, 30))
  const interval = verdict.scrapeIntervalMs
  if (verdict.state !== 'pending' && verdict.state !== 'down') return backoff
  if (verdict.nextScrapeAt !== undefined && interval !== undefined) {
    const untilDue = verdict.nextScrapeAt + p.marginMs - now
    if (untilDue > 0) return Math.ceil(Math.min(untilDue, interval + p.marginMs))
  }
  // Not scraped yet (its first scrape comes within one interval) or overdue: back off, no
  // longer than an interval.
  return interval === undefined ? backoff : Math.min(backoff, interval + p.marginMs)
}

// ---------------------------------------------------------------------------------------------
// The wait.

/** Thrown by waitForTargets when its signal aborts; says where the wait stood. */
export class TargetWaitAborted extends Error {
  readonly lastVerdict: TargetVerdict
  constructor(scrapePool: string, lastVerdict: TargetVerdict, reason?: unknown) {
    super(`stopped waiting for scrape pool ${JSON.stringify(scrapePool)}: ${lastVerdict.message}`, { cause: reason })
    this.name = 'TargetWaitAborted'
    this.lastVerdict = lastVerdict
  }
}

export interface WaitForTargetsOptions {
  /** Prometheus' URL, e.g. 'http://127.0.0.1:9090'; used when `request` is not given. */
  baseUrl?: string
  /** Transport returning parsed JSON (e.g. through the API server's service proxy). */
  request?: PrometheusRequest
  scrapePool: string
  namespace: string
  signal: AbortSignal
  /** Called with the first verdict and whenever the verdict changes. */
  onProgress: (verdict: TargetVerdict) => void
  now?: () => number
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** Bound on one request, so a hung connection counts as unreachable. */
  requestTimeoutMs?: number
  pacing?: Pacing
}

/**
 * Scrape limits, as Prometheus words a target's lastError when one is exceeded, with the fields
 * that set them: a target down for one of these stays down until the configuration changes.
 */
const SCRAPE_LIMITS: Array<{ error: RegExp; limit: string; fields: string }> = [
  {
    error: /sample limit exceeded/i,
    limit: 'sample limit',
    fields: "the ServiceMonitor's spec.sampleLimit or the Prometheus' spec.enforcedSampleLimit",
  },
  {
    error: /label_limit exceeded/i,
    limit: 'label limit',
    fields: 'spec.labelLimit (ServiceMonitor) or spec.enforcedLabelLimit (Prometheus)',
  },
  {
    error: /label_name_length_limit exceeded/i,
    limit: 'label name length limit',
    fields: 'spec.labelNameLengthLimit (ServiceMonitor) or spec.enforcedLabelNameLengthLimit (Prometheus)',
  },
  {
    error: /label_value_length_limit exceeded/i,
    limit: 'label value length limit',
    fields: 'spec.labelValueLengthLimit (ServiceMonitor) or spec.enforcedLabelValueLengthLimit (Prometheus)',
  },
  {
    error: /body size limit exceeded/i,
    limit: 'body size limit',
    fields: 'spec.bodySizeLimit (ServiceMonitor) or spec.enforcedBodySizeLimit (Prometheus)',
  },
  { error: /bucket limit exceeded/i, limit: 'native histogram bucket limit', fields: 'spec.nativeHistogramBucketLimit (ServiceMonitor)' },
]

/** A target down because a limit of the configuration is exceeded: no wait brings it up. */
export class ScrapeLimitError extends Error {
  constructor(scrapeUrl: string, lastError: string, limit: (typeof SCRAPE_LIMITS)[number]) {
    super(
      `Prometheus scrapes ${scrapeUrl} but drops the scrape: its ${limit.limit} is exceeded (${lastError}). Waiting cannot change that: raise or remove ${limit.fields}.`,
    )
    this.name = 'ScrapeLimitError'
  }
}

/** The first down target whose lastError names a scrape limit, as a ScrapeLimitError. */
export function scrapeLimitError(verdict: TargetVerdict): ScrapeLimitError | undefined {
  for (const t of verdict.targets) {
    if (t.health !== 'down') continue
    const limit = SCRAPE_LIMITS.find((l) => l.error.test(t.lastError))
    if (limit) return new ScrapeLimitError(t.scrapeUrl, t.lastError, limit)
  }
  return undefined
}

async function observe(request: PrometheusRequest, opts: WaitForTargetsOptions, signal: AbortSignal) {
  try {
    const body = await request(targetsPath(opts.scrapePool), signal)
    // Prometheus before 2.42 has no scrape_pools endpoint either: then an empty pool reads as missing.
    const scrapePools = needsScrapePools(body) ? await request(SCRAPE_POOLS_PATH, signal).catch(() => undefined) : undefined
    const verdict = interpretTargets(body, { scrapePool: opts.scrapePool, namespace: opts.namespace, scrapePools })
    if (verdict.state !== 'up') return verdict
    const answers = await Promise.all(upQueries(verdict.targets).map((q) => request(queryPath(q), signal)))
    return confirmUp(verdict, answers)
  } catch (err) {
    // Refused by the API server: no amount of waiting changes the kubeconfig's rights.
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      throw new Error(
        `The API server refused to proxy to Prometheus (HTTP ${err.status}): ${err.message}. The kubeconfig's identity needs get on pods/proxy and services/proxy in Prometheus' namespace.`,
        { cause: err },
      )
    }
    return unreachableVerdict(err)
  }
}

/**
 * Polls Prometheus until every target of the scrape pool is up and `up{...}` confirms it.
 * Nothing but the signal ends the wait early: every other state, Prometheus being down
 * included, is one the cluster can still leave. On abort, rejects with TargetWaitAborted.
 */
export async function waitForTargets(opts: WaitForTargetsOptions): Promise<{ targets: TargetState[] }> {
  const { signal } = opts
  if (opts.request === undefined && opts.baseUrl === undefined) {
    throw new Error('waitForTargets needs baseUrl or request')
  }
  const request = opts.request ?? fetchRequest(opts.baseUrl ?? '')
  const now = opts.now ?? Date.now
  const sleep = opts.sleep ?? ((ms: number, s: AbortSignal) => delay(ms, undefined, { signal: s }))
  const timeoutMs = opts.requestTimeoutMs ?? 10_000
  let last: TargetVerdict = { state: 'unreachable', targets: [], message: 'no answer from Prometheus yet' }
  let lastKey: string | undefined
  let attempt = 0
  const aborted = () => new TargetWaitAborted(opts.scrapePool, last, signal.reason)

  for (;;) {
    if (signal.aborted) throw aborted()
    const verdict = await observe(request, opts, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]))
    // A request cut short by the abort says nothing about Prometheus: keep the previous verdict.
    if (signal.aborted) throw aborted()
    last = verdict
    const key = `${verdict.state}\n${verdict.message}`
    if (key !== lastKey) {
      lastKey = key
      attempt = 0
      opts.onProgress(verdict)
    } else {
      attempt++
    }
    if (verdict.state === 'up') return { targets: verdict.targets }
    const limited = verdict.state === 'down' ? scrapeLimitError(verdict) : undefined
    if (limited) throw limited
    try {
      await sleep(nextPollDelay(verdict, attempt, now(), opts.pacing), signal)
    } catch (err) {
      if (signal.aborted) throw aborted()
      throw err
    }
  }
}

/**
 * The names of the Ready pods of Prometheus `namespace/name` (the operator labels them
 * `prometheus: <name>`); [] when there are none or the pods may not be listed.
 */
export async function readyReplicas(
  kube: Pick<Kube, 'get'>,
  namespace: string,
  name: string,
): Promise<Array<{ name: string; shard: string }>> {
  try {
    const pods = await kube.get<{
      items: Array<{
        metadata: { name: string; labels?: Record<string, string> }
        status?: { conditions?: Array<{ type: string; status: string }> }
      }>
    }>(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/name=prometheus,prometheus=${name}`)}`)
    return pods.items
      .filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => ({ name: p.metadata.name, shard: p.metadata.labels?.['operator.prometheus.io/shard'] ?? '0' }))
      .sort((a, b) => a.name.localeCompare(b.name))
  } catch {
    return []
  }
}

/**
 * waitForTargets on every Ready replica of the Prometheus, each through the API server's pod
 * proxy, so a later query through the Service (or a port-forward to it) finds the target up
 * whichever replica answers; progress messages are prefixed with the replica. A sharded
 * Prometheus (spec.shards) scrapes each target on one shard only: the wait ends when every
 * replica of one shard reports it up, and the other shards' waits stop. Without Ready replicas
 * to list (or the right to list pods), one wait through the Service `service`. Resolves with the
 * targets of the first replica of that shard and, when there are several shards, that replica's
 * pod (`shardPod`): what asks about the target later asks it, not a shard the Service picks.
 * A refusal or a scrape limit ends it at once.
 */
export async function waitForTargetsOnReplicas(
  kube: Pick<Kube, 'get' | 'serviceProxyGet'>,
  prometheus: { namespace: string; name: string; port: number; service: ServiceRef; pathPrefix?: string },
  opts: Omit<WaitForTargetsOptions, 'request' | 'baseUrl'>,
): Promise<{ targets: TargetState[]; shardPod?: string }> {
  const replicas = await readyReplicas(kube, prometheus.namespace, prometheus.name)
  const via = { timeoutMs: opts.requestTimeoutMs, pathPrefix: prometheus.pathPrefix ?? '' }
  if (replicas.length === 0) return waitForTargets({ ...opts, request: serviceProxyRequest(kube, prometheus.service, via) })
  const shards = Map.groupBy(replicas, (r) => r.shard)
  const done = new AbortController()
  const signal = AbortSignal.any([opts.signal, done.signal])
  const waitShard = (pods: Array<{ name: string }>) =>
    Promise.all<{ targets: TargetState[] }>(
      pods.map((pod) =>
        waitForTargets({
          ...opts,
          signal,
          request: serviceProxyRequest(
            kube,
            { namespace: prometheus.namespace, name: pod.name, port: prometheus.port, resource: 'pods' },
            via,
          ),
          onProgress: (v) => opts.onProgress({ ...v, message: replicas.length > 1 ? `${pod.name}: ${v.message}` : v.message }),
        }),
      ),
    )
  return new Promise((resolve, reject) => {
    let left = shards.size
    for (const pods of shards.values()) {
      waitShard(pods).then(
        (results) => {
          done.abort()
          resolve(shards.size > 1 ? { ...results[0]!, shardPod: pods[0]!.name } : results[0]!)
        },
        (err: unknown) => {
          // Another shard's wait stopped because this one is done, or the run's own end: not the answer.
          if (done.signal.aborted && !opts.signal.aborted) return
          if (!(err instanceof TargetWaitAborted) || --left === 0) {
            done.abort()
            reject(err)
          }
        },
      )
    }
  })
}

/**
 * The run's wait for its Milvus target: every Ready replica of the run's Prometheus asked through
 * the API server; each verdict is logged once and kept on the run for the failure message.
 */
export function waitForMilvusTarget(
  run: StackRun,
  scrapePool: string,
  signal: AbortSignal,
): Promise<{ targets: TargetState[]; shardPod?: string }> {
  const { stack } = run
  return waitForTargetsOnReplicas(
    run.kube,
    { namespace: stack.namespace, name: stack.name, port: 9090, service: stack.service, pathPrefix: stack.service.pathPrefix },
    {
      scrapePool,
      namespace: run.inputs.namespace,
      signal,
      // Prometheus answers these in milliseconds; a request that hangs (a Prometheus still
      // starting behind the proxy) is retried rather than waited on.
      requestTimeoutMs: 5000,
      onProgress: (v) => {
        run.lastVerdict = v
        core.info(`Milvus target: ${v.message}`)
      },
    },
  )
}
