// Shapes shared by the phases. Data flows one way: Inputs -> phases -> RunResult -> outputs.

import type { Assertion, AssertionVerdict } from './phases/assertions.ts'
import type { LoadedGroup } from './phases/alert-rules.ts'
import type { LoadedDashboard } from './phases/dashboard.ts'

export type MilvusMode = 'standalone' | 'cluster'
export type Expose = 'port-forward' | 'none'

/** How a tool version was asked for; resolved to an exact `vX.Y.Z` before download. */
export type VersionSpec =
  | { kind: 'exact'; version: string } // 'v1.35.2'
  | { kind: 'line'; major: number; minor?: number } // newest stable of 'X' or 'X.Y'
  | { kind: 'latest' }

export interface Inputs {
  kubectlVersion: VersionSpec
  helmVersion: VersionSpec
  kubectlBaseUrl: string // no trailing slash
  helmBaseUrl: string // no trailing slash
  kubePrometheusVersion: string // 'v0.18.0'
  kubePrometheusUrl: string // archive URL, default derived from the version
  installKubePrometheus: boolean
  prometheus: string // 'namespace/name' of the Prometheus to use, '' to find it (install-kube-prometheus false)
  milvusChart: string // repository chart name, local path or oci:// reference
  milvusChartRepo: string // '' when the chart is a path or oci://
  milvusChartVersion: string // '' means the newest
  milvusMode: MilvusMode
  releaseName: string
  namespace: string
  values: Record<string, unknown> // parsed from the `values` input
  prometheusRbac: boolean
  timeoutMs: number
  expose: Expose
  cleanup: boolean
  grafanaDashboard: boolean // 'auto' resolved: true when the action installs kube-prometheus
  grafanaDashboardUrl: string // '' for the official file at the release's tag; may hold ${tag}; or a path
  alertRules: { builtin: boolean; files: string[] } // the action's own rules; the user's PrometheusRule files
  alertRulesFor?: string // Prometheus duration replacing every `for` of the action's rules
  assertions: Assertion[]
  diagnostics: 'on-failure' | 'always'
}

export interface InstalledTool {
  path: string // absolute path of the binary
  version: string // resolved 'vX.Y.Z'
}

/** One active target as Prometheus reports it, reduced to what the action reads. */
export interface TargetState {
  scrapePool: string
  scrapeUrl: string
  health: 'up' | 'down' | 'unknown'
  lastError: string
  lastScrape: string // RFC 3339
  labels: Record<string, string> // target labels (job, namespace, pod, ...)
}

export interface Endpoints {
  prometheusUrl: string
  grafanaUrl: string
  alertmanagerUrl: string
  milvusEndpoint: string // gRPC host:port
  milvusMetricsUrl: string
}

export interface PhaseTiming {
  name: string
  ms: number
}

export interface RunResult {
  kubectl: InstalledTool
  helm: InstalledTool
  /** Reachable from the runner when expose is port-forward, else equal to inCluster. */
  endpoints: Endpoints
  inCluster: Endpoints
  serviceMonitor: string // 'namespace/name'
  scrapePool: string
  targets: TargetState[] // the Milvus targets, all up on success
  phases: PhaseTiming[]
  dashboard?: LoadedDashboard // when grafana-dashboard is on
  alertRules: LoadedGroup[] // groups Prometheus reports loaded and healthy
  assertions: AssertionVerdict[]
  diagnosticsDir?: string // with diagnostics: always
}
