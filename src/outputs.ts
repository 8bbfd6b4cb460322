// The action's outputs, and the in-cluster addresses of what it deployed.
import * as core from '@actions/core'
import type { Endpoints, RunResult, TargetState } from './types.ts'

/** Every output the action sets; a test checks action.yml declares exactly these. */
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
  'prometheus-url-in-cluster',
  'grafana-url-in-cluster',
  'alertmanager-url-in-cluster',
  'milvus-endpoint-in-cluster',
  'milvus-metrics-url-in-cluster',
] as const

export type OutputName = (typeof OUTPUT_NAMES)[number]

/** The chart's default name, which its helpers put into every object name. */
const CHART_NAME = 'milvus'

// Go templates' `trunc 63 | trimSuffix "-"`: one trailing '-' at most is removed.
function dnsTrunc(name: string): string {
  const cut = name.slice(0, 63)
  return cut.endsWith('-') ? cut.slice(0, -1) : cut
}

function stringValue(values: Record<string, unknown> | undefined, key: string): string {
  const v = values?.[key]
  return typeof v === 'string' ? v : ''
}

/**
 * Name of the Milvus Service, as the chart's `milvus.fullname` helper makes it (the same in
 * standalone and cluster mode): `<release>-milvus`, or just `<release>` when the release name
 * already contains `milvus`, or `fullnameOverride` / `nameOverride` from the values.
 */
export function milvusServiceName(releaseName: string, values?: Record<string, unknown>): string {
  const fullnameOverride = stringValue(values, 'fullnameOverride')
  if (fullnameOverride !== '') return dnsTrunc(fullnameOverride)
  const name = stringValue(values, 'nameOverride') || CHART_NAME
  return dnsTrunc(releaseName.includes(name) ? releaseName : `${releaseName}-${name}`)
}

/** Service addresses inside the cluster: kube-prometheus' Services in `monitoring`, Milvus' in its namespace. */
export function inClusterEndpoints(namespace: string, releaseName: string, values?: Record<string, unknown>): Endpoints {
  const milvusHost = `${milvusServiceName(releaseName, values)}.${namespace}.svc`
  return {
    prometheusUrl: 'http://prometheus-k8s.monitoring.svc:9090',
    grafanaUrl: 'http://grafana.monitoring.svc:3000',
    alertmanagerUrl: 'http://alertmanager-main.monitoring.svc:9093',
    milvusEndpoint: `${milvusHost}:19530`,
    milvusMetricsUrl: `http://${milvusHost}:9091/metrics`,
  }
}

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
    'prometheus-url-in-cluster': inCluster.prometheusUrl,
    'grafana-url-in-cluster': inCluster.grafanaUrl,
    'alertmanager-url-in-cluster': inCluster.alertmanagerUrl,
    'milvus-endpoint-in-cluster': inCluster.milvusEndpoint,
    'milvus-metrics-url-in-cluster': inCluster.milvusMetricsUrl,
  }
}

/** Set every output of the action. */
export function setOutputs(result: RunResult): void {
  const values = outputValues(result)
  for (const name of OUTPUT_NAMES) core.setOutput(name, values[name])
}
