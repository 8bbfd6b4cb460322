import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  NO_ROW,
  builtinValues,
  checkDashboard,
  classifyPanel,
  coverageByRow,
  dashboardModel,
  dashboardPanels,
  filterValues,
  formatValue,
  gateProblem,
  metricSelectors,
  substitute,
  templateVariables,
  unresolvedVariables,
  type VariableValue,
} from '../../src/mixin/dashboard-check.ts'
import type { PrometheusRequest } from '../../src/prometheus/api.ts'

const fixtures = process.env['MILVUS_ACTION_FIXTURES'] ?? '/work/shared/fixtures'
const milvus = JSON.parse(readFileSync(join(fixtures, 'grafana', 'milvus-dashboard.json'), 'utf8')) as unknown

describe('the official Milvus dashboard', () => {
  const d = dashboardModel(milvus)
  const panels = dashboardPanels(d)

  it('yields every panel with PromQL, collapsed rows included, under its row', () => {
    expect(panels).toHaveLength(154)
    expect(panels.reduce((n, p) => n + p.queries.length, 0)).toBe(230) // 235 targets: 2 without expr, 3 hidden
    expect([...new Set(panels.map((p) => p.row))]).toEqual([
      'Service Quality',
      'Dependencies',
      'Proxy',
      'Root Coordinator',
      'Query Coordinator',
      'Query Node',
      'Knowhere',
      'Data Coordinator',
      'Data Node',
      'Index Node',
      'Runtime',
    ])
    expect(panels.find((p) => p.title === 'Go Heap in Use')?.row).toBe('Runtime')
  })

  it('reads its variables, the new query editor form included', () => {
    const vars = templateVariables(d)
    expect(vars.map((v) => [v.name, v.type])).toEqual([
      ['datasource', 'datasource'],
      ['namespace', 'query'],
      ['instance', 'query'],
      ['db', 'query'],
      ['collection', 'query'],
      ['app_name', 'textbox'],
    ])
    expect(vars[1]?.query).toBe('label_values(go_info,namespace)')
    expect(vars[3]).toMatchObject({ includeAll: true, allValue: '.*', current: ['$__all'] })
  })

  it('leaves no variable in any query once filled in', () => {
    const vars = new Map<string, VariableValue>([
      ['namespace', { values: ['milvus'] }],
      ['instance', { values: ['my-release'] }],
      ['app_name', { values: ['milvus'] }],
      ['db', { values: [], all: true, allValue: '.*', multi: true }],
      ['collection', { values: [], all: true, allValue: '.*', multi: true }],
    ])
    const builtins = builtinValues(30_000, 3_600_000, 1_700_000_000_000)
    const exprs = panels.flatMap((p) => p.queries.map((q) => substitute(q.expr, vars, builtins)))
    expect(exprs.filter((e) => e.includes('$'))).toEqual([])
    expect(panels.flatMap((p) => p.queries).filter((q) => q.expr.includes('$__rate_interval'))).toHaveLength(2)
    expect(exprs.filter((e) => e.includes('[2m]')).length).toBeGreaterThanOrEqual(3) // $__rate_interval: 4 × 30s
    expect(exprs[0]).toContain('app_kubernetes_io_instance=~"my-release"')
    expect(exprs[0]).toContain('collection_name=~".*"')
  })
})

describe('dashboard shapes', () => {
  const panel = (title: string, expr: string, extra: Record<string, unknown> = {}) => ({
    type: 'timeseries',
    title,
    targets: [{ refId: 'A', expr, ...extra }],
  })

  it('reads the export for sharing, the API answer and the old rows schema alike', () => {
    const shared = {
      __inputs: [
        { name: 'DS_PROM', type: 'datasource', pluginId: 'prometheus' },
        { name: 'DS_LOKI', type: 'datasource', pluginId: 'loki' },
      ],
      panels: [
        { ...panel('prom', 'up'), datasource: '${DS_PROM}' },
        { ...panel('logs', 'rate({app="x"}[1m])'), datasource: '${DS_LOKI}' },
        { ...panel('typed', 'up'), datasource: { type: 'loki', uid: 'x' } },
        { type: 'text', title: 'notes' },
      ],
    }
    expect(dashboardPanels(dashboardModel(shared)).map((p) => [p.row, p.title])).toEqual([[NO_ROW, 'prom']])
    expect(dashboardPanels(dashboardModel({ dashboard: shared, meta: {} }))).toHaveLength(1)
    expect(dashboardPanels(dashboardModel({ rows: [{ title: 'Old', panels: [panel('a', 'up')] }] })).map((p) => p.row)).toEqual(['Old'])
    expect(() => dashboardModel({ uid: 'x' })).toThrow(/neither panels nor rows/)
  })

  it('keeps hidden targets only when every target is hidden', () => {
    const d = {
      panels: [
        {
          title: 'p',
          targets: [
            { refId: 'A', expr: 'a', hide: true },
            { refId: 'B', expr: 'b' },
          ],
        },
        { title: 'q', targets: [{ refId: 'A', expr: 'c', hide: true }] },
      ],
    }
    expect(dashboardPanels(d).map((p) => p.queries.map((q) => q.expr))).toEqual([['b'], ['c']])
  })
})

describe('substitute', () => {
  const vars = new Map<string, VariableValue>([
    ['ns', { values: ['milvus'] }],
    ['pods', { values: ['a.b', 'c'], multi: true }],
    ['all', { values: ['x', 'y'], all: true, multi: true }],
    ['allv', { values: ['x'], all: true, allValue: '.+', multi: true }],
  ])
  const b = builtinValues(15_000, 21_600_000, 0)
  it.each([
    ['$ns', 'milvus'],
    ['${ns}', 'milvus'],
    ['[[ns]]', 'milvus'],
    ['$pods', '(a\\.b|c)'],
    ['${pods:pipe}', 'a.b|c'],
    ['${pods:csv}', 'a.b,c'],
    ['${pods:regex}', '(a\\.b|c)'],
    ['[[pods:pipe]]', 'a.b|c'],
    ['$all', '(x|y)'],
    ['$allv', '.+'],
    ['rate(x[$__rate_interval])', 'rate(x[1m])'],
    ['$__interval $__range $__range_s', '15s 6h 21600'],
    ['label_replace(up, "a", "$1", "b", "(.*)$")', 'label_replace(up, "a", "$1", "b", "(.*)$")'],
    ['$unknown', '$unknown'],
  ])('%s -> %s', (expr, want) => {
    expect(substitute(expr, vars, b)).toBe(want)
  })

  it('names what it could not fill in', () => {
    expect(unresolvedVariables('up{a="$x", b="${y:csv}", c="$1"}')).toEqual(['$x', '${y:csv}'])
  })

  it('escapes a single value as the Prometheus datasource does', () => {
    expect(formatValue({ values: ["it's"] }, undefined)).toBe("it\\'s")
  })
})

describe('metricSelectors', () => {
  it('finds the selectors, not functions, labels, strings or durations', () => {
    const expr =
      'sum by (pod) (rate(milvus_proxy_req_count{namespace="milvus", status=~"fail|x"}[2m])) / on(pod) group_left(node) kube_pod_info offset 5m > 0 or {__name__="go_info", job="a"}'
    expect(metricSelectors(expr)).toEqual([
      { metric: 'milvus_proxy_req_count', selector: 'milvus_proxy_req_count{namespace="milvus", status=~"fail|x"}' },
      { metric: 'kube_pod_info', selector: 'kube_pod_info' },
      { metric: 'go_info', selector: '{__name__="go_info", job="a"}' },
    ])
  })

  it('reads histogram_quantile over a rate with the by clause after', () => {
    expect(metricSelectors('histogram_quantile(0.99, sum(rate(a_bucket{x="}"}[1m])) by (le))').map((s) => s.metric)).toEqual(['a_bucket'])
  })
})

describe('filterValues', () => {
  it('keeps the first group, distinct', () => {
    expect(filterValues(['pod-a-1', 'pod-a-2', 'pod-b-1', 'other'], '/pod-(\\w)-.*/')).toEqual(['a', 'b'])
    expect(filterValues(['x'], '')).toEqual(['x'])
  })
})

describe('classification', () => {
  const panel = {
    row: 'Proxy',
    title: 'Search',
    queries: [
      { refId: 'A', expr: 'a' },
      { refId: 'B', expr: 'b' },
    ],
  }
  it('is data when a query has a series, no data when none has, an error when one fails', () => {
    expect(classifyPanel(panel, [{ series: 0 }, { series: 2 }], ['a'])).toMatchObject({ state: 'data', missing: ['a'] })
    expect(classifyPanel(panel, [{ series: 0 }, { series: 0 }], ['b', 'a', 'b'])).toEqual({
      row: 'Proxy',
      title: 'Search',
      state: 'no data',
      queries: 2,
      missing: ['a', 'b'],
    })
    expect(classifyPanel(panel, [{ series: 3 }, { error: 'parse error' }], [])).toMatchObject({ state: 'error', error: 'B: parse error' })
  })

  it('sums coverage per row and gates on errors and coverage', () => {
    const panels = [
      classifyPanel({ ...panel, row: 'R1' }, [{ series: 1 }], []),
      classifyPanel({ ...panel, row: 'R1' }, [{ series: 0 }], ['m']),
      classifyPanel({ ...panel, row: 'R2' }, [{ series: 1 }], []),
    ]
    expect(coverageByRow(panels)).toEqual([
      { row: 'R1', panels: 2, data: 1, noData: 1, errors: 0 },
      { row: 'R2', panels: 1, data: 1, noData: 0, errors: 0 },
    ])
    const check = { title: 't', panels, variables: [], rows: coverageByRow(panels), coverage: 66.7 }
    expect(gateProblem(check, 50)).toBeUndefined()
    expect(gateProblem(check, 80)).toMatch(
      /66\.7% of the panels show data, under dashboard-min-coverage 80% \(no data: R1 \/ Search \(m\)\)/,
    )
    expect(gateProblem({ ...check, variables: [{ name: 'ns', query: 'q', values: 0, error: 'bad' }] }, 0)).toMatch(
      /1 query of the dashboard failed \(variable ns: bad\)/,
    )
  })
})

/** A Prometheus API over crafted series: instant queries by exact expression, label values by label. */
function crafted(
  answers: Record<string, unknown[] | string>,
  labels: Record<string, string[]>,
): { request: PrometheusRequest; asked: string[] } {
  const asked: string[] = []
  const request: PrometheusRequest = async (path) => {
    asked.push(decodeURIComponent(path))
    const url = new URL(path, 'http://p')
    const label = /^\/api\/v1\/label\/([^/]+)\/values$/.exec(url.pathname)?.[1]
    if (label) return { status: 'success', data: labels[`${label} ${url.searchParams.get('match[]') ?? ''}`] ?? [] }
    const q = url.searchParams.get('query') ?? ''
    const a = answers[q]
    if (typeof a === 'string')
      throw Object.assign(new Error('HTTP 400 Bad Request'), { body: JSON.stringify({ status: 'error', errorType: 'bad_data', error: a }) })
    return { status: 'success', data: { resultType: 'vector', result: (a ?? []).map(() => ({ metric: {}, value: [0, '1'] })) } }
  }
  return { request, asked }
}

describe('checkDashboard on crafted series', () => {
  const dashboard = {
    title: 'T',
    templating: {
      list: [
        { name: 'namespace', type: 'query', query: 'label_values(go_info, namespace)' },
        { name: 'app', type: 'query', query: { query: 'label_values(go_info{namespace="$namespace"}, app)' }, current: { value: 'gone' } },
        { name: 'step', type: 'custom', query: '1m,5m' },
      ],
    },
    panels: [
      { type: 'row', title: 'Top', panels: [] },
      { title: 'With data', targets: [{ refId: 'A', expr: 'rate(x_total{namespace="$namespace", app="$app"}[$__rate_interval])' }] },
      { title: 'Empty', targets: [{ refId: 'A', expr: 'sum(y{namespace="$namespace"}) / sum(x_total{namespace="$namespace"})' }] },
      { type: 'row', title: 'Broken', collapsed: true, panels: [{ title: 'Bad', targets: [{ refId: 'A', expr: 'rate(x_total[$step)' }] }] },
    ],
  }

  it('fills the variables from Prometheus and the release, and classifies each panel', async () => {
    const { request, asked } = crafted(
      {
        'rate(x_total{namespace="milvus", app="a1"}[2m])': [1, 1],
        'sum(y{namespace="milvus"}) / sum(x_total{namespace="milvus"})': [],
        'group(y{namespace="milvus"})': [],
        'group(x_total{namespace="milvus"})': [1],
        'rate(x_total[1m)': 'parse error: unclosed left bracket',
      },
      { 'namespace go_info': ['other', 'milvus'], 'app go_info{namespace="milvus"}': ['a1', 'a2'], '__name__ ': ['go_info', 'x_total'] },
    )
    const check = await checkDashboard(dashboard, {
      request,
      overrides: { namespace: 'milvus' },
      scrapeIntervalMs: 30_000,
      signal: new AbortController().signal,
      now: () => 1_700_000_000_000,
    })
    expect(check.variables).toEqual([
      { name: 'namespace', query: 'label_values(go_info, namespace)', values: 2 },
      { name: 'app', query: 'label_values(go_info{namespace="milvus"}, app)', values: 2 },
    ])
    expect(check.panels).toEqual([
      { row: 'Top', title: 'With data', state: 'data', queries: 1, missing: [] },
      { row: 'Top', title: 'Empty', state: 'no data', queries: 1, missing: ['y'] },
      { row: 'Broken', title: 'Bad', state: 'error', queries: 1, missing: [], error: 'A: parse error: unclosed left bracket' },
    ])
    expect(check.rows).toEqual([
      { row: 'Top', panels: 2, data: 1, noData: 1, errors: 0 },
      { row: 'Broken', panels: 1, data: 0, noData: 0, errors: 1 },
    ])
    expect(check.coverage).toBe(33.3)
    // Only a query with no series has its selectors asked again, and only those of a metric
    // Prometheus has at all (y has no series: missing without a query of its own).
    expect(asked.filter((a) => a.startsWith('/api/v1/query?query=group('))).toEqual([
      '/api/v1/query?query=group(x_total{namespace="milvus"})',
    ])
    expect(asked.filter((a) => a.startsWith('/api/v1/label/__name__/values'))).toHaveLength(1)
  })

  it('without the metric names, asks every selector of a query with no series', async () => {
    const { request: answering, asked } = crafted(
      {
        'sum(y{namespace="milvus"}) / sum(x_total{namespace="milvus"})': [],
        'group(y{namespace="milvus"})': [],
        'group(x_total{namespace="milvus"})': [1],
      },
      {},
    )
    const request: PrometheusRequest = async (path, signal) => {
      if (path.startsWith('/api/v1/label/__name__/values')) throw new Error('HTTP 503')
      return answering(path, signal)
    }
    const check = await checkDashboard(dashboard, {
      request,
      overrides: { namespace: 'milvus', app: 'a1' },
      scrapeIntervalMs: 30_000,
      signal: new AbortController().signal,
    })
    expect(check.panels.find((p) => p.title === 'Empty')).toMatchObject({ state: 'no data', missing: ['y'] })
    expect(asked).toContain('/api/v1/query?query=group(y{namespace="milvus"})')
    expect(asked).toContain('/api/v1/query?query=group(x_total{namespace="milvus"})')
  })

  it('rejects when the run is aborted', async () => {
    const stop = new AbortController()
    stop.abort(new Error('the run failed'))
    const request: PrometheusRequest = async (_p, signal) => {
      signal.throwIfAborted()
      return {}
    }
    await expect(checkDashboard(dashboard, { request, overrides: {}, scrapeIntervalMs: 30_000, signal: stop.signal })).rejects.toThrow(
      'the run failed',
    )
  })
})
