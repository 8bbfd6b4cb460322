// Reading and validating the action's inputs. Every input is checked before anything is
// installed, and all problems are reported together so one failed run shows every fix needed.
import { existsSync } from 'node:fs'
import * as core from '@actions/core'
import { parseDocument } from 'yaml'
import { formatDuration, parseDuration } from './budget.ts'
import type { Expose, Inputs, MilvusMode, VersionSpec } from './types.ts'
import { parseAssertions } from './mixin/assertions.ts'
import { promDuration } from './mixin/alert-rules.ts'
import { DEFAULT_HELM_VERSION, DEFAULT_KUBECTL_VERSION, parseHelmVersion, parseKubectlVersion } from './tools/versions.ts'

/** Defaults as action.yml declares them; a test checks the two agree. */
export const INPUT_DEFAULTS = {
  'kubectl-version': DEFAULT_KUBECTL_VERSION,
  'helm-version': DEFAULT_HELM_VERSION,
  'kubectl-base-url': 'https://dl.k8s.io',
  'helm-base-url': 'https://get.helm.sh',
  'kubectl-sha256': '',
  'helm-sha256': '',
  'allow-insecure-downloads': 'false',
  'kube-prometheus-version': 'v0.18.0',
  'kube-prometheus-url': '',
  'install-kube-prometheus': 'true',
  prometheus: '',
  'install-milvus': 'true',
  'service-monitor': '',
  'milvus-chart': 'milvus',
  'milvus-chart-repo': 'https://zilliztech.github.io/milvus-helm/',
  'milvus-chart-version': '5.0.19',
  'milvus-mode': 'standalone',
  'release-name': 'my-release',
  namespace: 'milvus',
  values: '',
  'prometheus-rbac': 'true',
  timeout: '15m',
  expose: 'port-forward',
  cleanup: 'false',
  'grafana-dashboard': 'auto',
  'grafana-dashboard-url': '',
  'grafana-credentials': '',
  'alert-rules': 'true',
  'alert-rules-for': '',
  assertions: '',
  'dashboard-check': 'report',
  'dashboard-min-coverage': '0',
  'alert-drill': 'false',
  diagnostics: 'on-failure',
} as const

export type InputName = keyof typeof INPUT_DEFAULTS

export const INPUT_NAMES = Object.keys(INPUT_DEFAULTS) as InputName[]

/** Longest `timeout` accepted: a GitHub-hosted job cannot run longer than 6 hours anyway. */
export const MAX_TIMEOUT_MS = 6 * 3_600_000

/** One or more inputs are invalid; `problems` holds one line per bad input. */
export class InputError extends Error {
  readonly problems: string[]

  constructor(problems: string[]) {
    const noun = problems.length === 1 ? 'input is' : `${problems.length} inputs are`
    super(`${noun} invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'InputError'
    this.problems = problems
  }
}

export type ChartKind = 'repo' | 'oci' | 'path'

/**
 * How `milvus-chart` names the chart: 'oci' for `oci://...`, 'path' when it starts with
 * `.` or `/` (a chart directory or .tgz on the runner), otherwise a chart name in
 * `milvus-chart-repo`. Whether a path exists is left to Helm, which says so clearly.
 */
export function chartKind(chart: string): ChartKind {
  if (chart.startsWith('oci://')) return 'oci'
  if (chart.startsWith('.') || chart.startsWith('/')) return 'path'
  return 'repo'
}

// The parsed value of one input, or the line that explains what is wrong with it.
type Problem = { value?: undefined; problem: string }
type Check<T> = { value: T; problem?: undefined } | Problem

const ok = <T>(value: T): Check<T> => ({ value })
const bad = (name: InputName, raw: string, accepted: string): Problem => ({
  problem: `${name}: ${JSON.stringify(raw)} is not valid; ${accepted}`,
})

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const CHART_NAME = /^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/
const SEMVER = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/

function version(name: InputName, raw: string, parse: (raw: string) => VersionSpec): Check<VersionSpec> {
  try {
    return ok(parse(raw))
  } catch (error) {
    return { problem: `${name}: ${error instanceof Error ? error.message : String(error)}` }
  }
}

function httpUrl(name: InputName, raw: string, what: string): Check<string> {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return bad(name, raw, `expected an http:// or https:// URL of ${what}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return bad(name, raw, `expected an http:// or https:// URL of ${what} (got the ${url.protocol} scheme)`)
  }
  return ok(raw)
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

/**
 * An http:// URL input is refused unless allow-insecure-downloads is true or it names loopback
 * (where nothing on the network can read or alter the transfer). Returns the problem, or ''.
 */
function insecure(name: InputName, value: string, allowed: boolean): string {
  if (allowed || value === '') return ''
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return ''
  }
  if (url.protocol !== 'http:' || LOOPBACK.test(url.hostname)) return ''
  return (
    `${name}: ${JSON.stringify(value)} is plain http, so anything on the way can read or alter what it serves; ` +
    `use https://, or set allow-insecure-downloads: true to accept it (docs/inputs.md says what is still verified)`
  )
}

function sha256(name: InputName, raw: string): Check<string> {
  const hex = raw.trim().toLowerCase()
  if (hex === '' || /^[0-9a-f]{64}$/.test(hex)) return ok(hex)
  return bad(name, raw, 'expected a SHA-256 digest: 64 hexadecimal digits')
}

function baseUrl(name: InputName, raw: string, what: string): Check<string> {
  const checked = httpUrl(name, raw, what)
  if (checked.problem !== undefined) return checked
  const url = new URL(raw)
  // File names are appended to the base, so a query or fragment would end up in the middle.
  if (url.search !== '' || url.hash !== '') {
    return bad(name, raw, `expected the base URL of ${what} without a query or fragment`)
  }
  return ok(raw.replace(/\/+$/, ''))
}

function boolean(name: InputName, raw: string): Check<boolean> {
  // The same spellings as core.getBooleanInput (YAML 1.2 core schema).
  if (['true', 'True', 'TRUE'].includes(raw)) return ok(true)
  if (['false', 'False', 'FALSE'].includes(raw)) return ok(false)
  return bad(name, raw, 'expected true or false (also True/TRUE/False/FALSE)')
}

function oneOf<T extends string>(name: InputName, raw: string, allowed: readonly T[]): Check<T> {
  const found = allowed.find((a) => a === raw)
  if (found !== undefined) return ok(found)
  return bad(name, raw, `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}`)
}

/** A percent from 0 to 100 ('80', '80%', '92.5'). */
function percent(name: InputName, raw: string): Check<number> {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(raw)
  const n = m ? Number(m[1]) : NaN
  return n >= 0 && n <= 100 ? { value: n } : { problem: `${name}: expected a percent from 0 to 100 (e.g. 80), got ${JSON.stringify(raw)}` }
}

function dnsLabel(name: InputName, raw: string, max: number, what: string): Check<string> {
  if (raw.length <= max && DNS1123_LABEL.test(raw)) return ok(raw)
  const why = raw.length > max ? `it is ${raw.length} characters long` : 'it is not a DNS-1123 label'
  return bad(
    name,
    raw,
    `${why}; ${what} must be at most ${max} characters of lowercase letters, digits and '-', ` +
      `starting and ending with a letter or digit (e.g. '${INPUT_DEFAULTS[name]}')`,
  )
}

function values(raw: string): Check<Record<string, unknown>> {
  if (raw.trim() === '') return ok({})
  const doc = parseDocument(raw)
  const first = doc.errors[0]
  if (first) {
    // The message's first line carries 'at line L, column C'; the rest is a source excerpt.
    const message = first.message.split('\n')[0]?.replace(/:$/, '') ?? first.code
    return { problem: `values: the YAML does not parse: ${message}` }
  }
  let parsed: unknown
  try {
    parsed = doc.toJS()
  } catch (error) {
    return { problem: `values: the YAML does not parse: ${error instanceof Error ? error.message : String(error)}` }
  }
  // Only comments (or `~`) means no values, as with an empty values file in Helm.
  if (parsed === null || parsed === undefined) return ok({})
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    const got = Array.isArray(parsed) ? 'a list' : `a ${typeof parsed}`
    return {
      problem: `values: expected a YAML mapping of Helm values (e.g. 'etcd:\\n  replicaCount: 1'), got ${got}`,
    }
  }
  return ok(parsed as Record<string, unknown>)
}

/**
 * `prometheus`: '' or `namespace/name` of a Prometheus resource, both DNS labels. Only with
 * install-kube-prometheus false, except `monitoring/k8s`, which is the one kube-prometheus installs.
 */
function prometheusRef(raw: string, installKubePrometheus: boolean): Check<string> {
  if (raw === '') return ok('')
  const [ns, name, ...rest] = raw.split('/')
  if (rest.length > 0 || !ns || !name || !DNS1123_LABEL.test(ns) || ns.length > 63 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
    return bad('prometheus', raw, "expected namespace/name of a Prometheus resource, e.g. 'monitoring/kube-prometheus-stack-prometheus'")
  }
  if (installKubePrometheus && raw !== 'monitoring/k8s') {
    return bad(
      'prometheus',
      raw,
      "with install-kube-prometheus true the Prometheus is kube-prometheus' monitoring/k8s; set install-kube-prometheus: false to use this one",
    )
  }
  return ok(raw)
}

/**
 * `service-monitor`: '' or `namespace/name` of the ServiceMonitor (or PodMonitor, when no
 * ServiceMonitor has that name) of a release that exists. Only with install-milvus false: an
 * installed release's is the chart's own.
 */
function monitorRef(raw: string, installMilvus: boolean): Check<{ namespace: string; name: string } | undefined> {
  if (raw === '') return ok(undefined)
  const [ns, name, ...rest] = raw.split('/')
  if (
    rest.length > 0 ||
    !ns ||
    !name ||
    !DNS1123_LABEL.test(ns) ||
    ns.length > 63 ||
    name.length > 253 ||
    !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)
  ) {
    return bad('service-monitor', raw, "expected namespace/name of a ServiceMonitor or PodMonitor, e.g. 'milvus/my-release-milvus'")
  }
  if (installMilvus)
    return bad(
      'service-monitor',
      raw,
      'it names the monitor of a release that exists, so it needs install-milvus: false (the release the action installs brings its own ServiceMonitor)',
    )
  return ok({ namespace: ns, name })
}

function timeout(raw: string): Check<number> {
  let ms: number
  try {
    ms = parseDuration(raw)
  } catch (error) {
    return { problem: `timeout: ${error instanceof Error ? error.message : String(error)}` }
  }
  if (ms <= 0) return bad('timeout', raw, `expected a duration above zero, e.g. '15m'`)
  if (ms > MAX_TIMEOUT_MS) {
    return bad('timeout', raw, `expected at most ${formatDuration(MAX_TIMEOUT_MS)} (a GitHub-hosted job's limit)`)
  }
  return ok(ms)
}

/**
 * Read every input through `get` (core.getInput, or a fake in tests; '' means unset and
 * takes the default), validate all of them, and throw one InputError listing every problem.
 * `warn` reports inputs that are valid but ignored.
 */
export function parseInputs(get: (name: string) => string, warn: (message: string) => void = (message) => core.warning(message)): Inputs {
  const raw = (name: InputName): string => {
    const value = get(name).trim()
    return value === '' ? INPUT_DEFAULTS[name] : value
  }
  const problems: string[] = []
  function take<T>(check: Check<T>, fallback: T): T {
    if (check.problem !== undefined) {
      problems.push(check.problem)
      return fallback
    }
    return check.value
  }

  const kubectlVersion = take(version('kubectl-version', raw('kubectl-version'), parseKubectlVersion), {
    kind: 'latest',
  })
  const helmVersion = take(version('helm-version', raw('helm-version'), parseHelmVersion), { kind: 'latest' })
  const kubectlBaseUrl = take(baseUrl('kubectl-base-url', raw('kubectl-base-url'), 'a kubectl release mirror'), '')
  const helmBaseUrl = take(baseUrl('helm-base-url', raw('helm-base-url'), 'a Helm release mirror'), '')
  const kubectlSha256 = take(sha256('kubectl-sha256', raw('kubectl-sha256')), '')
  const helmSha256 = take(sha256('helm-sha256', raw('helm-sha256')), '')
  const allowInsecureDownloads = take(boolean('allow-insecure-downloads', raw('allow-insecure-downloads')), false)
  if (kubectlSha256 && kubectlVersion.kind !== 'exact')
    problems.push(
      `kubectl-sha256: it is the digest of one release, so kubectl-version must be exact (vX.Y.Z), not ${JSON.stringify(raw('kubectl-version'))}`,
    )
  if (helmSha256 && helmVersion.kind !== 'exact')
    problems.push(
      `helm-sha256: it is the digest of one release, so helm-version must be exact (vX.Y.Z), not ${JSON.stringify(raw('helm-version'))}`,
    )

  const kpVersionRaw = raw('kube-prometheus-version')
  const kubePrometheusVersion = take(
    /^v\d+\.\d+\.\d+$/.test(kpVersionRaw)
      ? ok(kpVersionRaw)
      : bad('kube-prometheus-version', kpVersionRaw, "expected a release tag 'vX.Y.Z', e.g. 'v0.18.0'"),
    '',
  )
  const kpUrlRaw = raw('kube-prometheus-url')
  const kubePrometheusUrl =
    kpUrlRaw === ''
      ? `https://github.com/prometheus-operator/kube-prometheus/archive/refs/tags/${kubePrometheusVersion}.tar.gz`
      : take(httpUrl('kube-prometheus-url', kpUrlRaw, 'a kube-prometheus release archive (.tar.gz)'), '')
  const installKubePrometheus = take(boolean('install-kube-prometheus', raw('install-kube-prometheus')), true)
  const prometheus = take(prometheusRef(raw('prometheus'), installKubePrometheus), '')

  const installMilvus = take(boolean('install-milvus', raw('install-milvus')), true)
  const serviceMonitor = take(monitorRef(raw('service-monitor'), installMilvus), undefined)
  if (!installMilvus) {
    // What only shapes a release the action installs: set, it would be silently unused.
    const unused = (['milvus-chart', 'milvus-chart-repo', 'milvus-chart-version', 'milvus-mode', 'values'] as const).filter(
      (n) => get(n).trim() !== '' && get(n).trim() !== INPUT_DEFAULTS[n],
    )
    if (unused.length)
      warn(`${unused.join(', ')} ${unused.length > 1 ? 'are' : 'is'} ignored: install-milvus is false, so the release is verified as it is`)
  }

  const milvusChart = raw('milvus-chart')
  const kind = chartKind(milvusChart)
  if (kind === 'oci' && !/^oci:\/\/[^/\s]+\/\S+$/.test(milvusChart)) {
    problems.push(bad('milvus-chart', milvusChart, "expected an OCI reference such as 'oci://registry.example/charts/milvus'").problem)
  } else if (kind === 'repo' && !CHART_NAME.test(milvusChart)) {
    problems.push(
      bad(
        'milvus-chart',
        milvusChart,
        "expected a chart name in milvus-chart-repo (e.g. 'milvus'), a local path starting with " +
          "'./', '../' or '/', or an 'oci://' reference",
      ).problem,
    )
  }
  let milvusChartRepo = ''
  const repoRaw = raw('milvus-chart-repo')
  if (kind === 'repo') {
    milvusChartRepo = take(httpUrl('milvus-chart-repo', repoRaw, 'a Helm chart repository'), '')
  } else if (repoRaw !== INPUT_DEFAULTS['milvus-chart-repo']) {
    warn(`milvus-chart-repo is ignored: milvus-chart ${JSON.stringify(milvusChart)} is not a repository chart name`)
  }
  const chartVersionRaw = raw('milvus-chart-version')
  let milvusChartVersion = take(
    chartVersionRaw === '' || SEMVER.test(chartVersionRaw)
      ? ok(chartVersionRaw)
      : bad('milvus-chart-version', chartVersionRaw, "expected an exact chart version such as '5.0.19'"),
    '',
  )
  // A local chart is whatever version it is: Helm ignores --version for it.
  if (kind === 'path') {
    if (chartVersionRaw !== INPUT_DEFAULTS['milvus-chart-version']) {
      warn(`milvus-chart-version is ignored: milvus-chart ${JSON.stringify(milvusChart)} is a local chart`)
    }
    milvusChartVersion = ''
  }

  const milvusMode = take<MilvusMode>(oneOf('milvus-mode', raw('milvus-mode'), ['standalone', 'cluster']), 'standalone')
  const releaseName = take(dnsLabel('release-name', raw('release-name'), 53, 'a Helm release name'), '')
  const namespace = take(dnsLabel('namespace', raw('namespace'), 63, 'a namespace'), '')
  // Not through raw(): values must keep its indentation, and '' is its default anyway.
  const parsedValues = take(values(get('values')), {})
  const prometheusRbac = take(boolean('prometheus-rbac', raw('prometheus-rbac')), true)
  const timeoutMs = take(timeout(raw('timeout')), 0)
  const expose = take<Expose>(oneOf('expose', raw('expose'), ['port-forward', 'none']), 'none')
  const cleanup = take(boolean('cleanup', raw('cleanup')), false)

  const dashboardRaw = raw('grafana-dashboard')
  const grafanaDashboard = dashboardRaw === 'auto' ? installKubePrometheus : take(boolean('grafana-dashboard', dashboardRaw), false)
  const dashboardUrlRaw = raw('grafana-dashboard-url')
  const grafanaDashboardUrl =
    dashboardUrlRaw === '' || dashboardUrlRaw.startsWith('/') || dashboardUrlRaw.startsWith('.')
      ? dashboardUrlRaw
      : take(httpUrl('grafana-dashboard-url', dashboardUrlRaw, 'a Grafana dashboard JSON (or a local path)'), '')
  const credentialsRaw = get('grafana-credentials').trim()
  const grafanaCredentials = credentialsRaw === '' ? undefined : take(credentials(credentialsRaw), undefined)
  const alertRules = ruleInput(get('alert-rules').trim() || INPUT_DEFAULTS['alert-rules'])
  // A typo ('no', 'off') would otherwise be read as a file only after the install.
  const missing = alertRules.files.filter((f) => !existsSync(f))
  if (missing.length) {
    problems.push(
      `alert-rules: ${missing.map((f) => JSON.stringify(f)).join(', ')} ${missing.length > 1 ? 'are' : 'is'} neither true, false nor a PrometheusRule file on the runner`,
    )
  }
  const forRaw = raw('alert-rules-for')
  let alertRulesFor: string | undefined
  if (forRaw !== '') {
    try {
      alertRulesFor = promDuration(parseDuration(forRaw))
    } catch (error) {
      problems.push(`alert-rules-for: ${(error as Error).message}`)
    }
  }
  const parsedAssertions = parseAssertions(get('assertions'))
  problems.push(...parsedAssertions.problems)
  const dashboardCheck = take<'report' | 'gate' | 'off'>(
    oneOf('dashboard-check', raw('dashboard-check'), ['report', 'gate', 'off']),
    'report',
  )
  const dashboardMinCoverage = take(percent('dashboard-min-coverage', raw('dashboard-min-coverage')), 0)
  const alertDrill = take(boolean('alert-drill', raw('alert-drill')), false)
  const diagnostics = take<'on-failure' | 'always'>(oneOf('diagnostics', raw('diagnostics'), ['on-failure', 'always']), 'on-failure')

  const urls: Array<[InputName, string]> = [
    ['kubectl-base-url', kubectlBaseUrl],
    ['helm-base-url', helmBaseUrl],
    ['kube-prometheus-url', installKubePrometheus ? kubePrometheusUrl : ''],
    ['milvus-chart-repo', milvusChartRepo],
    ['grafana-dashboard-url', grafanaDashboardUrl],
  ]
  for (const [name, value] of urls) {
    const problem = insecure(name, value, allowInsecureDownloads)
    if (problem) problems.push(problem)
  }

  if (problems.length > 0) throw new InputError(problems)
  return {
    kubectlVersion,
    helmVersion,
    kubectlBaseUrl,
    helmBaseUrl,
    kubectlSha256,
    helmSha256,
    allowInsecureDownloads,
    kubePrometheusVersion,
    kubePrometheusUrl,
    installKubePrometheus,
    prometheus,
    installMilvus,
    ...(serviceMonitor ? { serviceMonitor } : {}),
    milvusChart,
    milvusChartRepo,
    milvusChartVersion,
    milvusMode,
    releaseName,
    namespace,
    values: parsedValues,
    prometheusRbac,
    timeoutMs,
    expose,
    cleanup,
    grafanaDashboard,
    grafanaDashboardUrl,
    ...(grafanaCredentials ? { grafanaCredentials } : {}),
    alertRules,
    ...(alertRulesFor === undefined ? {} : { alertRulesFor }),
    assertions: parsedAssertions.assertions,
    dashboardCheck,
    dashboardMinCoverage,
    alertDrill,
    diagnostics,
  }
}

/**
 * `alert-rules`: true (the action's rules), false (none), or paths of PrometheusRule files, one
 * per line or comma-separated, applied besides the action's rules. parseInputs checks that the
 * files exist; they are parsed when read.
 */
export function ruleInput(raw: string): { builtin: boolean; files: string[] } {
  if (['true', 'True', 'TRUE'].includes(raw)) return { builtin: true, files: [] }
  if (['false', 'False', 'FALSE'].includes(raw)) return { builtin: false, files: [] }
  return {
    builtin: true,
    files: raw
      .split(/[\n,]/)
      .map((f) => f.trim())
      .filter(Boolean),
  }
}

const SECRET_PARAM = /token|key|sig|secret|pass|auth|credential/i

/**
 * What a mirror URL carries that must never reach the log: the password of its userinfo (and
 * the user name beside it) and the values of credential-looking query parameters
 * (`?token=`, `X-Amz-Signature=`). [] for anything that is not a URL.
 */
export function urlSecrets(raw: string): string[] {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return []
  }
  const out: string[] = []
  if (url.password) out.push(decodeURIComponent(url.password), url.password)
  if (url.password && url.username) out.push(decodeURIComponent(url.username))
  for (const [k, v] of url.searchParams) if (SECRET_PARAM.test(k) && v) out.push(v)
  return [...new Set(out)].filter((v) => v.length >= 3)
}

/** urlSecrets of every URL input. */
export function inputSecrets(inputs: Inputs): string[] {
  const grafana = inputs.grafanaCredentials ? [inputs.grafanaCredentials.password] : []
  return [
    ...[inputs.kubectlBaseUrl, inputs.helmBaseUrl, inputs.kubePrometheusUrl, inputs.milvusChartRepo, inputs.grafanaDashboardUrl].flatMap(
      urlSecrets,
    ),
    ...grafana,
  ]
}

/** `user:password` for Grafana's basic auth (the password may hold ':'); the value is never echoed. */
function credentials(raw: string): Check<{ user: string; password: string }> {
  const at = raw.indexOf(':')
  if (at <= 0 || at === raw.length - 1)
    return {
      problem:
        "grafana-credentials: expected 'user:password' (the value is not shown: it is a secret; pass it as grafana-credentials: ${{ secrets.GRAFANA_CREDENTIALS }})",
    }
  return ok({ user: raw.slice(0, at), password: raw.slice(at + 1) })
}
