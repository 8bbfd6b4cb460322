// Every mark the action leaves on a cluster, in one place: what it writes here is what the
// post step, a re-run and another job read to tell the action's objects from anyone else's.
// Nothing here imports anything, so the post step loads it without the API client.

/** The field manager of every server-side apply; also what managedFields are searched for. */
export const FIELD_MANAGER = 'milvus-monitoring-action'

/** The label on the objects the action creates itself (namespace, discovery Role, rules). */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': FIELD_MANAGER } as const
export const MANAGED_SELECTOR = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`

/** Helm values that mark a release as installed by the action (read back from `helm get values`). */
export const OWNER_VALUES = { milvusMonitoringAction: { managedBy: FIELD_MANAGER } } as const

/** Whether a release's user-supplied values carry OWNER_VALUES. */
export function ownedRelease(values: Record<string, unknown>): boolean {
  return (values.milvusMonitoringAction as { managedBy?: unknown } | undefined)?.managedBy === FIELD_MANAGER
}

/** The label whose change makes prometheus-operator take a ServiceMonitor again (upstream PR #8313). */
export const TOUCH_LABEL = 'milvus-monitoring-action/reconcile'

/** On the action's Leases (src/holds.ts): what they hold ('release' or 'stack'), and which release. */
export const HOLD_LABEL = 'milvus-monitoring-action/holds'
export const HOLD_RELEASE_LABEL = 'milvus-monitoring-action/release'

/**
 * The name of one of the action's PrometheusRules (`what`: 'milvus-alerts', 'alert-drill') for
 * the release `release` in `namespace`, put in `ruleNamespace`: `<release>-<what>` beside the
 * release, `<namespace>-<release>-<what>` in another namespace (a Prometheus' own), where the
 * releases of several namespaces may share a name.
 */
export function releaseRuleName(what: string, release: string, namespace: string, ruleNamespace: string): string {
  return ruleNamespace === namespace ? `${release}-${what}` : `${namespace}-${release}-${what}`
}

/** The action's PrometheusRule's name for a release (see releaseRuleName). */
export function milvusRuleName(release: string, namespace: string, ruleNamespace: string = namespace): string {
  return releaseRuleName('milvus-alerts', release, namespace, ruleNamespace)
}
