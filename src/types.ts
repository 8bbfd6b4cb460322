// Shapes shared by the phases. Data flows one way: Inputs -> phases -> RunResult -> outputs.

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
  kubectlSha256: string // SHA-256 of the kubectl binary, lowercase hex; '' when unset
  helmSha256: string // SHA-256 of the helm archive (.tar.gz), lowercase hex; '' when unset
  allowInsecureDownloads: boolean // http:// URL inputs (other than loopback) accepted
  kubePrometheusVersion: string // 'v0.18.0'
  kubePrometheusUrl: string // archive URL, default derived from the version
  installKubePrometheus: boolean
  prometheus: string // 'namespace/name' of the Prometheus to use, '' to find it (install-kube-prometheus false)
  installMilvus: boolean // false: verify the release that is there, as it is
  /** The monitor of the release to verify (install-milvus false), a ServiceMonitor or PodMonitor by that name; absent: found from the release's labels. */
  serviceMonitor?: { namespace: string; name: string }
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
  /** Basic auth for the stack's Grafana; absent: its admin Secret where readable, else admin/admin. */
  grafanaCredentials?: { user: string; password: string }
  alertRules: { builtin: boolean; files: string[] } // the action's own rules; the user's PrometheusRule files
  alertRulesFor?: string // Prometheus duration replacing every `for` of the action's rules
  assertions: Assertion[]
  /** The dashboard data check: 'report' (a table, never fails the run), 'gate' (fails it), 'off'. */
  dashboardCheck: 'report' | 'gate' | 'off'
  /** Percent of the dashboard's panels that must show data for the gate to hold. */
  dashboardMinCoverage: number
  /** The alert fire drill (src/mixin/alert-drill.ts). */
  alertDrill: boolean
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
  /** When the phase started, ms since the run started. */
  startMs: number
  ms: number
  /** 'running': still under way when the timings were taken (a phase beside one that failed). */
  outcome: 'done' | 'failed' | 'running'
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
  /** When the run started, ms since the epoch: the origin of the phases' timeline. */
  startedAt: number
  dashboard?: LoadedDashboard // when grafana-dashboard is on
  dashboardCheck?: DashboardCheck // unless dashboard-check is off
  alertRules: LoadedGroup[] // groups Prometheus reports loaded and healthy
  assertions: AssertionVerdict[]
  alertDrill?: AlertDrillResult // with alert-drill: true
  diagnosticsDir?: string // with diagnostics: always
}

/** What an alert fire drill made, for its removal (by the drill, else by the post step). */
export interface DrillTarget {
  /** The Alertmanager Service the run's Prometheus sends alerts to. */
  alertmanager: { namespace: string; name: string; port: string | number; pathPrefix: string }
  rule: { namespace: string; name: string }
  silenceId?: string
}

/** The alert fire drill's outcome (output alert-drill-result). */
export interface AlertDrillResult {
  alert: string
  /** namespace/name of the drill's PrometheusRule (deleted by now). */
  prometheusRule: string
  /** namespace/name:port of the Alertmanager Service. */
  alertmanager: string
  silenceId: string
  /** ms from the rule's apply to Prometheus reporting the alert firing. */
  firingMs: number
  /** ms from the rule's apply to Alertmanager holding the alert. */
  alertmanagerMs: number
  /** How Alertmanager held it: 'suppressed' by the drill's silence, or 'active'. */
  state: 'active' | 'suppressed'
  silencedBy: string[]
}

export type Comparison = '==' | '!=' | '>' | '>=' | '<' | '<='

/**
 * A parsed successCondition. The grammar (a small subset of Argo's expr conditions):
 * - `len(result) <op> N`: the number of series (`len(result) > 0`: the result is not empty);
 * - `result[I] <op> N`: the value of the I-th series (0-based; a missing one fails);
 * - `all(result, # <op> N)`: every series (at least one) compares true (`{# ...}` braces allowed);
 * - `any(result, # <op> N)`: at least one series compares true.
 * `<op>` is one of == != > >= < <=, N a decimal number (also NaN, +Inf, -Inf).
 */
export type Condition =
  | { kind: 'len'; op: Comparison; value: number }
  | { kind: 'index'; index: number; op: Comparison; value: number }
  | { kind: 'all' | 'any'; op: Comparison; value: number }

export interface Assertion {
  /** The assertion's name, or its query when unnamed. */
  name: string
  /** The PromQL with ${namespace}, ${release} and ${pool} still in it. */
  query: string
  successCondition: string
  condition: Condition
  /** Time between measurements, ms; undefined: the scrape interval. */
  intervalMs?: number
  /** How many measurements to take (Argo Rollouts' count); 1 when unset. */
  count?: number
  /** How many of the measurements may fail (Argo Rollouts' failureLimit); 0 when unset. */
  failureLimit?: number
  /** Keep measuring this long until one holds, ms (instead of count). */
  withinMs?: number
}

export interface AssertionVerdict {
  name: string
  /** The query as sent (placeholders filled in). */
  query: string
  expected: string
  /** The values of the last answer, e.g. '[1, 1]', or the error that stopped it. */
  lastValue: string
  held: boolean
  /** Measurements taken: fewer than `count` when the verdict was decided early. */
  measurements: number
  /** Measurements whose condition did not hold (a query error among them). */
  failures: number
}

/** A group Prometheus reports loaded and healthy, for the `alert-rule-groups` output. */
export interface LoadedGroup {
  /** 'namespace/name' of the PrometheusRule. */
  prometheusRule: string
  group: string
  rules: number
}

export interface LoadedDashboard {
  uid: string
  title: string
  source: string
  /** Deep link with var-namespace and var-instance set. */
  url: string
}

/** One panel of the dashboard data check, for the `dashboard-panels` output. */
export interface PanelCheck {
  row: string
  title: string
  /** 'data': a query returned a series; 'no data': none did; 'error': Prometheus refused a query. */
  state: 'data' | 'no data' | 'error'
  /** The panel's PromQL queries asked. */
  queries: number
  /** Metric names whose selectors (variables filled in) select no series. */
  missing: string[]
  error?: string
}

/** A template variable's query as the check asked it. */
export interface VariableCheck {
  name: string
  query: string
  /** How many values it returned. */
  values: number
  error?: string
}

export interface RowCoverage {
  row: string
  panels: number
  data: number
  noData: number
  errors: number
}

export interface DashboardCheck {
  title: string
  panels: PanelCheck[]
  variables: VariableCheck[]
  rows: RowCoverage[]
  /** Percent of the panels with data, one decimal. */
  coverage: number
}

export interface LabelSelectorRequirement {
  key: string
  operator: string // In, NotIn, Exists, DoesNotExist
  values?: string[] | null
}

/** metav1.LabelSelector as the API returns it. */
export interface LabelSelector {
  matchLabels?: Record<string, string> | null
  matchExpressions?: LabelSelectorRequirement[] | null
}

/** A Service port the API server's service proxy and kubectl port-forward can reach. */
export interface StackService {
  namespace: string
  name: string
  /** The port as the service proxy names it: its name when it has one, else its number. */
  port: string | number
  /** The Service port's number, for port-forward. */
  portNumber: number
  /** Path prefix the server serves under ('' or e.g. '/prometheus', never a trailing '/'). */
  pathPrefix: string
}

/** The Prometheus the run uses, and what of its stack the outputs can point at. */
export interface PrometheusStack {
  namespace: string
  name: string
  /** Its pods' ServiceAccount (spec.serviceAccountName; 'default' when unset). */
  serviceAccount: string
  /** The Service in front of its pods that exposes `web`. */
  service: StackService
  /** Labels to add to the Milvus ServiceMonitor so its serviceMonitorSelector selects it. */
  serviceMonitorLabels: Record<string, string>
  /** Labels to add to the action's PrometheusRules so its ruleSelector selects them. */
  ruleLabels: Record<string, string>
  /** Its spec.serviceDiscoveryRole ('Endpoints' when unset): what it reads to discover a ServiceMonitor's targets. */
  serviceDiscoveryRole?: string
  /** Its spec.ruleSelector: null (unset) selects no PrometheusRule, {} every one. */
  ruleSelector: LabelSelector | null
  /**
   * Its spec.ruleNamespaceSelector: null selects its own namespace only (the operator's rule for
   * an unset selector), {} every namespace.
   */
  ruleNamespaceSelector: LabelSelector | null
  grafana?: StackService
  alertmanager?: StackService
  /** True for the kube-prometheus this action installs. */
  kubePrometheus: boolean
}

export type MonitorKind = 'ServiceMonitor' | 'PodMonitor'

/** The ServiceMonitor or PodMonitor through which Prometheus scrapes Milvus. */
export interface MonitorRef {
  kind: MonitorKind
  namespace: string
  name: string
}

/** One object of a manifest directory, by identity. */
export interface ObjectRef {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
}

/** A runner pod's ServiceAccount credentials, as the files the pod has them in. */
export interface InClusterCredentials {
  server: string
  caFile: string
  tokenFile: string
  /** The pod's namespace (the ServiceAccount's `namespace` file), when there is one. */
  namespace?: string
}

/** The cluster the main step deployed to, as kubectl, helm and the post step pin it. */
export interface KubeConnection {
  /** The kubeconfig context's name. */
  context: string
  /** The KUBECONFIG value (one path or a ':'-separated list). */
  kubeconfig: string
  /** The context's API server URL when it was recorded. */
  server: string
  /**
   * The UID of the cluster's kube-system namespace, read by the preflight (absent when the
   * identity may not read it): a cluster re-created at the same URL has another, so the post
   * step deletes nothing there.
   */
  clusterId?: string
  /** With in-cluster credentials: what `kubeconfig` (written by the action) holds, to write it again. */
  inCluster?: InClusterCredentials
}

/**
 * Where the wait stands, from furthest to closest to done:
 * - unreachable: Prometheus did not answer (restarting, not ready, proxy error); transient.
 * - pool-missing: Prometheus has no scrape pool of that name: config not rendered or not reloaded.
 * - no-targets: the pool is loaded but discovery yielded nothing to scrape (RBAC, selector, relabelling).
 * - pending: targets discovered, not scraped yet (or `up` not yet readable).
 * - down: at least one target's last scrape failed.
 * - up: every target of the pool is up, and `up{...}` reads 1 for each.
 */
export type VerdictState = 'unreachable' | 'pool-missing' | 'no-targets' | 'pending' | 'down' | 'up'

export interface TargetVerdict {
  state: VerdictState
  targets: TargetState[]
  /** Headline, then ' — ' and the details; stable across polls so changes can be reported once. */
  message: string
  /** When (ms since the epoch, Prometheus' clock) the earliest target that is not up is next scraped. */
  nextScrapeAt?: number
  /** The shortest scrape interval among the pool's targets, in ms. */
  scrapeIntervalMs?: number
}

/** One permission the run needs, as a SelfSubjectAccessReview asks it. */
export interface Permission {
  verb: string
  group: string
  resource: string
  subresource?: string
  namespace?: string
}
