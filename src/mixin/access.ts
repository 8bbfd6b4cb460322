// What the alert rules and the alert fire drill need, known once the Prometheus is resolved and
// before any change: where the rules go, the Alertmanager the drill reaches, and the permissions
// both use there. A Prometheus that would load none of the action's rules, or sends its alerts
// to no Alertmanager, stops the run here instead of after the install.
import { ApiError } from '../cluster/kube.ts'
import type { StackRun } from '../context.ts'
import { MANAGED_BY } from '../marks.ts'
import { alertmanagerEndpoint } from '../prometheus/existing.ts'
import type { Permission } from '../types.ts'
import { drillAlertmanager } from './alert-drill.ts'
import { ruleNamespace, ruleSelectorProblem } from './alert-rules.ts'

const MONITORING = 'monitoring.coreos.com'

/**
 * The namespace the Prometheus reads the run's PrometheusRules in (see ruleNamespace); throws
 * when none. Asked before the release's namespace exists, it is judged by the labels this run
 * creates it with.
 */
export async function rulesNamespaceOf({ kube, stack, inputs }: StackRun): Promise<string> {
  if (stack.ruleNamespaceSelector === null) return ruleNamespace(stack, inputs.namespace, undefined)
  const ns = await kube.find(`/api/v1/namespaces/${inputs.namespace}`).then(
    (found) => found ?? null,
    () => undefined,
  )
  const missing = ns === null || ns?.metadata.deletionTimestamp !== undefined
  const labels = missing ? (inputs.installMilvus ? { ...MANAGED_BY } : undefined) : ns?.metadata.labels
  return ruleNamespace(stack, inputs.namespace, labels)
}

/** Whether the run applies PrometheusRules of its own (the action's or the user's files). */
export function appliesRules(inputs: StackRun['inputs']): boolean {
  return inputs.alertRules.builtin || inputs.alertRules.files.length > 0
}

/**
 * The permissions the rules and the drill use: create (the drill also delete) prometheusrules
 * where the rules go; for the drill, in its Alertmanager's namespace, the Service read, the
 * silence created, read through and expired through the Service's proxy, and each replica's
 * alerts read and resolved through its pod's proxy (found from the EndpointSlices).
 */
export function mixinPermissions(
  what: { rules: boolean; drill: boolean },
  ruleNamespace: string,
  alertmanagerNamespace: string | undefined,
): Permission[] {
  const rules: Permission[] = [
    ...(what.rules || what.drill ? [{ verb: 'create', group: MONITORING, resource: 'prometheusrules', namespace: ruleNamespace }] : []),
    ...(what.drill ? [{ verb: 'delete', group: MONITORING, resource: 'prometheusrules', namespace: ruleNamespace }] : []),
  ]
  if (!what.drill || alertmanagerNamespace === undefined) return rules
  const namespace = alertmanagerNamespace
  return [
    ...rules,
    { verb: 'get', group: '', resource: 'services', namespace },
    ...['create', 'get', 'delete'].map((verb) => ({ verb, group: '', resource: 'services', subresource: 'proxy', namespace })),
    { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices', namespace },
    ...['create', 'get'].map((verb) => ({ verb, group: '', resource: 'pods', subresource: 'proxy', namespace })),
  ]
}

/**
 * Reads what mixinPermissions needs and returns it. Throws, naming the fix, when the Prometheus
 * selects none of the action's rules (ruleSelectorProblem) or reads none in a namespace the run
 * can use, or (with alert-drill) sends its alerts to no Alertmanager Service that exists.
 */
export async function mixinAccess(run: StackRun): Promise<Permission[]> {
  const { inputs, stack } = run
  const what = { rules: appliesRules(inputs), drill: inputs.alertDrill }
  if (!what.rules && !what.drill) return []
  const problem = ruleSelectorProblem(stack)
  if (problem) throw new Error(problem)
  const [where, amNamespace] = await Promise.all([rulesNamespaceOf(run), what.drill ? drillNamespace(run) : undefined])
  return mixinPermissions(what, where, amNamespace)
}

/**
 * The drill's Alertmanager namespace: kube-prometheus' own for the stack the run installs, else
 * the Prometheus' spec.alerting, its Service and port checked (drillAlertmanager). A Service the
 * identity may not read is left to the access review, which names `get services` there.
 */
async function drillNamespace({ kube, stack }: StackRun): Promise<string | undefined> {
  if (stack.kubePrometheus) return stack.alertmanager?.namespace
  return drillAlertmanager(kube, stack).then(
    (am) => am.namespace,
    async (e: unknown) => {
      if (!(e instanceof ApiError && e.status === 403)) throw e
      const p = await kube.get(`/apis/monitoring.coreos.com/v1/namespaces/${stack.namespace}/prometheuses/${stack.name}`)
      return alertmanagerEndpoint(stack.namespace, p.spec)?.namespace
    },
  )
}
