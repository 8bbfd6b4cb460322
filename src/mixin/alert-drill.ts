// The alert fire drill (input alert-drill): proof that an alert of the release really fires and
// reaches Alertmanager. A silence for the drill's labels first (nobody is paged, even on a
// long-lived cluster), then a PrometheusRule with one always-true alert scoped to the release,
// labelled for the Prometheus' ruleSelector once the Prometheus lists an active Alertmanager;
// then the wait until Prometheus reports it firing and its Alertmanager holds it (active or
// suppressed), both asked through the API server's service proxy. At the end, pass or fail:
// the rule deleted, the drill's alert resolved on every Alertmanager replica (it would
// otherwise stay active there until its endsAt, past the silence) and the silence expired.
// Both are recorded in the run state first, so the post step removes them when the main step
// was killed (src/cleanup.ts).
import * as core from '@actions/core'
import { setTimeout as delay } from 'node:timers/promises'
import { ApiError, serviceProxyPath, type Kube, type KubeObject, type ServiceRef } from '../cluster/kube.ts'
import { FIELD_MANAGER, MANAGED_BY, releaseRuleName } from '../marks.ts'
import { askAgain, type PrometheusRequest } from '../prometheus/api.ts'
import { alertmanagerEndpoint } from '../prometheus/existing.ts'
import { refOf } from '../prometheus/stack.ts'
import type { AlertDrillResult, DrillTarget, PrometheusStack } from '../types.ts'

export const DRILL_ALERT = 'MilvusMonitoringActionDrill'
/** The drill rule's group interval, ms: how often Prometheus evaluates it, and the pace of the waits. */
export const DRILL_INTERVAL_MS = 1000
/** How many times, a drill interval apart, the drill's end looks for its alert on the replicas. */
const RESOLVE_PASSES = 4

/** The drill's PrometheusRule's name for a release (see releaseRuleName). */
export function drillRuleName(release: string, namespace: string, ruleNamespace: string = namespace): string {
  return releaseRuleName('alert-drill', release, namespace, ruleNamespace)
}

/** The labels the drill's alert carries (beside alertname), naming the release and marking it a drill. */
export function drillLabels(namespace: string, release: string): Record<string, string> {
  return { drill: 'true', milvus_namespace: namespace, milvus_release: release, severity: 'none' }
}

/** Alertmanager matchers for exactly the drill's alert of this release. */
export function drillMatchers(namespace: string, release: string): Array<{ name: string; value: string; isRegex: false; isEqual: true }> {
  const scoping = Object.entries(drillLabels(namespace, release)).filter(([name]) => name !== 'severity')
  return [['alertname', DRILL_ALERT] as const, ...scoping].map(([name, value]) => ({
    name,
    value,
    isRegex: false as const,
    isEqual: true as const,
  }))
}

/** The drill's PrometheusRule: one group evaluated every second, one alert `vector(1)` with `for: 0s`. */
export function drillPrometheusRule(
  namespace: string,
  milvusNamespace: string,
  release: string,
  ruleLabels: Record<string, string>,
): KubeObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: drillRuleName(release, milvusNamespace, namespace),
      namespace,
      labels: { ...MANAGED_BY, 'app.kubernetes.io/part-of': 'milvus', ...ruleLabels },
    },
    spec: {
      groups: [
        {
          name: `milvus-alert-drill-${milvusNamespace}-${release}`,
          interval: `${DRILL_INTERVAL_MS / 1000}s`,
          rules: [
            {
              alert: DRILL_ALERT,
              expr: 'vector(1)',
              for: '0s',
              labels: drillLabels(milvusNamespace, release),
              annotations: {
                summary: `Alert fire drill of milvus-monitoring-action for release ${release} in namespace ${milvusNamespace}: not a problem`,
                description: 'Applied by the action to prove that alerts reach Alertmanager; silenced, and removed when the drill ends.',
              },
            },
          ],
        },
      ],
    },
  }
}

/** The silence Alertmanager's POST /api/v2/silences takes for the drill, ending `hours` after `now`. */
export function drillSilence(namespace: string, release: string, now: Date, hours = 1): Record<string, unknown> {
  return {
    matchers: drillMatchers(namespace, release),
    startsAt: now.toISOString(),
    endsAt: new Date(now.getTime() + hours * 3_600_000).toISOString(),
    createdBy: FIELD_MANAGER,
    comment: `Alert fire drill for Milvus release ${namespace}/${release}: expired when the drill ends`,
  }
}

interface PromAlert {
  labels?: Record<string, string>
  state?: string
}

/** True when a Prometheus /api/v1/alerts answer lists the drill's alert of this release firing. */
export function firingInPrometheus(body: unknown, namespace: string, release: string): boolean {
  const alerts = (body as { data?: { alerts?: PromAlert[] } } | undefined)?.data?.alerts ?? []
  return alerts.some((a) => matchesDrill(a.labels, namespace, release) && a.state === 'firing')
}

/** How many Alertmanagers a Prometheus /api/v1/alertmanagers answer lists as active (its notifier sends to them). */
export function activeAlertmanagers(body: unknown): number {
  return (body as { data?: { activeAlertmanagers?: unknown[] } } | undefined)?.data?.activeAlertmanagers?.length ?? 0
}

export interface AmAlert {
  labels?: Record<string, string>
  startsAt?: string
  status?: { state?: string; silencedBy?: string[]; inhibitedBy?: string[] }
}

/** The drill's alerts of this release in an Alertmanager /api/v2/alerts answer. */
export function heldInAlertmanager(body: unknown, namespace: string, release: string): AmAlert[] {
  return (Array.isArray(body) ? (body as AmAlert[]) : []).filter((a) => matchesDrill(a.labels, namespace, release))
}

function matchesDrill(labels: Record<string, string> | undefined, namespace: string, release: string): boolean {
  return drillMatchers(namespace, release).every((m) => labels?.[m.name] === m.value)
}

/** The Alertmanager query for the drill's alerts, silenced and inhibited ones included. */
export function alertsPath(namespace: string, release: string): string {
  const filters = drillMatchers(namespace, release).map((m) => `filter=${encodeURIComponent(`${m.name}="${m.value}"`)}`)
  return `/api/v2/alerts?${filters.join('&')}&active=true&silenced=true&inhibited=true&unprocessed=true`
}

/**
 * The Alertmanager of a Prometheus: the first entry of its spec.alerting.alertmanagers, whose
 * Service must exist and have the named port. Throws naming what is missing.
 */
export async function drillAlertmanager(kube: Kube, stack: PrometheusStack): Promise<DrillTarget['alertmanager']> {
  const p = await kube.get(`/apis/monitoring.coreos.com/v1/namespaces/${stack.namespace}/prometheuses/${stack.name}`)
  const am = alertmanagerEndpoint(stack.namespace, p.spec)
  const why = `alert-drill needs an Alertmanager the Prometheus sends its alerts to`
  if (!am)
    throw new Error(
      `Prometheus ${refOf(stack)} has no Alertmanager (spec.alerting.alertmanagers is empty): ${why}, or set alert-drill: false`,
    )
  const svc = await kube.find(`/api/v1/namespaces/${am.namespace}/services/${am.name}`)
  if (!svc)
    throw new Error(
      `Prometheus ${refOf(stack)} sends its alerts to Service ${am.namespace}/${am.name} (spec.alerting.alertmanagers), which does not exist: ${why}`,
    )
  const ports = ((svc.spec as { ports?: Array<{ name?: string; port: number }> } | undefined)?.ports ?? []).filter(
    (x) => x.name === am.port || x.port === am.port,
  )
  if (!ports[0])
    throw new Error(`Service ${am.namespace}/${am.name} has no port ${am.port}, where Prometheus ${refOf(stack)} sends its alerts: ${why}`)
  return { namespace: am.namespace, name: am.name, port: ports[0].name ?? ports[0].port, pathPrefix: am.pathPrefix }
}

export interface DrillContext {
  kube: Kube
  stack: PrometheusStack
  /** Where the rule goes: a namespace the Prometheus' ruleNamespaceSelector selects (see ruleNamespace). */
  ruleNamespace: string
  milvusNamespace: string
  release: string
  /** Asks the run's Prometheus (through the API server). */
  prometheus: PrometheusRequest
  /** Records what the post step removes when the main step ends before the drill does; undefined clears it. */
  record: (target: DrillTarget | undefined) => void
  signal: AbortSignal
}

const amRef = (am: DrillTarget['alertmanager']): ServiceRef => ({ namespace: am.namespace, name: am.name, port: am.port })

/** An Alertmanager API request through the service proxy; `body` makes it a POST. */
function amRequest<T>(kube: Kube, ref: ServiceRef, prefix: string, path: string, signal: AbortSignal, method = 'GET', body?: unknown) {
  return kube.request<T>(method, serviceProxyPath(ref, prefix + path), body, { signal, timeoutMs: 10_000 })
}

/** Retries `fn` on answers that say "not yet" (503: no ready endpoint; a socket error) until `signal` aborts. */
async function retried<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      if (signal.aborted || (e instanceof ApiError && e.status !== 503 && e.status !== 502)) throw e
    }
    await delay(DRILL_INTERVAL_MS, undefined, { signal })
  }
}

/** Runs the drill (see the header); resolves with its result, rejects naming the step that failed. */
export async function runAlertDrill(c: DrillContext): Promise<AlertDrillResult> {
  const { kube, signal, milvusNamespace: ns, release } = c
  const am = await drillAlertmanager(kube, c.stack)
  const ref = amRef(am)
  const where = `Alertmanager ${am.namespace}/${am.name}`
  const rule = drillPrometheusRule(c.ruleNamespace, ns, release, c.stack.ruleLabels)
  const target: DrillTarget = { alertmanager: am, rule: { namespace: c.ruleNamespace, name: rule.metadata.name } }
  try {
    const silence = await retried(
      () =>
        amRequest<{ silenceID?: string }>(
          kube,
          ref,
          am.pathPrefix,
          '/api/v2/silences',
          signal,
          'POST',
          drillSilence(ns, release, new Date()),
        ),
      signal,
    ).catch((e: unknown) => {
      throw new Error(`alert-drill: could not create the drill's silence in ${where}: ${(e as Error).message}`)
    })
    if (!silence.silenceID) throw new Error(`alert-drill: ${where} answered the silence without an ID: ${JSON.stringify(silence)}`)
    target.silenceId = silence.silenceID
    c.record(target)
    core.info(`Alert drill: silence ${silence.silenceID} in ${where} for ${DRILL_ALERT}{milvus_release="${release}"}`)
    // An alert that fires before Prometheus' notifier has discovered an Alertmanager is dropped and
    // sent again only after the resend delay (1 m): a Prometheus that has just started waits here.
    while (activeAlertmanagers(await c.prometheus('/api/v1/alertmanagers', signal).catch(askAgain)) === 0) {
      await delay(DRILL_INTERVAL_MS / 2, undefined, { signal }).catch((e: unknown) => {
        throw new Error(
          `alert-drill: Prometheus ${refOf(c.stack)} lists no active Alertmanager (/api/v1/alertmanagers), so no alert of it reaches ${where}: check that the Alertmanager pods are Ready and that spec.alerting.alertmanagers names their Service and port`,
          { cause: e },
        )
      })
    }
    const applied = Date.now()
    await kube.apply(`/apis/monitoring.coreos.com/v1/namespaces/${c.ruleNamespace}/prometheusrules`, rule, FIELD_MANAGER)
    core.info(`Alert drill: applied PrometheusRule ${c.ruleNamespace}/${rule.metadata.name}; waiting for ${DRILL_ALERT} to fire`)
    while (!firingInPrometheus(await c.prometheus('/api/v1/alerts', signal).catch(askAgain), ns, release)) {
      await delay(DRILL_INTERVAL_MS / 2, undefined, { signal })
    }
    const firingMs = Date.now() - applied
    core.info(
      `Alert drill: ${DRILL_ALERT} firing in Prometheus ${refOf(c.stack)} ${(firingMs / 1000).toFixed(1)} s after the rule was applied`,
    )
    let held: AmAlert[] = []
    while (held.length === 0) {
      // Not yet there is asked again; a refusal (403) is no wait to run out.
      held = heldInAlertmanager(await amRequest(kube, ref, am.pathPrefix, alertsPath(ns, release), signal).catch(askAgain), ns, release)
      if (held.length === 0) await delay(DRILL_INTERVAL_MS / 2, undefined, { signal })
    }
    const alertmanagerMs = Date.now() - applied
    const status = held[0]!.status ?? {}
    const state = status.state === 'suppressed' ? 'suppressed' : 'active'
    core.info(
      `Alert drill: ${where} holds ${DRILL_ALERT} (${state}${status.silencedBy?.length ? `, silenced by ${status.silencedBy.join(', ')}` : ''}) ${(alertmanagerMs / 1000).toFixed(1)} s after the rule was applied`,
    )
    return {
      alert: DRILL_ALERT,
      prometheusRule: `${c.ruleNamespace}/${rule.metadata.name}`,
      alertmanager: `${am.namespace}/${am.name}:${am.port}`,
      silenceId: silence.silenceID,
      firingMs,
      alertmanagerMs,
      state,
      silencedBy: status.silencedBy ?? [],
    }
  } finally {
    // Also after a failure or an abort: a drill left behind would keep firing.
    const left = await endDrill(kube, target, ns, release)
    if (left.length) core.warning(`Alert drill: could not remove ${left.join('; ')}; the post step tries again`)
    else c.record(undefined)
  }
}

/**
 * Removes what a drill made: deletes its rule, resolves its alert on every replica of the
 * Alertmanager Service (from the pods' own /api/v2/alerts, looked at again until none holds
 * it), then expires its silence. Each step runs whatever the others did: the steps that failed,
 * as messages ([] when all ended).
 */
export async function endDrill(kube: Kube, t: DrillTarget, namespace: string, release: string): Promise<string[]> {
  const failures: string[] = []
  const signal = AbortSignal.timeout(60_000)
  try {
    await kube.request(
      'DELETE',
      `/apis/monitoring.coreos.com/v1/namespaces/${t.rule.namespace}/prometheusrules/${t.rule.name}`,
      undefined,
      { signal },
    )
    core.info(`Alert drill: deleted PrometheusRule ${t.rule.namespace}/${t.rule.name}`)
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404))
      failures.push(`PrometheusRule ${t.rule.namespace}/${t.rule.name}: ${(e as Error).message}`)
  }
  if (!t.silenceId) return failures
  const am = t.alertmanager
  // Each replica on its own: one that does not answer leaves the others to resolve. Not fatal:
  // the silence still covers the alert until it would end by itself.
  // A replica can take the alert after the first look (Prometheus sends to each on its own):
  // look again a second later, until a look finds it on none (at most RESOLVE_PASSES looks).
  let unresolved: string[] = []
  for (let pass = 0; pass < RESOLVE_PASSES; pass++) {
    if (pass > 0) await delay(DRILL_INTERVAL_MS, undefined, { signal }).catch(() => undefined)
    unresolved = []
    let found = 0
    const pods = await servicePods(kube, am, signal).catch((e: unknown) => {
      unresolved.push(`the pods of Service ${am.namespace}/${am.name}: ${(e as Error).message}`)
      return []
    })
    await Promise.all(
      pods.map(async (pod) => {
        const podRef: ServiceRef = { namespace: am.namespace, name: pod.name, port: pod.port, resource: 'pods' }
        try {
          const held = heldInAlertmanager(
            await amRequest(kube, podRef, am.pathPrefix, alertsPath(namespace, release), signal),
            namespace,
            release,
          )
          const now = new Date().toISOString()
          const resolved = held.map((a) => ({ labels: a.labels, startsAt: a.startsAt ?? now, endsAt: now }))
          found += resolved.length
          if (resolved.length) await amRequest(kube, podRef, am.pathPrefix, '/api/v2/alerts', signal, 'POST', resolved)
        } catch (e) {
          unresolved.push(`pod ${pod.name}: ${(e as Error).message}`)
        }
      }),
    )
    if (found === 0 || signal.aborted) break
  }
  if (unresolved.length)
    core.warning(
      `Alert drill: could not resolve the drill's alert on every replica of Alertmanager ${am.namespace}/${am.name} (it stays silenced until it ends by itself): ${unresolved.join('; ')}`,
    )
  try {
    await amRequest(kube, amRef(am), am.pathPrefix, `/api/v2/silence/${encodeURIComponent(t.silenceId)}`, signal, 'DELETE')
    core.info(`Alert drill: expired silence ${t.silenceId} in Alertmanager ${am.namespace}/${am.name}`)
  } catch (e) {
    // Expiring an expired silence answers 500 "silence ... already expired".
    if (!(e instanceof ApiError && /already expired|not found/i.test(e.message)))
      failures.push(`silence ${t.silenceId} in Alertmanager ${am.namespace}/${am.name}: ${(e as Error).message}`)
  }
  return failures
}

/**
 * The pods behind an Alertmanager Service, with the target port of its drill port: not-ready ones
 * too, since Prometheus' Alertmanager discovery sends to every address of the Service, ready or not.
 */
async function servicePods(
  kube: Kube,
  am: DrillTarget['alertmanager'],
  signal: AbortSignal,
): Promise<Array<{ name: string; port: number }>> {
  const slices = await kube.get<{
    items: Array<{
      endpoints?: Array<{ targetRef?: { kind?: string; name?: string }; conditions?: { ready?: boolean } }>
      ports?: Array<{ name?: string; port?: number }>
    }>
  }>(
    `/apis/discovery.k8s.io/v1/namespaces/${am.namespace}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${am.name}`)}`,
    { signal },
  )
  return slices.items.flatMap((s) => {
    const port = (s.ports ?? []).find((p) => p.name === am.port || p.port === am.port)?.port
    if (!port) return []
    return (s.endpoints ?? [])
      .filter((e) => e.targetRef?.kind === 'Pod' && e.targetRef.name)
      .map((e) => ({ name: e.targetRef!.name!, port }))
  })
}
