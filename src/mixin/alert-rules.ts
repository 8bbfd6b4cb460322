// Alert rules for Milvus: a PrometheusRule of the action's own (and the user's PrometheusRule
// files), applied server-side, then verified where it matters: Prometheus reports every group
// loaded with every rule `health: ok`. prometheus-operator validates each PrometheusRule and
// leaves a rejected one out of Prometheus' rule files, saying so only in a Warning Event on the
// object ("PrometheusRule X was rejected due to invalid configuration: invalid rule") and in its
// log; the wait watches those Events and, on one, names the rules Prometheus cannot parse.
import * as core from '@actions/core'
import { readFileSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { parseAllDocuments } from 'yaml'
import type { Kube, KubeObject } from '../cluster/kube.ts'
import type { Inputs, PrometheusStack } from '../types.ts'
import type { KubeEvent } from '../milvus/release-watch.ts'
import { describeSelector, matchesSelector } from '../milvus/wiring.ts'
import { askAgain, type PrometheusRequest } from '../prometheus/api.ts'
import { errorAnswer, requestRetried } from './assertions.ts'
import { FIELD_MANAGER, MANAGED_BY, milvusRuleName } from '../marks.ts'
import type { LoadedGroup } from '../types.ts'
export type { LoadedGroup }

export interface RuleSpec {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
export interface RuleGroup {
  name: string
  /** How often Prometheus evaluates the group; its global evaluation_interval when unset. */
  interval?: string
  rules: RuleSpec[]
}

/**
 * The action's group's evaluation interval: the release's default scrape interval (CI_TIMING in
 * src/milvus/helm-release.ts), so the rules see each new sample. Prometheus evaluates a group it
 * loads first at the next slot of its interval (a per-group offset in [0, interval)), so under
 * kube-prometheus' 30 s evaluation_interval the first evaluation, which the run waits for, could
 * come up to 30 s after Prometheus starts; with 10 s it comes before Milvus is up.
 */
export const RULE_INTERVAL = '10s'

/** `for` as Prometheus writes durations: '0s', '90s', '1500ms'. */
export function promDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/**
 * The failed requests of milvus_proxy_req_count in each of Milvus' label schemes: up to v2.6.18
 * `status="fail"`; v2.6.19 and v2.6.20 split it in place into `fail_input` and `fail_system` (and
 * a `cancel` value); the releases after them (milvus-io/milvus #51493) are back to `fail` with the
 * split in a `cause` label (`user`, `system`, `cancel`). Requests the client cancelled are left
 * out wherever Milvus tells them apart (`status="cancel"`, `cause="cancel"`); `cause!="cancel"`
 * also matches series without a cause label.
 */
export const FAILED_REQUESTS = 'status=~"fail|fail_input|fail_system", cause!="cancel"'

/**
 * The action's Milvus alert group for one release: every expression scoped to the release's
 * series by the labels its ServiceMonitor's targetLabels put on them (`namespace`,
 * `app_kubernetes_io_instance`). `forOverride` replaces every rule's `for` (e.g. '0s' in tests).
 * Metric names and labels are those of Milvus' own exposition (milvus_num_node{role_name},
 * milvus_proxy_req_count{status, cause}) and Go's process collector.
 */
export function milvusRuleGroups(namespace: string, release: string, forOverride?: string): RuleGroup[] {
  const sel = `namespace="${namespace}", app_kubernetes_io_instance="${release}"`
  const by = 'namespace, app_kubernetes_io_instance'
  const rule = (r: RuleSpec): RuleSpec => ({ ...r, for: forOverride ?? r.for, labels: { severity: 'warning', ...r.labels } })
  const runbook = (what: string) => `${what} (release ${release} in namespace ${namespace})`
  return [
    {
      name: `milvus-${namespace}-${release}`,
      interval: RULE_INTERVAL,
      rules: [
        rule({
          alert: 'MilvusTargetDown',
          expr: `up{${sel}} == 0`,
          for: '1m',
          labels: { severity: 'critical' },
          annotations: {
            summary: runbook('Prometheus cannot scrape a Milvus metrics endpoint'),
            description:
              'The scrape of {{ $labels.instance }} (pod {{ $labels.pod }}) has failed for 1m: Milvus is down, restarting or not answering on its metrics port.',
          },
        }),
        rule({
          alert: 'MilvusComponentMissing',
          expr: `count by (${by}, role_name) (max_over_time(milvus_num_node{${sel}}[1h])) unless count by (${by}, role_name) (milvus_num_node{${sel}})`,
          for: '5m',
          annotations: {
            summary: runbook('A Milvus component reported in the last hour no longer reports'),
            description: 'No Milvus process reports role {{ $labels.role_name }} in milvus_num_node any more.',
          },
        }),
        rule({
          alert: 'MilvusMemoryNearLimit',
          expr:
            `max by (${by}, pod) (process_resident_memory_bytes{${sel}}) / on (namespace, pod) group_left () ` +
            `max by (namespace, pod) (kube_pod_container_resource_limits{namespace="${namespace}", resource="memory"}) > 0.9`,
          for: '5m',
          annotations: {
            summary: runbook('A Milvus process uses over 90 % of its memory limit'),
            description: 'Pod {{ $labels.pod }} uses {{ $value | humanizePercentage }} of its memory limit; the kernel kills it at 100 %.',
          },
        }),
        rule({
          alert: 'MilvusMemoryHigh',
          expr: `max by (${by}, pod) (process_resident_memory_bytes{${sel}}) > 12 * 1024 * 1024 * 1024`,
          for: '5m',
          annotations: {
            summary: runbook('A Milvus process uses more than 12 GiB of memory'),
            description: "Pod {{ $labels.pod }} has {{ $value | humanize1024 }}B resident: close to a 16 GiB runner's memory.",
          },
        }),
        rule({
          alert: 'MilvusRestarting',
          expr: `changes(process_start_time_seconds{${sel}}[30m]) >= 2`,
          for: '0s',
          annotations: {
            summary: runbook('A Milvus process restarted repeatedly'),
            description: '{{ $labels.pod }} started {{ $value }} times in the last 30 minutes.',
          },
        }),
        rule({
          alert: 'MilvusRequestFailures',
          expr:
            `sum by (${by}, function_name) (rate(milvus_proxy_req_count{${sel}, ${FAILED_REQUESTS}}[5m])) / ` +
            `sum by (${by}, function_name) (rate(milvus_proxy_req_count{${sel}, status="total"}[5m])) > 0.05`,
          for: '5m',
          annotations: {
            summary: runbook('More than 5 % of Milvus requests fail'),
            description: '{{ $value | humanizePercentage }} of {{ $labels.function_name }} requests failed over the last 5 minutes.',
          },
        }),
      ],
    },
  ]
}

/**
 * Where the rules go so the Prometheus reads them: the Milvus namespace when its
 * ruleNamespaceSelector selects it (`{}` selects every namespace), else the Prometheus' own
 * namespace when the selector is unset (the operator then reads that one only). Throws, naming
 * the selector and the label to add, when neither is selected.
 */
export function ruleNamespace(
  stack: PrometheusStack,
  milvusNamespace: string,
  namespaceLabels: Record<string, string> | undefined,
): string {
  const selector = stack.ruleNamespaceSelector
  if (selector === null) return stack.namespace
  if (matchesSelector(selector, { 'kubernetes.io/metadata.name': milvusNamespace, ...namespaceLabels })) return milvusNamespace
  throw new Error(
    `Prometheus ${stack.namespace}/${stack.name} reads PrometheusRules only in namespaces labelled ${describeSelector(selector)}, and namespace ${milvusNamespace} is not: ` +
      `label it (kubectl label namespace ${milvusNamespace} ...), or set alert-rules: false`,
  )
}

/** The labels the action's own PrometheusRules carry (its rules and the drill's). */
export function actionRuleLabels(stack: PrometheusStack): Record<string, string> {
  return { ...MANAGED_BY, 'app.kubernetes.io/part-of': 'milvus', ...stack.ruleLabels }
}

/**
 * Why the Prometheus would load none of the action's PrometheusRules, or undefined: an unset
 * ruleSelector selects none (prometheus-operator's rule), and one that labels cannot meet (a
 * NotIn or DoesNotExist the labels it asks for contradict) selects none of them either.
 */
export function ruleSelectorProblem(stack: PrometheusStack): string | undefined {
  const ref = `Prometheus ${stack.namespace}/${stack.name}`
  const fix = 'set its spec.ruleSelector (for example {} or matchLabels), or set alert-rules: false and alert-drill: false'
  if (stack.ruleSelector === null)
    return `${ref} has no spec.ruleSelector, so prometheus-operator gives it no PrometheusRule and no alert rule would ever load: ${fix}`
  if (!matchesSelector(stack.ruleSelector, actionRuleLabels(stack)))
    return `${ref} selects PrometheusRules labelled ${describeSelector(stack.ruleSelector)}, which the action's labels cannot meet: ${fix}`
  return undefined
}

/**
 * The action's PrometheusRule object for the release `release` in `milvusNamespace`, put in
 * `namespace` (where the Prometheus reads rules, which may be its own) and labelled for its
 * ruleSelector (`ruleLabels`). Its expressions select the release's namespace, wherever the rule is.
 */
export function milvusPrometheusRule(
  namespace: string,
  milvusNamespace: string,
  release: string,
  ruleLabels: Record<string, string>,
  forOverride?: string,
): KubeObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: milvusRuleName(release, milvusNamespace, namespace),
      namespace,
      labels: { ...MANAGED_BY, 'app.kubernetes.io/part-of': 'milvus', ...ruleLabels },
    },
    spec: { groups: milvusRuleGroups(milvusNamespace, release, forOverride) },
  }
}

/**
 * Reads the user's PrometheusRule files (YAML, several documents each allowed); objects without
 * a namespace get `namespace`. Throws naming the file for a parse error or a document that is
 * not a monitoring.coreos.com PrometheusRule with a name.
 */
export function readRuleFiles(paths: string[], namespace: string): KubeObject[] {
  const out: KubeObject[] = []
  for (const path of paths) {
    const docs = parseAllDocuments(readFileSync(path, 'utf8'))
    for (const [i, doc] of docs.entries()) {
      if (doc.errors[0]) throw new Error(`alert-rules: ${path} does not parse: ${doc.errors[0].message.split('\n')[0]}`)
      const obj = doc.toJS() as KubeObject | null
      if (obj === null) continue
      if (obj.kind !== 'PrometheusRule' || !String(obj.apiVersion ?? '').startsWith('monitoring.coreos.com/') || !obj.metadata?.name) {
        throw new Error(
          `alert-rules: document ${i + 1} of ${path} is not a PrometheusRule (apiVersion monitoring.coreos.com/v1, kind PrometheusRule, metadata.name)`,
        )
      }
      out.push({ ...obj, metadata: { ...obj.metadata, namespace: obj.metadata.namespace ?? namespace } })
    }
  }
  return out
}

// --- verifying --------------------------------------------------------------------------

interface PromRule {
  name?: string
  health?: string
  lastError?: string
}
interface PromGroup {
  name?: string
  file?: string
  rules?: PromRule[]
}

/** The groups of a /api/v1/rules answer; [] for anything else. */
export function rulesGroups(body: unknown): PromGroup[] {
  const b = body as { status?: string; data?: { groups?: PromGroup[] } } | undefined
  return b?.status === 'success' && Array.isArray(b.data?.groups) ? b.data.groups : []
}

/**
 * How far Prometheus is with one PrometheusRule's groups: 'missing' (not loaded yet), 'pending'
 * (loaded, some rule not evaluated yet), 'error' (a rule's evaluation failed: `detail` names
 * it), 'ok'. The operator writes a PrometheusRule to the file `<namespace>-<name>-<uid>.yaml`.
 */
export function groupsState(groups: PromGroup[], obj: KubeObject): { state: 'missing' | 'pending' | 'error' | 'ok'; detail: string } {
  const file = `${obj.metadata.namespace}-${obj.metadata.name}-`
  const wanted = ((obj.spec as { groups?: RuleGroup[] } | undefined)?.groups ?? []).map((g) => g.name)
  const mine = groups.filter((g) => (g.file ?? '').split('/').at(-1)?.startsWith(file))
  const missing = wanted.filter((w) => !mine.some((g) => g.name === w))
  if (missing.length) return { state: 'missing', detail: `group${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not loaded yet` }
  const rules = mine.flatMap((g) => (g.rules ?? []).map((r) => ({ group: g.name, ...r })))
  const bad = rules.filter((r) => r.health === 'err')
  if (bad.length)
    return { state: 'error', detail: bad.map((r) => `rule ${r.name} in group ${r.group}: ${r.lastError ?? 'error'}`).join('; ') }
  const waiting = rules.filter((r) => r.health !== 'ok')
  if (waiting.length) return { state: 'pending', detail: `${waiting.length} of ${rules.length} rules not evaluated yet` }
  return { state: 'ok', detail: `${rules.length} rules healthy` }
}

/** Warning Events about the object at or after `sinceMs` (ms since the epoch), as 'Reason: message'. */
export function rejectionEvents(events: KubeEvent[], name: string, sinceMs: number): string[] {
  const when = (e: KubeEvent & { series?: { lastObservedTime?: string }; metadata: { creationTimestamp?: string } }) =>
    Math.max(
      ...[e.lastTimestamp, e.eventTime, e.firstTimestamp, e.series?.lastObservedTime, e.metadata.creationTimestamp]
        .map((t) => Date.parse(t ?? ''))
        .filter(Number.isFinite),
      0,
    )
  return events
    .filter(
      (e) => e.type === 'Warning' && e.involvedObject?.kind === 'PrometheusRule' && e.involvedObject.name === name && when(e) >= sinceMs,
    )
    .map((e) => `${e.reason ?? 'Warning'}: ${(e.message ?? '').trim()}`)
}

/**
 * The rules of a PrometheusRule that Prometheus itself refuses: a rule without exactly one of
 * alert/record, or an expression `/api/v1/format_query` cannot parse (Prometheus' own error).
 */
export async function invalidRules(obj: KubeObject, request: PrometheusRequest, signal: AbortSignal): Promise<string[]> {
  const problems: string[] = []
  for (const g of (obj.spec as { groups?: RuleGroup[] } | undefined)?.groups ?? []) {
    for (const [i, r] of (g.rules ?? []).entries()) {
      const name = `${r.alert ?? r.record ?? `rule ${i + 1}`} (group ${g.name})`
      if (!r.alert === !r.record) problems.push(`${name}: a rule needs exactly one of alert and record`)
      const path = `/api/v1/format_query?query=${encodeURIComponent(String(r.expr ?? ''))}`
      const answer = (await requestRetried(() => request(path, signal), signal)
        .catch(errorAnswer)
        .catch((e: unknown) => ({ status: 'error', error: (e as Error).message }))) as {
        status?: string
        error?: string
      }
      if (answer.status !== 'success') problems.push(`${name}: ${answer.error ?? 'the expression does not parse'}`)
    }
  }
  return problems
}

export interface AlertRulesContext {
  kube: Kube
  /** The Prometheus the rules are for: labelled for its ruleSelector, verified on it. */
  stack: PrometheusStack
  /** Where the rules go: a namespace the Prometheus' ruleNamespaceSelector selects (see ruleNamespace). */
  ruleNamespace: string
  request: PrometheusRequest
  signal: AbortSignal
  /** ms between polls; default 2000. */
  pollMs?: number
  /** The action's own PrometheusRule was created by this run (its create answered 201): the object as answered, with its API path. */
  onCreated?: (obj: KubeObject, path: string) => void
}

/**
 * Applies the action's PrometheusRule (unless `alert-rules` is false) and the user's files,
 * then resolves once Prometheus reports each one's groups loaded with every rule healthy: the
 * groups, for the `alert-rule-groups` output. Rejects at once when the operator rejects one (its
 * Warning Event), naming the rules Prometheus cannot parse, or when a rule's evaluation fails;
 * otherwise waits until `signal` aborts.
 */
export async function applyAlertRules(inputs: Inputs, c: AlertRulesContext): Promise<LoadedGroup[]> {
  if (!inputs.alertRules.builtin && inputs.alertRules.files.length === 0) return []
  const labels = c.stack.ruleLabels
  const namespace = c.ruleNamespace
  const objects = [
    ...(inputs.alertRules.builtin
      ? [milvusPrometheusRule(namespace, inputs.namespace, inputs.releaseName, labels, inputs.alertRulesFor)]
      : []),
    ...readRuleFiles(inputs.alertRules.files, namespace).map((o) => ({
      ...o,
      metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...labels } },
    })),
  ]
  const since = Date.now() - 2000
  const own = inputs.alertRules.builtin ? objects[0] : undefined
  for (const obj of objects) {
    const collection = `/apis/monitoring.coreos.com/v1/namespaces/${obj.metadata.namespace}/prometheusrules`
    // The action's own rules are this run's when their apply created them (answered 201); what
    // existed is applied over and stays as it was owned. The user's files are applied.
    const applied = await c.kube.applyCreating(collection, obj, FIELD_MANAGER)
    const created = obj === own && applied.created ? applied.object : undefined
    if (created) c.onCreated?.(created, `${collection}/${obj.metadata.name}`)
    core.info(`${created ? 'Created' : 'Applied'} PrometheusRule ${obj.metadata.namespace}/${obj.metadata.name}`)
  }
  const loaded: LoadedGroup[] = []
  let pending = objects
  let last = ''
  while (pending.length > 0) {
    const groups = rulesGroups(await c.request('/api/v1/rules', c.signal).catch(askAgain))
    const still: KubeObject[] = []
    for (const obj of pending) {
      const ref = `${obj.metadata.namespace}/${obj.metadata.name}`
      const s = groupsState(groups, obj)
      if (s.state === 'ok') {
        for (const g of (obj.spec as { groups: RuleGroup[] }).groups)
          loaded.push({ prometheusRule: ref, group: g.name, rules: g.rules.length })
        core.info(`PrometheusRule ${ref}: loaded in Prometheus, ${s.detail}`)
        continue
      }
      if (s.state === 'error') throw new Error(`Prometheus cannot evaluate PrometheusRule ${ref}: ${s.detail}`)
      const events = await c.kube
        .get<{ items: KubeEvent[] }>(
          `/api/v1/namespaces/${obj.metadata.namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${obj.metadata.name}`)}`,
        )
        .then((l) => l.items)
        .catch(() => [] as KubeEvent[])
      const rejected = rejectionEvents(events, obj.metadata.name, since)
      if (rejected.length) {
        const why = await invalidRules(obj, c.request, c.signal)
        throw new Error(
          `prometheus-operator rejected PrometheusRule ${ref}, so Prometheus will never load it:\n${[...rejected, ...why].map((w) => `  - ${w}`).join('\n')}` +
            (why.length ? '' : "\nThe operator's log (in the diagnostics) names the rule."),
        )
      }
      const line = `PrometheusRule ${ref}: ${s.detail}`
      if (line !== last) core.info((last = line))
      still.push(obj)
    }
    pending = still
    if (pending.length) await delay(c.pollMs ?? 2000, undefined, { signal: c.signal })
  }
  return loaded
}
