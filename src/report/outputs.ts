// src/report/: what the run tells its user: the step outputs (this file), the job summary,
// and the diagnostics printed on failure. It reads the RunResult the phases produced and
// changes nothing in the cluster.
//
// The action's outputs, as later steps read them.
import * as core from '@actions/core'
import type { RunResult, TargetState } from '../types.ts'

/**
 * Every output the action sets; a test checks action.yml declares exactly these, and that none
 * shares its name with an input.
 */
export const OUTPUT_NAMES = [
  'kubectl-path',
  'kubectl-version',
  'helm-path',
  'helm-version',
  'prometheus-url',
  'grafana-url',
  'alertmanager-url',
  'milvus-endpoint',
  'milvus-metrics-url',
  'service-monitor',
  'scrape-pool',
  'target-health',
  'target-scrape-url',
  'targets',
  'prometheus-url-in-cluster',
  'grafana-url-in-cluster',
  'alertmanager-url-in-cluster',
  'milvus-endpoint-in-cluster',
  'milvus-metrics-url-in-cluster',
  'dashboard-url',
  'dashboard-panels',
  'alert-rule-groups',
  'assertion-results',
  'alert-drill-result',
  'diagnostics-dir',
] as const

export type OutputName = (typeof OUTPUT_NAMES)[number]

/** One word for all Milvus targets: 'up' only when every one is up; 'none' when there are none. */
export function targetHealth(targets: TargetState[]): 'up' | 'down' | 'unknown' | 'none' {
  if (targets.length === 0) return 'none'
  if (targets.some((t) => t.health === 'down')) return 'down'
  return targets.every((t) => t.health === 'up') ? 'up' : 'unknown'
}

/** Every output's value for a run. */
export function outputValues(result: RunResult): Record<OutputName, string> {
  const { endpoints, inCluster } = result
  return {
    'kubectl-path': result.kubectl.path,
    'kubectl-version': result.kubectl.version,
    'helm-path': result.helm.path,
    'helm-version': result.helm.version,
    'prometheus-url': endpoints.prometheusUrl,
    'grafana-url': endpoints.grafanaUrl,
    'alertmanager-url': endpoints.alertmanagerUrl,
    'milvus-endpoint': endpoints.milvusEndpoint,
    'milvus-metrics-url': endpoints.milvusMetricsUrl,
    'service-monitor': result.serviceMonitor,
    'scrape-pool': result.scrapePool,
    'target-health': targetHealth(result.targets),
    // The first target only; the job summary lists all of them.
    'target-scrape-url': result.targets[0]?.scrapeUrl ?? '',
    targets: JSON.stringify(result.targets),
    'prometheus-url-in-cluster': inCluster.prometheusUrl,
    'grafana-url-in-cluster': inCluster.grafanaUrl,
    'alertmanager-url-in-cluster': inCluster.alertmanagerUrl,
    'milvus-endpoint-in-cluster': inCluster.milvusEndpoint,
    'milvus-metrics-url-in-cluster': inCluster.milvusMetricsUrl,
    'dashboard-url': result.dashboard?.url ?? '',
    'dashboard-panels': result.dashboardCheck ? JSON.stringify(result.dashboardCheck.panels) : '',
    'alert-rule-groups': JSON.stringify(result.alertRules),
    'assertion-results': JSON.stringify(result.assertions),
    'alert-drill-result': result.alertDrill ? JSON.stringify(result.alertDrill) : '',
    'diagnostics-dir': result.diagnosticsDir ?? '',
  }
}

/** Set every output of the action. */
export function setOutputs(result: RunResult): void {
  const values = outputValues(result)
  for (const name of OUTPUT_NAMES) core.setOutput(name, values[name])
}
