// The name of the action's PrometheusRule, on its own so the post step can delete the rule
// without loading the phase that applies it (and the API client that comes with it).

/** The action's PrometheusRule's name for a release. */
export function milvusRuleName(release: string): string {
  return `${release}-milvus-alerts`
}
