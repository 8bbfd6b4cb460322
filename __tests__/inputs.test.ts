import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { INPUT_DEFAULTS, INPUT_NAMES, InputError, chartKind, parseInputs, urlSecrets, type InputName } from '../src/inputs.ts'
import type { Inputs } from '../src/types.ts'
import { DEFAULT_HELM_VERSION, DEFAULT_KUBECTL_VERSION } from '../src/tools/versions.ts'

// Like core.getInput: '' for anything not set.
function getter(set: Partial<Record<InputName, string>>): (name: string) => string {
  return (name) => set[name as InputName] ?? ''
}

function parseWith(set: Partial<Record<InputName, string>>, warnings: string[] = []): Inputs {
  return parseInputs(getter(set), (m) => warnings.push(m))
}

function problemsOf(set: Partial<Record<InputName, string>>): string[] {
  try {
    parseWith(set)
  } catch (error) {
    expect(error).toBeInstanceOf(InputError)
    return (error as InputError).problems
  }
  throw new Error('expected an InputError')
}

describe('defaults', () => {
  it('gives the documented defaults when nothing is set', () => {
    expect(parseWith({})).toEqual<Inputs>({
      kubectlVersion: { kind: 'exact', version: DEFAULT_KUBECTL_VERSION },
      helmVersion: { kind: 'exact', version: DEFAULT_HELM_VERSION },
      kubectlBaseUrl: 'https://dl.k8s.io',
      helmBaseUrl: 'https://get.helm.sh',
      kubectlSha256: '',
      helmSha256: '',
      allowInsecureDownloads: false,
      kubePrometheusVersion: 'v0.18.0',
      kubePrometheusUrl: 'https://github.com/prometheus-operator/kube-prometheus/archive/refs/tags/v0.18.0.tar.gz',
      installKubePrometheus: true,
      prometheus: '',
      installMilvus: true,
      milvusChart: 'milvus',
      milvusChartRepo: 'https://zilliztech.github.io/milvus-helm/',
      milvusChartVersion: '5.0.19',
      milvusMode: 'standalone',
      releaseName: 'my-release',
      namespace: 'milvus',
      values: {},
      prometheusRbac: true,
      timeoutMs: 15 * 60_000,
      expose: 'port-forward',
      cleanup: false,
      grafanaDashboard: true,
      grafanaDashboardUrl: '',
      alertRules: { builtin: true, files: [] },
      assertions: [],
      dashboardCheck: 'report',
      dashboardMinCoverage: 0,
      alertDrill: false,
      diagnostics: 'on-failure',
    })
  })

  it('gives the same result when every default is passed explicitly, as action.yml does', () => {
    expect(parseWith({ ...INPUT_DEFAULTS })).toEqual(parseWith({}))
  })

  it('lists every input once', () => {
    expect(new Set(INPUT_NAMES).size).toBe(INPUT_NAMES.length)
    expect(INPUT_NAMES.length).toBeGreaterThan(20)
    expect(INPUT_NAMES).toContain('kube-prometheus-url')
  })

  // action.yml is written alongside; once it exists its inputs and defaults must match.
  it.skipIf(!existsSync('action.yml'))('matches the inputs and defaults declared in action.yml', () => {
    const action = parse(readFileSync('action.yml', 'utf8')) as {
      inputs: Record<string, { default?: unknown }>
    }
    expect(Object.keys(action.inputs).sort()).toEqual([...INPUT_NAMES].sort())
    for (const name of INPUT_NAMES) {
      expect([name, String(action.inputs[name]?.default ?? '')]).toEqual([name, INPUT_DEFAULTS[name]])
    }
  })
})

describe('accepted forms', () => {
  it.each<[Partial<Record<InputName, string>>, Partial<Inputs>]>([
    [{ 'kubectl-version': 'v1.34.1' }, { kubectlVersion: { kind: 'exact', version: 'v1.34.1' } }],
    [{ 'kubectl-version': '1.34' }, { kubectlVersion: { kind: 'line', major: 1, minor: 34 } }],
    [{ 'kubectl-version': 'latest' }, { kubectlVersion: { kind: 'latest' } }],
    [{ 'helm-version': 'v3.17.2' }, { helmVersion: { kind: 'exact', version: 'v3.17.2' } }],
    [{ 'helm-version': '3' }, { helmVersion: { kind: 'line', major: 3 } }],
    [{ 'helm-version': '3.17' }, { helmVersion: { kind: 'line', major: 3, minor: 17 } }],
    [{ 'helm-version': 'latest' }, { helmVersion: { kind: 'latest' } }],
    [{ 'kubectl-base-url': 'https://mirror.example/k8s/' }, { kubectlBaseUrl: 'https://mirror.example/k8s' }],
    [{ 'kubectl-base-url': 'http://127.0.0.1:8080//' }, { kubectlBaseUrl: 'http://127.0.0.1:8080' }],
    [{ 'helm-base-url': 'https://mirror.example/helm' }, { helmBaseUrl: 'https://mirror.example/helm' }],
    [
      { 'kube-prometheus-version': 'v0.16.0' },
      {
        kubePrometheusVersion: 'v0.16.0',
        kubePrometheusUrl: 'https://github.com/prometheus-operator/kube-prometheus/archive/refs/tags/v0.16.0.tar.gz',
      },
    ],
    [
      { 'kube-prometheus-url': 'http://127.0.0.1:8000/kube-prometheus-0.18.0.tar.gz' },
      { kubePrometheusUrl: 'http://127.0.0.1:8000/kube-prometheus-0.18.0.tar.gz', kubePrometheusVersion: 'v0.18.0' },
    ],
    [{ 'install-kube-prometheus': 'false' }, { installKubePrometheus: false }],
    [{ 'install-kube-prometheus': 'FALSE' }, { installKubePrometheus: false }],
    [
      { 'install-kube-prometheus': 'false', prometheus: 'kps/kps-prometheus' },
      { installKubePrometheus: false, prometheus: 'kps/kps-prometheus' },
    ],
    [{ prometheus: 'monitoring/k8s' }, { prometheus: 'monitoring/k8s' }],
    [{ 'install-kube-prometheus': 'True' }, { installKubePrometheus: true }],
    [{ 'milvus-chart-repo': 'http://127.0.0.1:8000/' }, { milvusChartRepo: 'http://127.0.0.1:8000/' }],
    [{ 'milvus-chart-version': '5.0.14' }, { milvusChartVersion: '5.0.14' }],
    [{ 'milvus-chart-version': '5.1.0-rc.1' }, { milvusChartVersion: '5.1.0-rc.1' }],
    [
      { 'milvus-chart': 'oci://registry.example/charts/milvus' },
      { milvusChart: 'oci://registry.example/charts/milvus', milvusChartRepo: '' },
    ],
    [{ 'milvus-chart': './charts/milvus' }, { milvusChart: './charts/milvus', milvusChartRepo: '', milvusChartVersion: '' }],
    [{ 'milvus-chart': '/tmp/milvus-5.0.19.tgz' }, { milvusChart: '/tmp/milvus-5.0.19.tgz', milvusChartRepo: '', milvusChartVersion: '' }],
    [{ 'milvus-chart': 'milvus-lite' }, { milvusChart: 'milvus-lite' }],
    [{ 'milvus-mode': 'cluster' }, { milvusMode: 'cluster' }],
    [{ 'release-name': 'r' }, { releaseName: 'r' }],
    [{ 'release-name': 'a'.repeat(53) }, { releaseName: 'a'.repeat(53) }],
    [{ 'release-name': 'ci-42-milvus' }, { releaseName: 'ci-42-milvus' }],
    [{ namespace: 'x'.repeat(63) }, { namespace: 'x'.repeat(63) }],
    [{ namespace: '0ns-1' }, { namespace: '0ns-1' }],
    [
      { values: 'etcd:\n  replicaCount: 1\nminio:\n  mode: standalone\n' },
      { values: { etcd: { replicaCount: 1 }, minio: { mode: 'standalone' } } },
    ],
    [{ values: '{"pulsarv3": {"enabled": false}}' }, { values: { pulsarv3: { enabled: false } } }],
    [{ values: '# nothing yet\n' }, { values: {} }],
    [{ values: '~' }, { values: {} }],
    [{ 'prometheus-rbac': 'false' }, { prometheusRbac: false }],
    [{ timeout: '90s' }, { timeoutMs: 90_000 }],
    [{ timeout: '1h30m' }, { timeoutMs: 5_400_000 }],
    [{ timeout: '1m30s' }, { timeoutMs: 90_000 }],
    [{ timeout: '6h' }, { timeoutMs: 6 * 3_600_000 }],
    [{ expose: 'none' }, { expose: 'none' }],
    [{ cleanup: 'true' }, { cleanup: true }],
    [{ cleanup: 'TRUE' }, { cleanup: true }],
    [{ namespace: '  spaced  ' }, { namespace: 'spaced' }],
    [{ 'install-milvus': 'false' }, { installMilvus: false }],
    [
      { 'install-milvus': 'false', 'service-monitor': 'milvus/my-release-milvus' },
      { installMilvus: false, serviceMonitor: { namespace: 'milvus', name: 'my-release-milvus' } },
    ],
    [
      { 'install-milvus': 'false', 'service-monitor': 'vector-db/milvus.metrics' },
      { serviceMonitor: { namespace: 'vector-db', name: 'milvus.metrics' } },
    ],
  ])('%j', (set, expected) => {
    expect(parseWith(set)).toMatchObject(expected)
  })
})

describe('rejected forms', () => {
  it.each<[InputName, string, RegExp]>([
    ['kubectl-version', 'v1', /Invalid kubectl version "v1"/],
    ['kubectl-version', 'stable', /'latest'/],
    ['helm-version', 'v2.17.0', /Helm 2 and older/],
    ['helm-version', 'newest', /Invalid helm version "newest"/],
    ['prometheus', 'kps-prometheus', /expected namespace\/name of a Prometheus resource/],
    ['prometheus', 'a/b/c', /expected namespace\/name/],
    ['prometheus', 'KPS/x', /expected namespace\/name/],
    ['prometheus', 'kps/kps', /set install-kube-prometheus: false to use this one/],
    ['kubectl-base-url', 'dl.k8s.io', /http:\/\/ or https:\/\/ URL/],
    ['kubectl-base-url', 'ftp://mirror.example/k8s', /got the ftp: scheme/],
    ['kubectl-base-url', 'https://mirror.example/k8s?x=1', /without a query or fragment/],
    ['helm-base-url', 'file:///opt/helm', /got the file: scheme/],
    ['kube-prometheus-version', '0.18.0', /'vX\.Y\.Z'/],
    ['kube-prometheus-version', 'v0.18', /'vX\.Y\.Z'/],
    ['kube-prometheus-version', 'main', /'vX\.Y\.Z'/],
    ['kube-prometheus-url', './kube-prometheus.tar.gz', /http:\/\/ or https:\/\/ URL of a kube-prometheus release archive/],
    ['kube-prometheus-url', 'file:///tmp/kp.tar.gz', /got the file: scheme/],
    ['install-kube-prometheus', 'yes', /expected true or false/],
    ['install-milvus', 'no', /expected true or false/],
    ['service-monitor', 'my-release-milvus', /expected namespace\/name of a ServiceMonitor or PodMonitor/],
    ['service-monitor', 'podmonitor/milvus/x', /expected namespace\/name/],
    ['service-monitor', 'milvus/x', /needs install-milvus: false/],
    ['install-kube-prometheus', 'tRuE', /expected true or false/],
    ['milvus-chart', 'milvus/milvus', /local path starting with '\.\/'/],
    ['milvus-chart', 'Milvus', /chart name in milvus-chart-repo/],
    ['milvus-chart', 'oci://', /OCI reference/],
    ['milvus-chart', 'oci://registry.example', /OCI reference/],
    ['milvus-chart-repo', 'zilliztech.github.io/milvus-helm', /URL of a Helm chart repository/],
    ['milvus-chart-version', '~5.0', /exact chart version such as '5\.0\.19'/],
    ['milvus-chart-version', 'latest', /expected an exact chart version such as '5.0.19'/],
    ['milvus-mode', 'distributed', /one of 'standalone', 'cluster'/],
    ['milvus-mode', 'Standalone', /one of 'standalone', 'cluster'/],
    ['release-name', 'My-Release', /not a DNS-1123 label.*Helm release name/],
    ['release-name', 'a'.repeat(54), /54 characters long.*at most 53/],
    ['release-name', 'my.release', /not a DNS-1123 label/],
    ['release-name', '-release', /not a DNS-1123 label/],
    ['namespace', 'milvus_ns', /not a DNS-1123 label.*a namespace/],
    ['namespace', 'ns-', /not a DNS-1123 label/],
    ['namespace', 'n'.repeat(64), /64 characters long.*at most 63/],
    ['values', 'a: 1\n  b: 2', /YAML does not parse: .*at line 1, column 4/],
    ['values', 'a: [1, 2', /at line 1, column 9/],
    ['values', 'a: 1\na: 2', /Map keys must be unique at line 2, column 1/],
    ['values', 'a: 1\n---\nb: 2', /multiple documents/],
    ['values', 'a: *nope', /Unresolved alias/],
    ['values', '- etcd\n- minio', /expected a YAML mapping.*got a list/],
    ['values', 'replicaCount', /expected a YAML mapping.*got a string/],
    ['values', '42', /got a number/],
    ['prometheus-rbac', 'on', /expected true or false/],
    ['timeout', '15', /is not a duration/],
    ['timeout', '1d', /is not a duration/],
    ['timeout', '0', /above zero/],
    ['timeout', '0s', /above zero/],
    ['timeout', '6h1s', /at most 6h 00m 00s/],
    ['expose', 'ingress', /one of 'port-forward', 'none'/],
    ['cleanup', '1', /expected true or false/],
  ])('%s: %j', (name, value, why) => {
    const problems = problemsOf({ [name]: value })
    expect(problems).toHaveLength(1)
    const [problem] = problems
    expect(problem).toMatch(new RegExp(`^${name}: `))
    expect(problem).toMatch(why)
    // Every line shows what was given, except YAML errors, which point at line and column instead.
    if (name !== 'values') expect(problem).toContain(JSON.stringify(value))
  })

  it('reports every bad input at once, one line each, in input order', () => {
    let caught: unknown
    try {
      parseWith({ namespace: 'Bad_NS', timeout: 'soon', 'milvus-mode': 'huge', cleanup: 'maybe' })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InputError)
    const error = caught as InputError
    expect(error.problems.map((p) => p.split(':')[0])).toEqual(['milvus-mode', 'namespace', 'timeout', 'cleanup'])
    const lines = error.message.split('\n')
    expect(lines[0]).toBe('4 inputs are invalid:')
    expect(lines.slice(1)).toEqual(error.problems.map((p) => `  - ${p}`))
    expect(error.message).toContain('"Bad_NS"')
    expect(error.message).toContain('"soon"')
  })

  it('says "input is invalid" for a single problem', () => {
    expect(() => parseWith({ expose: 'nodeport' })).toThrow(/^input is invalid:\n {2}- expose: "nodeport"/)
  })
})

describe('downloads: plain http and digests', () => {
  const HEX = 'a'.repeat(64)

  it.each<[InputName, string]>([
    ['kubectl-base-url', 'http://mirror.example/k8s'],
    ['helm-base-url', 'http://10.0.0.5/helm'],
    ['kube-prometheus-url', 'http://mirror.example/kp.tar.gz'],
    ['milvus-chart-repo', 'http://charts.example/'],
    ['grafana-dashboard-url', 'http://mirror.example/${tag}/dashboard.json'],
  ])('%s over plain http is refused without allow-insecure-downloads, naming the fix', (name, value) => {
    const problems = problemsOf({ [name]: value })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(`${name}: ${JSON.stringify(value)} is plain http`)
    expect(problems[0]).toContain('allow-insecure-downloads: true')
    expect(parseWith({ [name]: value, 'allow-insecure-downloads': 'true' }).allowInsecureDownloads).toBe(true)
  })

  it.each(['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080', 'http://127.1.2.3'])(
    'loopback %s needs no opt-in',
    (url) => {
      expect(parseWith({ 'kubectl-base-url': url }).kubectlBaseUrl).toBe(url)
    },
  )

  it('a kube-prometheus-url that is not used is not checked', () => {
    expect(
      parseWith({ 'install-kube-prometheus': 'false', 'kube-prometheus-url': 'http://mirror.example/kp.tar.gz' }).installKubePrometheus,
    ).toBe(false)
  })

  it('takes digests in either case, for exact versions only', () => {
    const got = parseWith({
      'kubectl-sha256': HEX.toUpperCase(),
      'helm-sha256': ` ${HEX} `,
      'kubectl-version': 'v1.34.1',
      'helm-version': '3.17.2',
    })
    expect([got.kubectlSha256, got.helmSha256]).toEqual([HEX, HEX])
    expect(problemsOf({ 'kubectl-sha256': HEX, 'kubectl-version': '1.35' })).toEqual([
      'kubectl-sha256: it is the digest of one release, so kubectl-version must be exact (vX.Y.Z), not "1.35"',
    ])
    expect(problemsOf({ 'helm-sha256': HEX, 'helm-version': 'latest' })[0]).toMatch(/^helm-sha256: .*must be exact/)
    expect(problemsOf({ 'helm-sha256': 'abc' })).toEqual([
      'helm-sha256: "abc" is not valid; expected a SHA-256 digest: 64 hexadecimal digits',
    ])
  })
})

describe('milvus-chart forms', () => {
  it.each([
    ['milvus', 'repo'],
    ['oci://registry.example/milvus', 'oci'],
    ['./milvus', 'path'],
    ['../charts/milvus-5.0.19.tgz', 'path'],
    ['/abs/milvus', 'path'],
    ['charts/milvus', 'repo'],
  ])('%s is a %s chart', (chart, kind) => {
    expect(chartKind(chart)).toBe(kind)
  })

  it('warns that a custom repo is ignored for a local or OCI chart', () => {
    const warnings: string[] = []
    const inputs = parseWith(
      { 'milvus-chart': 'oci://registry.example/charts/milvus', 'milvus-chart-repo': 'https://charts.example/' },
      warnings,
    )
    expect(inputs.milvusChartRepo).toBe('')
    expect(warnings).toEqual([
      'milvus-chart-repo is ignored: milvus-chart "oci://registry.example/charts/milvus" is not a repository chart name',
    ])
  })

  it('does not warn about the default repo, which action.yml always passes', () => {
    const warnings: string[] = []
    parseWith({ 'milvus-chart': './milvus', 'milvus-chart-repo': INPUT_DEFAULTS['milvus-chart-repo'] }, warnings)
    expect(warnings).toEqual([])
  })

  it('warns that a chart version is ignored for a local chart, and keeps it for OCI', () => {
    const warnings: string[] = []
    expect(parseWith({ 'milvus-chart': './milvus', 'milvus-chart-version': '5.0.14' }, warnings).milvusChartVersion).toBe('')
    expect(warnings).toEqual(['milvus-chart-version is ignored: milvus-chart "./milvus" is a local chart'])
    expect(parseWith({ 'milvus-chart': 'oci://r.example/c/milvus', 'milvus-chart-version': '5.0.14' }).milvusChartVersion).toBe('5.0.14')
  })

  it('does not validate the repo of a local chart', () => {
    expect(parseWith({ 'milvus-chart': './milvus', 'milvus-chart-repo': 'not a url' }, []).milvusChartRepo).toBe('')
  })
})

describe('secrets in mirror URLs', () => {
  it.each([
    ['https://user:s3cr%40t@mirror.corp/helm', ['s3cr@t', 's3cr%40t', 'user']],
    ['https://mirror.corp/kp.tar.gz?token=abcdef&version=1', ['abcdef']],
    ['https://bucket.s3.amazonaws.com/kp.tar.gz?X-Amz-Signature=deadbeef&X-Amz-Date=2026', ['deadbeef']],
    ['https://get.helm.sh', []],
    ['./charts/milvus', []],
  ])('%s', (url, want) => {
    expect(urlSecrets(url)).toEqual(want)
  })
})

describe('alert-rules', () => {
  it('a word that is neither true, false nor an existing file fails with the other inputs', () => {
    expect(() => parseInputs((name) => (({ 'alert-rules': 'off' }) as Record<string, string>)[name] ?? '')).toThrow(
      /alert-rules: "off" is neither true, false nor a PrometheusRule file on the runner/,
    )
  })
})

describe('grafana-credentials', () => {
  const parse = (value: string) => parseInputs((name) => (name === 'grafana-credentials' ? value : ''))
  it("'user:password', the password may hold ':'", () => {
    expect(parse('ci:p:w').grafanaCredentials).toEqual({ user: 'ci', password: 'p:w' })
    expect(parse('').grafanaCredentials).toBeUndefined()
  })
  it('a malformed value is refused without echoing it', () => {
    expect(() => parse('hunter2')).toThrow(/grafana-credentials: expected 'user:password' \(the value is not shown/)
    expect(() => parse('hunter2')).not.toThrow(/hunter2/)
  })
})

describe('assertions', () => {
  it('a condition cut by a YAML comment fails before anything is touched, naming the quoted form', () => {
    const assertions = '- query: up\n  successCondition: all(result, # == 1)\n'
    expect(() => parseInputs((name) => (({ assertions }) as Record<string, string>)[name] ?? '')).toThrow(
      /assertions\[0\]: successCondition "all\(result," was cut by a YAML comment.*successCondition: 'all\(result, # == 1\)'/,
    )
  })
})

describe('install-milvus: false', () => {
  it('has no service-monitor unless named, and warns about the inputs that only shape an installed release', () => {
    const warnings: string[] = []
    const parsed = parseWith(
      { 'install-milvus': 'false', 'milvus-mode': 'cluster', values: 'a: 1', 'milvus-chart-version': '5.0.19' },
      warnings,
    )
    expect(parsed.serviceMonitor).toBeUndefined()
    expect(warnings).toEqual(['milvus-mode, values are ignored: install-milvus is false, so the release is verified as it is'])
  })
})
