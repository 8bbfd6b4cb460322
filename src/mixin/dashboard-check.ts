// The dashboard data check: every panel's PromQL and every template variable's query of the
// Grafana dashboard, asked of the run's Prometheus with the variables filled in for the release,
// and each panel classified as showing data, no data (with the metric selectors that select
// nothing) or a query error; coverage per dashboard row.
//
// The pure parts (the dashboard's shapes, the panels and variables, the substitution as Grafana's
// Prometheus datasource does it, the classification) come first; checkDashboard asks Prometheus.
import type { PrometheusRequest } from '../prometheus/api.ts'
import { queryPath } from '../prometheus/api.ts'
import type { DashboardCheck, PanelCheck, RowCoverage, VariableCheck } from '../types.ts'
export type { DashboardCheck, PanelCheck, RowCoverage, VariableCheck }

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : [])

/** The row of the panels above the first row panel. */
export const NO_ROW = '(no row)'

/**
 * The dashboard model of any of Grafana's file shapes: the model itself, the export for sharing
 * (`__inputs`, `${DS_…}` datasources: the same model), or the API's `{dashboard, meta}` answer.
 */
export function unwrapDashboard(json: unknown): unknown {
  return isObject(json) && isObject(json['dashboard']) && !Array.isArray(json['panels']) ? json['dashboard'] : json
}

/** unwrapDashboard's model; throws when it has neither panels nor (the old schema's) rows. */
export function dashboardModel(json: unknown): Json {
  const d = unwrapDashboard(json)
  if (!isObject(d) || (!Array.isArray(d['panels']) && !Array.isArray(d['rows'])))
    throw new Error('the dashboard JSON has neither panels nor rows: is it a Grafana dashboard?')
  return d
}

/** The plugin of each `${DS_…}` input of a dashboard exported for sharing ('prometheus', 'loki'). */
function inputPlugins(d: Json): Map<string, string> {
  return new Map(list(d['__inputs']).map((i) => [String(i['name']), String(i['pluginId'] ?? '')]))
}

/**
 * Whether a target's (else its panel's) datasource is Prometheus: its `type`, or for the string
 * forms the export's `__inputs` plugin; a variable (`$datasource`) or none is the default, taken
 * for Prometheus.
 */
function isPrometheus(ds: unknown, plugins: Map<string, string>): boolean | undefined {
  if (ds === undefined || ds === null) return undefined
  if (isObject(ds)) {
    if (typeof ds['type'] === 'string') return ds['type'] === 'prometheus'
    ds = ds['uid']
  }
  if (typeof ds !== 'string') return undefined
  const input = /^\$\{(DS_[^}]+)\}$/.exec(ds)?.[1]
  if (input && plugins.has(input)) return plugins.get(input) === 'prometheus'
  if (ds.startsWith('-- ') || ds === '__expr__') return false // -- Grafana --, -- Mixed --, expressions
  return undefined
}

export interface PanelQuery {
  refId: string
  expr: string
}

export interface DashboardPanel {
  row: string
  title: string
  /** The panel's visible PromQL targets (hidden ones are kept when every target is hidden). */
  queries: PanelQuery[]
}

/**
 * Every panel with PromQL, in the dashboard's order: rows' panels (collapsed rows hold them in
 * `panels`) under the row's title, the old `rows` schema too; panels with no Prometheus target
 * (text, library panels without their model, other datasources) are left out.
 */
export function dashboardPanels(d: Json): DashboardPanel[] {
  const plugins = inputPlugins(d)
  const out: DashboardPanel[] = []
  const add = (p: Json, row: string): void => {
    const targets = list(p['targets']).filter(
      (t) =>
        typeof t['expr'] === 'string' &&
        t['expr'].trim() !== '' &&
        (isPrometheus(t['datasource'], plugins) ?? isPrometheus(p['datasource'], plugins) ?? true),
    )
    const shown = targets.filter((t) => t['hide'] !== true)
    const queries = (shown.length > 0 ? shown : targets).map((t) => ({ refId: String(t['refId'] ?? ''), expr: String(t['expr']) }))
    if (queries.length > 0) out.push({ row, title: String(p['title'] ?? ''), queries })
    for (const child of list(p['panels'])) add(child, row) // a collapsed row's panels (or a nested one)
  }
  let row = NO_ROW
  for (const p of list(d['panels'])) {
    if (p['type'] === 'row') {
      row = String(p['title'] ?? '') || NO_ROW
      for (const child of list(p['panels'])) add(child, row)
    } else add(p, row)
  }
  for (const r of list(d['rows'])) for (const p of list(r['panels'])) add(p, String(r['title'] ?? '') || NO_ROW)
  return out
}

export interface TemplateVariable {
  name: string
  type: string
  /** A query variable's query (the new editor's `{query}` object read), or a custom/constant/interval's text. */
  query: string
  /** The variable's `regex` filter of a query's values. */
  regex: string
  multi: boolean
  includeAll: boolean
  allValue?: string
  /** The current value as saved in the file. */
  current: string[]
}

/** The dashboard's template variables. */
export function templateVariables(d: Json): TemplateVariable[] {
  const templating = isObject(d['templating']) ? d['templating'] : {}
  return list(templating['list']).map((v) => {
    const q = v['query']
    const query = isObject(q) ? String(q['query'] ?? '') : String(q ?? v['definition'] ?? '')
    const cur = isObject(v['current']) ? v['current']['value'] : undefined
    const current = (Array.isArray(cur) ? cur : cur === undefined || cur === null ? [] : [cur]).map(String)
    return {
      name: String(v['name'] ?? ''),
      type: String(v['type'] ?? ''),
      query,
      regex: typeof v['regex'] === 'string' ? v['regex'] : '',
      multi: v['multi'] === true,
      includeAll: v['includeAll'] === true,
      ...(typeof v['allValue'] === 'string' && v['allValue'] !== '' ? { allValue: v['allValue'] } : {}),
      current,
    }
  })
}

/** What a variable stands for: its values, or All. */
export interface VariableValue {
  values: string[]
  /** All of them selected: the allValue when the variable has one, else the values. */
  all?: boolean
  allValue?: string
  /** Several values possible (multi or All): Grafana formats them as a regex alternation. */
  multi?: boolean
}

/** Grafana's $__interval and friends for an instant check: the scrape interval as the step, the dashboard's range. */
export function builtinValues(scrapeIntervalMs: number, rangeMs: number, nowMs: number): Record<string, string> {
  const step = Math.max(1000, Math.round(scrapeIntervalMs))
  return {
    __interval: promDuration(step),
    __interval_ms: String(step),
    // Grafana: max($__interval + scrape interval, 4 × scrape interval).
    __rate_interval: promDuration(Math.max(step + step, 4 * step)),
    __rate_interval_ms: String(Math.max(step + step, 4 * step)),
    __range: promDuration(rangeMs),
    __range_s: String(Math.round(rangeMs / 1000)),
    __range_ms: String(rangeMs),
    __from: String(nowMs - rangeMs),
    __to: String(nowMs),
  }
}

/** A duration in its largest whole unit, as Grafana writes them ('2m', '6h', '15s', '500ms'). */
function promDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}

/** The dashboard's range (`time.from` 'now-6h' and the like) in ms; 1h when it does not say. */
export function dashboardRangeMs(d: Json): number {
  const from = isObject(d['time']) ? String(d['time']['from'] ?? '') : ''
  const m = /^now-(\d+)([smhdwMy])$/.exec(from)
  const unit: Record<string, number> = {
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
    M: 2_592_000_000,
    y: 31_536_000_000,
  }
  return m ? Number(m[1]) * (unit[m[2] ?? ''] ?? 0) : 3_600_000
}

// Grafana's Prometheus datasource: a value of a multi or All variable is regex-escaped, a single
// value only gets its backslashes and single quotes escaped.
const regexEscape = (s: string): string => s.replace(/[\\^$*+?.()|{}[\]]/g, '\\$&')
const plainEscape = (s: string): string => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")

/** One variable's text in a query, in Grafana's `${var:format}` format (default: the Prometheus datasource's). */
export function formatValue(v: VariableValue, format: string | undefined): string {
  if (v.all && v.allValue !== undefined && (format === undefined || format === 'regex' || format === 'raw')) return v.allValue
  const values = v.values
  switch (format) {
    case 'raw':
    case 'text':
      return values.join(',')
    case 'csv':
      return values.join(',')
    case 'pipe':
      return values.join('|')
    case 'regex':
      return values.length === 1 ? regexEscape(values[0]!) : `(${values.map(regexEscape).join('|')})`
    case 'json':
      return JSON.stringify(values.length === 1 && !v.multi ? values[0] : values)
    case 'doublequote':
      return values.map((x) => `"${x}"`).join(',')
    case 'singlequote':
      return values.map((x) => `'${x}'`).join(',')
    case 'glob':
      return values.length === 1 ? values[0]! : `{${values.join(',')}}`
    case 'percentencode':
      return encodeURIComponent(values.join(','))
    case 'queryparam':
      return values.map((x) => `var-${encodeURIComponent(x)}`).join('&')
    default:
      if (!v.multi && !v.all) return plainEscape(values[0] ?? '')
      return values.length === 1 ? regexEscape(values[0]!) : `(${values.map(regexEscape).join('|')})`
  }
}

// $var, ${var}, ${var:format}, ${var.field} (field ignored), [[var]], [[var:format]]
const VARIABLE =
  /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\.[^}:]*)?(?::([A-Za-z]+))?\}|\[\[([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?\]\]|\$([A-Za-z_][A-Za-z0-9_]*)/g

/**
 * The query with every known variable and built-in filled in; unknown names are left as they are
 * (see unresolvedVariables). A longer name wins over a prefix (`$__rate_interval` over `$__rate`).
 */
export function substitute(expr: string, vars: ReadonlyMap<string, VariableValue>, builtins: Record<string, string>): string {
  return expr.replace(VARIABLE, (whole, n1?: string, f1?: string, n2?: string, f2?: string, n3?: string) => {
    const name = n1 ?? n2 ?? n3 ?? ''
    const builtin = builtins[name]
    if (builtin !== undefined) return builtin
    const v = vars.get(name)
    return v ? formatValue(v, f1 ?? f2) : whole
  })
}

/** The variable references left in a query. */
export function unresolvedVariables(expr: string): string[] {
  return [...new Set([...expr.matchAll(VARIABLE)].map((m) => m[0]))]
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
  'atan2',
])

/**
 * The vector selectors of a query (`metric{…}`, `metric`, `{__name__="metric",…}`), as written,
 * with their metric names: what is asked again to say which metrics select nothing. String
 * literals, durations and grouping label lists are not taken for metrics.
 */
export function metricSelectors(expr: string): Array<{ metric: string; selector: string }> {
  const out = new Map<string, string>()
  let i = 0
  const skipString = (at: number): number => {
    const q = expr[at]!
    let j = at + 1
    while (j < expr.length && expr[j] !== q) j += expr[j] === '\\' ? 2 : 1
    return j + 1
  }
  const braceEnd = (at: number): number => {
    let j = at + 1
    while (j < expr.length && expr[j] !== '}') j = expr[j] === '"' || expr[j] === "'" || expr[j] === '`' ? skipString(j) : j + 1
    return j + 1
  }
  while (i < expr.length) {
    const c = expr[i]!
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(i)
    } else if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++
    } else if (c === '[') {
      i = expr.indexOf(']', i) + 1 || expr.length
    } else if (c === '{') {
      const end = braceEnd(i)
      const sel = expr.slice(i, end)
      const name = /__name__\s*=\s*"([^"]+)"/.exec(sel)?.[1]
      if (name) out.set(sel, name)
      i = end
    } else if (/[A-Za-z_:]/.test(c)) {
      const word = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(expr.slice(i))![0]
      let j = i + word.length
      while (expr[j] === ' ' || expr[j] === '\t' || expr[j] === '\n') j++
      const grouping = /^(by|without|on|ignoring|group_left|group_right)$/i.test(word)
      if (grouping && expr[j] === '(') {
        i = expr.indexOf(')', j) + 1 || expr.length
      } else if (expr[j] === '(' || KEYWORDS.has(word.toLowerCase()) || /^(by|without)\s*\(/i.test(expr.slice(j))) {
        i += word.length
      } else {
        const end = expr[j] === '{' ? braceEnd(j) : i + word.length
        out.set(expr.slice(i, end).replace(/\s+(?=\{)/, ''), word)
        i = end
      }
      continue
    } else if (/[0-9.]/.test(c)) {
      // a duration (5m, 1h30m), a hex or a decimal number
      i += /^(?:(?:\d+(?:ms|[smhdwy]))+|0[xX][0-9a-fA-F]+|[0-9.]+(?:[eE][+-]?\d+)?)/.exec(expr.slice(i))?.[0].length ?? 1
    } else i++
  }
  return [...out].map(([selector, metric]) => ({ metric, selector }))
}

/** What one query answered: series (or a scalar) or none, or an error. */
export type QueryAnswer = { series: number } | { error: string }

/**
 * A panel's verdict from its queries' answers: a query error (any), else data (a query with a
 * series), else no data. `missing` names the metrics whose selectors selected nothing.
 */
export function classifyPanel(panel: DashboardPanel, answers: QueryAnswer[], missing: string[]): PanelCheck {
  const errors = answers.flatMap((a, i) => ('error' in a ? [`${panel.queries[i]?.refId || `#${i + 1}`}: ${a.error}`] : []))
  const data = answers.some((a) => 'series' in a && a.series > 0)
  const state: PanelCheck['state'] = errors.length > 0 ? 'error' : data ? 'data' : 'no data'
  return {
    row: panel.row,
    title: panel.title,
    state,
    queries: panel.queries.length,
    missing: [...new Set(missing)].sort(),
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
  }
}

/** Coverage per row, in the dashboard's order: panels with data of the panels checked. */
export function coverageByRow(panels: PanelCheck[]): RowCoverage[] {
  const rows = new Map<string, RowCoverage>()
  for (const p of panels) {
    const r = rows.get(p.row) ?? { row: p.row, panels: 0, data: 0, noData: 0, errors: 0 }
    r.panels++
    if (p.state === 'data') r.data++
    else if (p.state === 'no data') r.noData++
    else r.errors++
    rows.set(p.row, r)
  }
  return [...rows.values()]
}

/** Percent of panels with data, one decimal; 100 for a dashboard with no panel to check. */
export function coveragePercent(panels: PanelCheck[]): number {
  if (panels.length === 0) return 100
  return Math.round((1000 * panels.filter((p) => p.state === 'data').length) / panels.length) / 10
}

/** Why the gate fails, or undefined when it holds: query errors, or coverage under `minCoverage` percent. */
export function gateProblem(check: DashboardCheck, minCoverage: number): string | undefined {
  const errors = [
    ...check.variables.filter((v) => v.error).map((v) => `variable ${v.name}: ${v.error}`),
    ...check.panels.filter((p) => p.state === 'error').map((p) => `${p.row} / ${p.title}: ${p.error}`),
  ]
  const problems: string[] = []
  if (errors.length > 0)
    problems.push(
      `${errors.length} quer${errors.length === 1 ? 'y' : 'ies'} of the dashboard failed (${errors.slice(0, 5).join('; ')}${errors.length > 5 ? '; …' : ''})`,
    )
  if (check.coverage < minCoverage) {
    const empty = check.panels
      .filter((p) => p.state === 'no data')
      .slice(0, 5)
      .map((p) => `${p.row} / ${p.title}${p.missing.length > 0 ? ` (${p.missing.join(', ')})` : ''}`)
    problems.push(
      `${check.coverage}% of the panels show data, under dashboard-min-coverage ${minCoverage}% (no data: ${empty.join('; ')}${check.panels.length - empty.length > 5 ? '; …' : ''})`,
    )
  }
  return problems.length > 0
    ? `Dashboard data check: ${problems.join('; and ')}. The dashboard-panels output lists every panel; a dashboard for another Milvus version names metrics this one does not export.`
    : undefined
}

// ---------------------------------------------------------------------------------------------
// Asking Prometheus.

interface ApiAnswer {
  status?: string
  error?: string
  data?: unknown
}

function apiData(answer: unknown): unknown {
  const a = answer as ApiAnswer
  if (a?.status !== 'success') throw new Error(a?.error ?? 'Prometheus did not answer success')
  return a.data
}

/** The values of a variable query: label_values, label_names, metrics, query_result. */
export async function variableValues(query: string, ask: (path: string) => Promise<unknown>, startS: number): Promise<string[]> {
  const q = query.trim()
  let m: RegExpExecArray | null
  if ((m = /^label_values\(\s*(?:(.+?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)$/s.exec(q))) {
    const match = m[1] ? `&match[]=${encodeURIComponent(m[1])}` : ''
    return (apiData(await ask(`/api/v1/label/${encodeURIComponent(m[2]!)}/values?start=${startS}${match}`)) as string[]) ?? []
  }
  if ((m = /^label_names\(\s*(.*?)\s*\)$/s.exec(q))) {
    const match = m[1] ? `&match[]=${encodeURIComponent(m[1])}` : ''
    return (apiData(await ask(`/api/v1/labels?start=${startS}${match}`)) as string[]) ?? []
  }
  if ((m = /^metrics\(\s*(.*?)\s*\)$/s.exec(q))) {
    const names = (apiData(await ask(`/api/v1/label/__name__/values?start=${startS}`)) as string[]) ?? []
    const re = new RegExp(m[1] ?? '')
    return names.filter((n) => re.test(n))
  }
  const expr = /^query_result\((.*)\)$/s.exec(q)?.[1] ?? q
  const data = apiData(await ask(queryPath(expr))) as { resultType?: string; result?: unknown }
  if (data.resultType !== 'vector' && data.resultType !== 'matrix') return [String((data.result as unknown[])?.[1] ?? '')]
  return ((data.result as Array<{ metric: Record<string, string>; value?: [number, string] }>) ?? []).map((s) => {
    const { __name__: name = '', ...labels } = s.metric
    return `${name}{${Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(', ')}} ${s.value?.[1] ?? ''} ${s.value ? Math.round(s.value[0] * 1000) : ''}`
  })
}

/** A variable's `regex` (`/re/flags`) over its values: the first group (or `value`), distinct. */
export function filterValues(values: string[], regex: string): string[] {
  if (regex === '') return values
  const m = /^\/(.*)\/([a-z]*)$/s.exec(regex)
  const re = new RegExp(m ? m[1]! : regex, m ? m[2]!.replace('g', '') : '')
  const out: string[] = []
  for (const v of values) {
    const hit = re.exec(v)
    if (!hit) continue
    const picked = hit.groups?.['value'] ?? hit.groups?.['text'] ?? hit[1] ?? hit[0]
    if (!out.includes(picked)) out.push(picked)
  }
  return out
}

/** The number of series (1 for a scalar or a string) of an instant query's answer. */
function seriesOf(answer: unknown): number {
  const data = apiData(answer) as { resultType?: string; result?: unknown }
  if (data.resultType === 'scalar' || data.resultType === 'string') return 1
  return Array.isArray(data.result) ? data.result.length : 0
}

export interface CheckContext {
  request: PrometheusRequest
  /** Variables set for the release whatever their query answers (namespace, instance). */
  overrides: Record<string, string>
  scrapeIntervalMs: number
  signal: AbortSignal
  /** Requests in flight at once. */
  concurrency?: number
  now?: () => number
}

/**
 * Evaluates the dashboard against Prometheus: its variables in order (each query variable's query
 * with the variables before it filled in; `overrides` win), then every panel's queries as instant
 * queries, and for a query that selects nothing, each of its selectors whose metric Prometheus
 * has at all, to name the metrics missing. Rejects only when `signal` aborts; Prometheus' errors are part of the result.
 */
export async function checkDashboard(json: unknown, c: CheckContext): Promise<DashboardCheck> {
  const d = dashboardModel(json)
  const nowMs = (c.now ?? Date.now)()
  const rangeMs = dashboardRangeMs(d)
  const startS = Math.floor((nowMs - rangeMs) / 1000)
  const builtins = builtinValues(c.scrapeIntervalMs, rangeMs, nowMs)
  const cache = new Map<string, Promise<unknown>>()
  let running = 0
  const waiting: Array<() => void> = []
  const limit = c.concurrency ?? 8
  const ask = (path: string): Promise<unknown> => {
    let p = cache.get(path)
    if (!p) {
      p = (async () => {
        if (running >= limit) await new Promise<void>((r) => waiting.push(r))
        running++
        try {
          return await c.request(path, c.signal)
        } finally {
          running--
          waiting.shift()?.()
        }
      })()
      cache.set(path, p)
    }
    return p
  }
  const message = (e: unknown): string => {
    c.signal.throwIfAborted()
    const body = (e as { body?: unknown }).body
    const fromBody = typeof body === 'string' ? /"error":"([^"]*)"/.exec(body)?.[1] : undefined
    return fromBody ?? (e instanceof Error ? e.message : String(e))
  }

  // Every metric name Prometheus holds, asked once (no time range: whatever its lookback, an
  // instant query cannot select a series older than its storage): a selector whose metric is not
  // among them selects nothing, so only the others are asked again one by one. Without an answer
  // every selector is asked.
  let names: Promise<Set<string> | undefined> | undefined
  const knownNames = (): Promise<Set<string> | undefined> =>
    (names ??= ask('/api/v1/label/__name__/values').then(
      (a) => new Set(apiData(a) as string[]),
      () => undefined,
    ))

  const vars = new Map<string, VariableValue>()
  const variables: VariableCheck[] = []
  for (const v of templateVariables(d)) {
    const override = c.overrides[v.name]
    let values: string[] = []
    let error: string | undefined
    if (v.type === 'query') {
      const query = substitute(v.query, vars, builtins)
      const left = unresolvedVariables(query)
      if (left.length > 0) error = `unknown variable ${left.join(', ')}`
      else {
        try {
          values = filterValues(await variableValues(query, ask, startS), v.regex)
        } catch (e) {
          error = message(e)
        }
      }
      variables.push({ name: v.name, query, values: values.length, ...(error ? { error } : {}) })
    } else if (v.type === 'custom') {
      values = v.query
        .split(/(?<!\\),/)
        .map((s) => s.split(' : ').at(-1)!.trim().replace(/\\,/g, ','))
        .filter((s) => s !== '')
    } else if (v.type === 'constant' || v.type === 'textbox') {
      values = [v.current[0] ?? v.query]
    } else if (v.type === 'interval') {
      values = [v.current.find((x) => !x.startsWith('$__auto')) ?? v.query.split(',')[0]?.trim() ?? builtins['__interval']!]
    } else if (v.type === 'datasource') {
      values = [v.current[0] ?? 'prometheus']
    } else continue // adhoc filters and the like add no text to a query
    if (override !== undefined) vars.set(v.name, { values: [override] })
    else if (v.includeAll && (v.current.includes('$__all') || v.current.length === 0 || !v.current.some((x) => values.includes(x)))) {
      vars.set(v.name, { values, all: true, multi: true, ...(v.allValue !== undefined ? { allValue: v.allValue } : {}) })
    } else {
      const kept = v.current.filter((x) => values.includes(x))
      vars.set(v.name, { values: kept.length > 0 ? kept : values.slice(0, 1), multi: v.multi })
    }
  }

  const panels = await Promise.all(
    dashboardPanels(d).map(async (panel) => {
      const missing: string[] = []
      const answers = await Promise.all(
        panel.queries.map(async (q): Promise<QueryAnswer> => {
          const expr = substitute(q.expr, vars, builtins)
          const left = unresolvedVariables(expr)
          if (left.length > 0) return { error: `unknown variable ${left.join(', ')}` }
          let series: number
          try {
            series = seriesOf(await ask(queryPath(expr)))
          } catch (e) {
            return { error: message(e) }
          }
          if (series === 0) {
            for (const s of metricSelectors(expr)) {
              const known = await knownNames()
              const found = known && !known.has(s.metric) ? 0 : await ask(queryPath(`group(${s.selector})`)).then(seriesOf, () => 1)
              if (found === 0) missing.push(s.metric)
            }
          }
          return { series }
        }),
      )
      return classifyPanel(panel, answers, missing)
    }),
  )
  return { title: String(d['title'] ?? ''), panels, variables, rows: coverageByRow(panels), coverage: coveragePercent(panels) }
}
