// Has prometheus-operator taken the ServiceMonitor? The operator writes Prometheus' whole
// configuration into the Secret `prometheus-<name>` (key `prometheus.yaml.gz`), one scrape job
// per ServiceMonitor endpoint named after its scrape pool. Reading it tells a dropped or
// rejected ServiceMonitor (no job: waiting on Prometheus can never succeed) from a Prometheus
// that has not reloaded yet (job present). prometheus-operator v0.92 drops a ServiceMonitor's
// event when its namespace is not yet in the operator's cache (upstream PR #8313); touching the
// ServiceMonitor once makes the operator see it again. The touch is a label: the operator acts
// on a ServiceMonitor update only when its generation or its labels change, so an annotation
// would go unseen.
import { gunzipSync } from 'node:zlib'
import * as core from '@actions/core'
import { ApiError, type Kube, type KubeObject } from '../cluster/kube.ts'
import type { KubeEvent } from '../milvus/release-watch.ts'
import { TOUCH_LABEL } from '../marks.ts'
import type { MonitorKind, MonitorRef } from '../types.ts'

/** How long the operator gets to write a new ServiceMonitor's job before the action touches it, and again after, in ms. */
export const OPERATOR_GRACE_MS = 15_000

/** Whether a generated Prometheus configuration (YAML text) has a scrape job named `scrapePool`. */
export function hasScrapeJob(config: string, scrapePool: string): boolean {
  const escaped = scrapePool.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`^\\s*-?\\s*job_name:\\s*["']?${escaped}["']?\\s*$`, 'm').test(config)
}

/** The configuration the operator generated for a Prometheus, from its Secret; undefined when absent or unreadable. */
export function generatedConfig(secret: KubeObject | undefined): string | undefined {
  const data = (secret?.data ?? {}) as Record<string, string>
  const gz = data['prometheus.yaml.gz']
  if (!gz) return undefined
  try {
    return gunzipSync(Buffer.from(gz, 'base64')).toString('utf8')
  } catch {
    return undefined
  }
}

/** Warning Events about the ServiceMonitor (or PodMonitor: `kind`) (the operator's rejections among them), newest last, as 'Reason: message' lines. */
export function serviceMonitorWarnings(events: KubeEvent[], serviceMonitor: string, kind: MonitorKind = 'ServiceMonitor'): string[] {
  return events
    .filter((e) => e.type === 'Warning' && e.involvedObject?.kind === kind && e.involvedObject.name === serviceMonitor)
    .map((e) => `${e.reason ?? 'Warning'}: ${(e.message ?? '').trim()}`)
}

export interface ScrapeConfigOptions {
  kube: Kube
  prometheus: { namespace: string; name: string }
  /** The ServiceMonitor (or PodMonitor) the scrape pool comes from. */
  monitor: MonitorRef
  scrapePool: string
  signal: AbortSignal
  graceMs?: number
  /** Whether the monitor is the action's to touch (a release it installs); false: never changed, the second wait is skipped. */
  touch?: boolean
}

/**
 * Resolves once the operator's configuration holds the scrape pool's job. When it does not
 * within the grace, touches the ServiceMonitor once (logging so) and waits as long again; then
 * throws an error that says which reason holds: a rejection (the operator's Warning Events or
 * the ServiceMonitor's status), or the operator not taking it (its log names why). Watches the
 * one Secret by name, so the cost does not grow with the cluster.
 */
export async function ensureScrapeJob(o: ScrapeConfigOptions): Promise<'present' | 'recovered'> {
  const grace = o.graceMs ?? OPERATOR_GRACE_MS
  const secret = `prometheus-${o.prometheus.name}`
  const secretsPath = `/api/v1/namespaces/${o.prometheus.namespace}/secrets`
  const m = o.monitor
  const subject = `${m.kind} ${m.namespace}/${m.name}`
  const smPath = `/apis/monitoring.coreos.com/v1/namespaces/${m.namespace}/${m.kind === 'PodMonitor' ? 'podmonitors' : 'servicemonitors'}/${m.name}`
  const waitForJob = async (ms: number) => {
    const window = AbortSignal.any([o.signal, AbortSignal.timeout(ms)])
    try {
      await o.kube.waitFor(
        secretsPath,
        { fieldSelector: `metadata.name=${secret}` },
        (items) => {
          const config = generatedConfig(items.get(`${o.prometheus.namespace}/${secret}`))
          return config !== undefined && hasScrapeJob(config, o.scrapePool)
        },
        window,
      )
      return true
    } catch (e) {
      if (o.signal.aborted) throw e
      if (e instanceof ApiError && e.status === 403) {
        core.info(`Cannot read Secret ${o.prometheus.namespace}/${secret} (forbidden): skipping the operator configuration check`)
        return true
      }
      return false
    }
  }

  if (await waitForJob(grace)) return 'present'
  const touch = o.touch ?? true
  if (touch) {
    core.info(
      `prometheus-operator has not put ${subject} into Prometheus' configuration after ${grace / 1000} s ` +
        `(it drops a ServiceMonitor created right after its namespace: upstream prometheus-operator PR #8313). Touching the ${m.kind} once (label ${TOUCH_LABEL}) so the operator takes it again.`,
    )
    await o.kube.request(
      'PATCH',
      smPath,
      { metadata: { labels: { [TOUCH_LABEL]: String(Date.now()) } } },
      { contentType: 'application/merge-patch+json' },
    )
    if (await waitForJob(grace)) {
      core.info(`prometheus-operator took ${subject} after the touch`)
      return 'recovered'
    }
  }

  const [events, sm] = await Promise.all([
    o.kube
      .get<{ items: KubeEvent[] }>(
        `/api/v1/namespaces/${m.namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${m.name}`)}`,
      )
      .then((l) => l.items)
      .catch(() => [] as KubeEvent[]),
    o.kube.find(smPath).catch(() => undefined),
  ])
  const why = [...serviceMonitorWarnings(events, m.name, m.kind), ...statusProblems(sm)]
  if (why.length) {
    const fix =
      touch && m.kind === 'ServiceMonitor'
        ? 'Fix the ServiceMonitor values (metrics.serviceMonitor.*) it names.'
        : `Fix the ${m.kind} where it names.`
    throw new Error(
      `prometheus-operator rejected ${subject}, so Prometheus will never scrape Milvus:\n${why.map((w) => `  - ${w}`).join('\n')}\n${fix}`,
    )
  }
  throw new Error(
    `prometheus-operator has not put ${subject} into the configuration of Prometheus ${o.prometheus.namespace}/${o.prometheus.name} (Secret ${secret} has no job ${o.scrapePool}), ` +
      `${touch ? 'even after the action touched it' : `after ${grace / 1000} s (the action does not change a ${m.kind} it did not create)`}. The operator's log (in the diagnostics below) says why: a selector or namespace it does not watch, or an error of its own.`,
  )
}

/** Conditions of the ServiceMonitor's `status.bindings` (written by operators with the status subresource) that are not True. */
function statusProblems(sm: KubeObject | undefined): string[] {
  const bindings =
    (
      (sm?.status ?? {}) as {
        bindings?: Array<{ name?: string; conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> }>
      }
    ).bindings ?? []
  return bindings.flatMap((b) =>
    (b.conditions ?? [])
      .filter((c) => c.status !== 'True')
      .map(
        (c) => `${b.name ?? 'Prometheus'}: ${c.type} ${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`,
      ),
  )
}
