import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { parse } from 'yaml'
import { TimeoutError } from '../../src/budget.ts'
import { OUTPUT_NAMES, outputValues, setOutputs, targetHealth, type OutputName } from '../../src/report/outputs.ts'
import { inClusterEndpoints, milvusServiceName } from '../../src/expose/endpoints.ts'
import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import { redact, renderFailureSummary, renderSummary, writeFailureSummary, writeSummary } from '../../src/report/summary.ts'
import type { RunResult, TargetState } from '../../src/types.ts'

const target: TargetState = {
  scrapePool: 'serviceMonitor/milvus/my-release-milvus-standalone/0',
  scrapeUrl: 'http://10.244.0.17:9091/metrics',
  health: 'up',
  lastError: '',
  lastScrape: '2025-11-24T15:30:12.345Z',
  labels: { job: 'my-release-milvus', namespace: 'milvus', pod: 'my-release-milvus-standalone-7d9f8-abcde' },
}

const result: RunResult = {
  kubectl: { path: '/opt/hostedtoolcache/kubectl/1.35.2/x64/kubectl', version: 'v1.35.2' },
  helm: { path: '/opt/hostedtoolcache/helm/4.1.4/x64/helm', version: 'v4.1.4' },
  endpoints: {
    prometheusUrl: 'http://127.0.0.1:39090',
    grafanaUrl: 'http://127.0.0.1:33000',
    alertmanagerUrl: 'http://127.0.0.1:39093',
    milvusEndpoint: '127.0.0.1:19530',
    milvusMetricsUrl: 'http://127.0.0.1:39091/metrics',
  },
  inCluster: inClusterEndpoints('milvus', 'my-release', undefined, KUBE_PROMETHEUS_STACK),
  serviceMonitor: 'milvus/my-release-milvus-standalone',
  scrapePool: 'serviceMonitor/milvus/my-release-milvus-standalone/0',
  targets: [target],
  phases: [
    { name: 'install tools', startMs: 0, ms: 4_200, outcome: 'done' },
    { name: 'deploy kube-prometheus', startMs: 4_200, ms: 95_000, outcome: 'done' },
    { name: 'wait for the scrape', startMs: 99_200, ms: 31_500, outcome: 'done' },
  ],
  startedAt: Date.UTC(2025, 10, 24, 15, 28, 0),
  dashboard: {
    uid: 'uLf5cJ3Gaa',
    title: 'Milvus2.5',
    source: 'milvus-dashboard.json',
    url: 'http://127.0.0.1:33000/d/uLf5cJ3Gaa/milvus2-5?var-namespace=milvus&var-instance=my-release',
  },
  dashboardCheck: {
    title: 'Milvus2.5',
    panels: [
      { row: 'Proxy', title: 'Search Latency', state: 'data', queries: 2, missing: [] },
      { row: 'Proxy', title: 'Cache Hit rate', state: 'no data', queries: 1, missing: ['milvus_proxy_cache_hit_count'] },
    ],
    variables: [{ name: 'namespace', query: 'label_values(go_info,namespace)', values: 2 }],
    rows: [{ row: 'Proxy', panels: 2, data: 1, noData: 1, errors: 0 }],
    coverage: 50,
  },
  alertRules: [{ prometheusRule: 'milvus/my-release-milvus-alerts', group: 'milvus-milvus-my-release', rules: 6 }],
  assertions: [{ name: 'up', query: 'up', expected: 'result[0] == 1', lastValue: '[1]', held: true, measurements: 1, failures: 0 }],
  alertDrill: {
    alert: 'MilvusMonitoringActionDrill',
    prometheusRule: 'milvus/my-release-alert-drill',
    alertmanager: 'monitoring/alertmanager-main:web',
    silenceId: 'a1b2',
    firingMs: 2100,
    alertmanagerMs: 2600,
    state: 'suppressed',
    silencedBy: ['a1b2'],
  },
  diagnosticsDir: '/tmp/diag',
}

const expectedOutputs: Record<OutputName, string> = {
  'kubectl-path': '/opt/hostedtoolcache/kubectl/1.35.2/x64/kubectl',
  'kubectl-version': 'v1.35.2',
  'helm-path': '/opt/hostedtoolcache/helm/4.1.4/x64/helm',
  'helm-version': 'v4.1.4',
  'prometheus-url': 'http://127.0.0.1:39090',
  'grafana-url': 'http://127.0.0.1:33000',
  'alertmanager-url': 'http://127.0.0.1:39093',
  'milvus-endpoint': '127.0.0.1:19530',
  'milvus-metrics-url': 'http://127.0.0.1:39091/metrics',
  'service-monitor': 'milvus/my-release-milvus-standalone',
  'scrape-pool': 'serviceMonitor/milvus/my-release-milvus-standalone/0',
  'target-health': 'up',
  'target-scrape-url': 'http://10.244.0.17:9091/metrics',
  targets: JSON.stringify([target]),
  'prometheus-url-in-cluster': 'http://prometheus-k8s.monitoring.svc:9090',
  'grafana-url-in-cluster': 'http://grafana.monitoring.svc:3000',
  'alertmanager-url-in-cluster': 'http://alertmanager-main.monitoring.svc:9093',
  'milvus-endpoint-in-cluster': 'my-release-milvus.milvus.svc:19530',
  'milvus-metrics-url-in-cluster': 'http://my-release-milvus.milvus.svc:9091/metrics',
  'dashboard-url': 'http://127.0.0.1:33000/d/uLf5cJ3Gaa/milvus2-5?var-namespace=milvus&var-instance=my-release',
  'dashboard-panels':
    '[{"row":"Proxy","title":"Search Latency","state":"data","queries":2,"missing":[]},{"row":"Proxy","title":"Cache Hit rate","state":"no data","queries":1,"missing":["milvus_proxy_cache_hit_count"]}]',
  'alert-rule-groups': '[{"prometheusRule":"milvus/my-release-milvus-alerts","group":"milvus-milvus-my-release","rules":6}]',
  'assertion-results':
    '[{"name":"up","query":"up","expected":"result[0] == 1","lastValue":"[1]","held":true,"measurements":1,"failures":0}]',
  'alert-drill-result':
    '{"alert":"MilvusMonitoringActionDrill","prometheusRule":"milvus/my-release-alert-drill","alertmanager":"monitoring/alertmanager-main:web","silenceId":"a1b2","firingMs":2100,"alertmanagerMs":2600,"state":"suppressed","silencedBy":["a1b2"]}',
  'diagnostics-dir': '/tmp/diag',
}

/** Read a GITHUB_OUTPUT file back: `name<<DELIM\nvalue\nDELIM\n` records. */
function parseOutputFile(text: string): Map<string, string> {
  const outputs = new Map<string, string>()
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const head = /^([^<]+)<<(.+)$/.exec(lines[i] ?? '')
    if (!head) continue
    const [, name, delimiter] = head
    const end = lines.indexOf(delimiter ?? '', i + 1)
    expect(end, `no closing delimiter for ${name}`).toBeGreaterThan(i)
    expect(outputs.has(name ?? ''), `${name} set twice`).toBe(false)
    outputs.set(name ?? '', lines.slice(i + 1, end).join('\n'))
    i = end
  }
  return outputs
}

let dir: string
let outputFile: string
let summaryFile: string
const savedEnv = { ...process.env }

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'outputs-test-'))
  outputFile = join(dir, 'output')
  summaryFile = join(dir, 'summary')
  // @actions/core remembers the summary file after its first write, so one path for all tests.
  process.env['GITHUB_STEP_SUMMARY'] = summaryFile
})

beforeEach(() => {
  writeFileSync(outputFile, '')
  writeFileSync(summaryFile, '')
  process.env['GITHUB_OUTPUT'] = outputFile
  process.env['GITHUB_STEP_SUMMARY'] = summaryFile
  // setOutput also writes an end of line to stdout; keep the test output clean.
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  return () => vi.restoreAllMocks()
})

afterAll(() => {
  process.env = savedEnv
  rmSync(dir, { recursive: true, force: true })
})

describe('setOutputs', () => {
  it('writes every output, once, with its value', () => {
    setOutputs(result)
    const written = parseOutputFile(readFileSync(outputFile, 'utf8'))
    expect([...written.keys()].sort()).toEqual([...OUTPUT_NAMES].sort())
    expect(Object.fromEntries(written)).toEqual(expectedOutputs)
  })

  it('writes an empty scrape URL and health none when there is no target', () => {
    setOutputs({ ...result, targets: [] })
    const written = parseOutputFile(readFileSync(outputFile, 'utf8'))
    expect(written.get('target-scrape-url')).toBe('')
    expect(written.get('target-health')).toBe('none')
  })

  it('lists every target with its scrape URL, health, last error and labels', () => {
    const down = {
      ...target,
      scrapeUrl: 'http://10.244.0.18:9091/metrics',
      health: 'down' as const,
      lastError: 'connection refused',
      labels: { ...target.labels, pod: 'p2' },
    }
    const listed = JSON.parse(outputValues({ ...result, targets: [target, down] }).targets) as TargetState[]
    expect(listed).toEqual([target, down])
    expect(listed.map((t) => [t.scrapeUrl, t.health, t.lastError, t.labels.pod])).toEqual([
      ['http://10.244.0.17:9091/metrics', 'up', '', 'my-release-milvus-standalone-7d9f8-abcde'],
      ['http://10.244.0.18:9091/metrics', 'down', 'connection refused', 'p2'],
    ])
    expect(outputValues({ ...result, targets: [] }).targets).toBe('[]')
  })

  it('gives the first scrape URL of several targets', () => {
    const second = { ...target, scrapeUrl: 'http://10.244.0.18:9091/metrics' }
    expect(outputValues({ ...result, targets: [target, second] })['target-scrape-url']).toBe(target.scrapeUrl)
  })

  it('has a value for every name in OUTPUT_NAMES and nothing else', () => {
    expect(Object.keys(outputValues(result)).sort()).toEqual([...OUTPUT_NAMES].sort())
    expect(new Set(OUTPUT_NAMES).size).toBe(OUTPUT_NAMES.length)
  })

  it.skipIf(!existsSync('action.yml'))('names exactly the outputs action.yml declares', () => {
    const action = parse(readFileSync('action.yml', 'utf8')) as { outputs: Record<string, unknown> }
    expect(Object.keys(action.outputs).sort()).toEqual([...OUTPUT_NAMES].sort())
  })
})

describe('targetHealth', () => {
  it.each<[TargetState['health'][], string]>([
    [[], 'none'],
    [['up'], 'up'],
    [['up', 'up', 'up'], 'up'],
    [['up', 'down'], 'down'],
    [['unknown', 'down'], 'down'],
    [['up', 'unknown'], 'unknown'],
  ])('%j -> %s', (healths, expected) => {
    expect(targetHealth(healths.map((health) => ({ ...target, health })))).toBe(expected)
  })
})

describe('in-cluster endpoints', () => {
  // The chart's milvus.fullname helper: same Service name in standalone and cluster mode.
  it.each<[string, Record<string, unknown> | undefined, string]>([
    ['my-release', undefined, 'my-release-milvus'],
    ['ci', {}, 'ci-milvus'],
    ['milvus', undefined, 'milvus'],
    ['milvus-ci', undefined, 'milvus-ci'],
    ['ci-milvus-2', undefined, 'ci-milvus-2'],
    ['my-release', { nameOverride: 'vectordb' }, 'my-release-vectordb'],
    ['vectordb-1', { nameOverride: 'vectordb' }, 'vectordb-1'],
    ['my-release', { fullnameOverride: 'milvus-under-test' }, 'milvus-under-test'],
    ['my-release', { fullnameOverride: `${'a'.repeat(62)}-b` }, 'a'.repeat(62)],
    ['my-release', { fullnameOverride: 42 }, 'my-release-milvus'],
    ['a'.repeat(53), undefined, `${'a'.repeat(53)}-milvus`],
  ])('release %s with values %j -> Service %s', (release, values, service) => {
    expect(milvusServiceName(release, values)).toBe(service)
  })

  it('builds the kube-prometheus and Milvus Service URLs', () => {
    expect(inClusterEndpoints('vector', 'ci', { nameOverride: 'mv' }, KUBE_PROMETHEUS_STACK)).toEqual({
      prometheusUrl: 'http://prometheus-k8s.monitoring.svc:9090',
      grafanaUrl: 'http://grafana.monitoring.svc:3000',
      alertmanagerUrl: 'http://alertmanager-main.monitoring.svc:9093',
      milvusEndpoint: 'ci-mv.vector.svc:19530',
      milvusMetricsUrl: 'http://ci-mv.vector.svc:9091/metrics',
    })
  })
})

describe('renderSummary', () => {
  it('names the target, its health, the endpoints, tools and phases', () => {
    const html = renderSummary(result)
    expect(html).toContain('<h2>Milvus monitoring: Prometheus scrapes Milvus</h2>')
    expect(html).toContain('1 of 1 Milvus target up')
    expect(html).toContain(
      '<tr><td><code>serviceMonitor/milvus/my-release-milvus-standalone/0</code></td>' +
        '<td><code>http://10.244.0.17:9091/metrics</code></td><td>✅ up</td><td>2025-11-24T15:30:12.345Z</td><td></td></tr>',
    )
    expect(html).toContain(
      '<tr><td>Milvus gRPC</td><td><code>127.0.0.1:19530</code></td><td><code>my-release-milvus.milvus.svc:19530</code></td></tr>',
    )
    expect(html).toContain('<td>v1.35.2</td>')
    expect(html).toContain('<td>v4.1.4</td>')
    expect(html).toContain('<tr><td>deploy kube-prometheus</td><td>1m 35s</td></tr>')
    // The timeline right after the targets, its fence after a blank line so Markdown reads it.
    expect(html).toContain('</table>\n<h3>Timeline</h3>\n\n\n```mermaid\ngantt\n')
    expect(html).toContain(`  deploy kube-prometheus :done, p1, ${result.startedAt + 4_200}, 95000ms\n`)
  })

  it('shows every target, a down one with its error', () => {
    const down: TargetState = {
      ...target,
      scrapeUrl: 'http://10.244.0.18:9091/metrics',
      health: 'down',
      lastError: 'Get "http://10.244.0.18:9091/metrics": context deadline exceeded',
    }
    const html = renderSummary({ ...result, targets: [target, down] })
    expect(html).toContain('<h2>Milvus monitoring: targets down</h2>')
    expect(html).toContain('1 of 2 Milvus targets up')
    expect(html).toContain('<td>❌ down</td>')
    expect(html).toContain('Get &quot;http://10.244.0.18:9091/metrics&quot;: context deadline exceeded')
  })

  it('escapes HTML from the cluster', () => {
    const html = renderSummary({ ...result, targets: [{ ...target, lastError: '<script>alert(1)</script>' }] })
    expect(html).not.toContain('<script>')
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
  })

  it('shows nothing that looks like a secret', () => {
    const leaky: RunResult = {
      ...result,
      endpoints: { ...result.endpoints, prometheusUrl: 'http://admin:hunter2@127.0.0.1:39090' },
      targets: [
        {
          ...target,
          scrapeUrl: 'https://10.244.0.17:9091/metrics?token=s3cr3t-token&x=1',
          health: 'down',
          lastError: 'server returned 401; sent Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig password=pa55word',
        },
      ],
    }
    const html = renderSummary(leaky)
    for (const secret of ['hunter2', 's3cr3t-token', 'eyJhbGciOiJIUzI1NiJ9', 'pa55word']) {
      expect(html).not.toContain(secret)
    }
    expect(html).toContain('http://***@127.0.0.1:39090')
    expect(html).toContain('token=***&amp;x=1')
    // The target labels (pod names and such) are not in the summary at all.
    expect(renderSummary(result)).not.toContain('7d9f8-abcde')
  })
})

describe('redact', () => {
  it.each([
    ['http://user:pass@host/x', 'http://***@host/x'],
    ['oci://robot$ci:tok@registry.example/charts', 'oci://***@registry.example/charts'],
    ['https://h/a?X-Amz-Signature=abc123&b=2', 'https://h/a?X-Amz-Signature=***&b=2'],
    ['https://h/a?api_key=abc', 'https://h/a?api_key=***'],
    ['Authorization: Basic dXNlcjpwYXNz', 'Authorization: Basic ***'],
    ['secret: "a b c"', 'secret: ***'],
    ['http://10.0.0.1:9091/metrics', 'http://10.0.0.1:9091/metrics'],
    ['context deadline exceeded', 'context deadline exceeded'],
  ])('%s -> %s', (text, expected) => {
    expect(redact(text)).toBe(expected)
  })
})

describe('writing the job summary', () => {
  it('writes the summary to GITHUB_STEP_SUMMARY', async () => {
    await writeSummary(result)
    const written = readFileSync(summaryFile, 'utf8')
    expect(written).toBe(renderSummary(result))
    expect(written).toContain('serviceMonitor/milvus/my-release-milvus-standalone/0')
  })

  it('writes the failure summary with the error and the phases so far', async () => {
    const error = new TimeoutError('Prometheus to scrape milvus/my-release-milvus-standalone', 600_000, 900_000)
    const phases = [
      { name: 'install tools', startMs: 0, ms: 3_000, outcome: 'done' as const },
      { name: 'wait for the scrape', startMs: 3_000, ms: 600_000, outcome: 'failed' as const },
    ]
    const failure = { error, phases, startedAt: Date.UTC(2025, 10, 24, 15, 28, 0) }
    await writeFailureSummary(failure)
    const written = readFileSync(summaryFile, 'utf8')
    expect(written).toBe(renderFailureSummary(failure))
    expect(written).toContain('<h2>Milvus monitoring failed</h2>')
    expect(written).toContain('Timed out waiting for Prometheus to scrape milvus/my-release-milvus-standalone after 10m 00s')
    expect(written).toContain('raise the `timeout` input')
    expect(written).toContain('<tr><td>wait for the scrape</td><td>10m 00s</td></tr>')
  })

  it('says so when no phase ran', () => {
    expect(renderFailureSummary({ error: new Error('bad input'), phases: [], startedAt: 0 })).toContain('<p>No phase ran.</p>')
  })

  it('skips quietly outside GitHub Actions', async () => {
    delete process.env['GITHUB_STEP_SUMMARY']
    await expect(writeSummary(result)).resolves.toBeUndefined()
    expect(readFileSync(summaryFile, 'utf8')).toBe('')
  })
})
