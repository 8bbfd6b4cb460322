import { describe, expect, it } from 'vitest'
import { TimeoutError } from '../../src/budget.ts'
import { podInfos, type PodReport } from '../../src/report/pods.ts'
import { dashboardCoverageTable, ganttName, renderFailureSummary, timeline, whatFailed } from '../../src/report/summary.ts'
import type { PhaseTiming } from '../../src/types.ts'
import { podList, podObject } from '../support/scripted-kubectl.ts'

// The rules of Mermaid's gantt lexer (packages/mermaid/src/diagrams/gantt/parser/gantt.jison) that a
// line of ours can meet, tried in its order at the line's start, case-insensitive.
const STATEMENTS: Array<[string, RegExp]> = [
  ['dateFormat', /^dateFormat\s[^#\n;]+$/i],
  ['axisFormat', /^axisFormat\s[^#\n;]+$/i],
  ['todayMarker', /^todayMarker\s[^\n;]+$/i],
]
const KEYWORD_START =
  /^(%%|[^}]%|#|gantt|dateFormat\s|inclusiveEndDates|topAxis|axisFormat\s|tickInterval\s|includes\s|excludes\s|todayMarker\s|weekday\s|title\s|accDescription\s|accTitle\s*:|accDescr|section\s|click\s|call\s|href\s|\d\d\d\d-\d\d-\d\d)/i
const TAGS = new Set(['active', 'done', 'crit', 'milestone'])
const DURATION = /^(\d+(?:\.\d+)?)(ms|[Mdhmswy])$/

interface Task {
  name: string
  tags: string[]
  id: string
  start: number
  durationMs: number
}

/** The Mermaid block of `markdown`, read as Mermaid's gantt grammar reads it; throws on what it would reject. */
function readGantt(markdown: string): { statements: Record<string, string>; tasks: Task[] } {
  const open = markdown.indexOf('```mermaid\n')
  if (open < 0) throw new Error('no mermaid block')
  // Markdown reads the fence only after a blank line ends the HTML block before it.
  if (open > 0 && !markdown.slice(0, open).endsWith('\n\n')) throw new Error('no blank line before the fence')
  const close = markdown.indexOf('\n```\n', open)
  const lines = markdown.slice(open + '```mermaid\n'.length, close).split('\n')
  if (lines[0] !== 'gantt') throw new Error(`first line ${lines[0]}`)
  const statements: Record<string, string> = {}
  const tasks: Task[] = []
  for (const raw of lines.slice(1)) {
    const line = raw.trim()
    const statement = STATEMENTS.find(([, re]) => re.test(line))
    if (statement) {
      statements[statement[0]] = line.slice(statement[0].length + 1)
      continue
    }
    // Zero-width space is not whitespace to the lexer: a name behind it is never a keyword.
    if (KEYWORD_START.test(line)) throw new Error(`a keyword or comment where a task was meant: ${line}`)
    const m = /^([^#:\n;]+)(:[^#\n;]+)$/.exec(line)
    if (!m) throw new Error(`not a task line: ${line}`)
    const data = m[2]!
      .slice(1)
      .split(',')
      .map((d) => d.trim())
    const tags: string[] = []
    while (data.length > 0 && TAGS.has(data[0]!)) tags.push(data.shift()!)
    if (data.length !== 3) throw new Error(`want id, start, duration: ${line}`)
    const [id, start, duration] = data as [string, string, string]
    if (!/^[\w-]+$/.test(id)) throw new Error(`bad id ${id}`)
    // dateFormat x is read strictly: the text must be the timestamp's own digits.
    if (String(Number(start)) !== start) throw new Error(`not a ms timestamp: ${start}`)
    const d = DURATION.exec(duration)
    if (!d || d[2] !== 'ms') throw new Error(`not a duration in ms: ${duration}`)
    tasks.push({ name: m[1]!.trim().replace(/^\u200b/, ''), tags, id, start: Number(start), durationMs: Number(d[1]) })
  }
  return { statements, tasks }
}

const startedAt = Date.UTC(2025, 10, 24, 15, 28, 0, 123)
const phases: PhaseTiming[] = [
  { name: 'Install kubectl and helm', startMs: 2, ms: 4_200.6, outcome: 'done' },
  { name: 'Check the cluster', startMs: 3, ms: 900, outcome: 'done' },
  { name: 'Milvus installed', startMs: 5_100, ms: 61_000, outcome: 'failed' },
  { name: 'kube-prometheus ready', startMs: 5_050, ms: 62_000, outcome: 'running' },
]

describe('timeline', () => {
  it('is a gantt chart Mermaid reads: one bar per phase from its start, on the wall clock, in ms', () => {
    const { statements, tasks } = readGantt(timeline(phases, startedAt))
    expect(statements).toEqual({ dateFormat: 'x', axisFormat: '%H:%M:%S', todayMarker: 'off' })
    expect(tasks).toEqual([
      { name: 'Install kubectl and helm', tags: ['done'], id: 'p0', start: startedAt + 2, durationMs: 4_201 },
      { name: 'Check the cluster', tags: ['done'], id: 'p1', start: startedAt + 3, durationMs: 900 },
      { name: 'Milvus installed', tags: ['crit'], id: 'p2', start: startedAt + 5_100, durationMs: 61_000 },
      { name: 'kube-prometheus ready', tags: ['active'], id: 'p3', start: startedAt + 5_050, durationMs: 62_000 },
    ])
  })

  it('is nothing without phases', () => {
    expect(timeline([], startedAt)).toBe('')
  })

  it.each([
    ['Apply: CRDs', 'Apply： CRDs'],
    ['Issue #12', 'Issue ＃12'],
    ['a; b', 'a； b'],
    ['5% of it', '5％ of it'],
    ['```', '｀｀｀'],
    ['Section two', 'Section two'],
    ['click me', 'click me'],
    ['2025-01-01 phase', '2025-01-01 phase'],
    ['two\nlines', 'two lines'],
    ['  ', '(unnamed)'],
  ])('keeps %j one task named %j', (name, shown) => {
    const { tasks } = readGantt(timeline([{ name, startMs: 0, ms: 1, outcome: 'done' }], startedAt))
    expect(tasks).toHaveLength(1)
    expect(tasks[0]!.name).toBe(shown)
  })

  it('leaves a plain name as it is', () => {
    expect(ganttName('Operator configuration')).toBe('Operator configuration')
  })

  it('shows the failed run up to its failure, in red', () => {
    const html = renderFailureSummary({ error: new Error('helm failed'), phases, startedAt })
    expect(html).toContain('<h3>Timeline up to the failure</h3>')
    const { tasks } = readGantt(html)
    expect(tasks.find((t) => t.name === 'Milvus installed')?.tags).toEqual(['crit'])
  })
})

describe('the failure summary', () => {
  const [crashing, ready] = podInfos(
    JSON.parse(
      podList(
        podObject('milvus', 'r-milvus-standalone-0', {
          ready: false,
          containers: [
            { name: 'standalone', restarts: 4, state: { waiting: 'CrashLoopBackOff' }, lastTerminated: { reason: 'Error', exitCode: 1 } },
          ],
        }),
        podObject('milvus', 'r-etcd-0', { containers: [{ name: 'etcd' }] }),
      ),
    ) as never,
    'Milvus',
  )
  const pods: PodReport = {
    pods: [crashing!, ready!],
    notes: [],
    logs: [
      { pod: crashing!, container: 'standalone', previous: false, text: '' },
      { pod: crashing!, container: 'standalone', previous: true, text: '' },
      { pod: ready!, container: 'etcd', previous: false, text: '' },
    ],
  }

  it.each<[string, PhaseTiming[], string]>([
    [
      'the first failed phase',
      [
        { name: 'Check the cluster', startMs: 0, ms: 900, outcome: 'done' },
        { name: 'Milvus installed', startMs: 5_000, ms: 61_000, outcome: 'failed' },
        { name: 'kube-prometheus ready', startMs: 4_000, ms: 63_000, outcome: 'failed' },
      ],
      'The phase <code>Milvus installed</code> failed 1m 01s after it started, 1m 06s into the run; <code>kube-prometheus ready</code> ended with it.',
    ],
    [
      'the phases under way',
      [{ name: 'Check the wiring', startMs: 0, ms: 10, outcome: 'running' }],
      'The run ended while <code>Check the wiring</code> was under way.',
    ],
    ['before any phase', [], 'The run failed before its first phase: reading the inputs.'],
  ])('says what failed: %s', (_, phases, want) => {
    expect(whatFailed(phases)).toBe(want)
  })

  it('says why, what to do next with the pods not ready and their logs, and how to upload the folder', () => {
    const html = renderFailureSummary({
      error: new TimeoutError('the Milvus target to be reported up by Prometheus', 600_000, 900_000),
      phases,
      startedAt,
      diagnosticsDir: '/runner/_temp/milvus-diagnostics-x',
      pods,
      stepId: 'milvus',
    })
    expect(html).toContain('<p><b>What failed.</b> The phase <code>Milvus installed</code> failed')
    expect(html).toContain('<pre>Timed out waiting for the Milvus target to be reported up by Prometheus after 10m 00s')
    expect(html).toContain('raise <code>timeout</code>')
    expect(html).toContain(
      '<tr><td><code>milvus/r-milvus-standalone-0</code></td><td>Milvus</td><td>CrashLoopBackOff: container standalone, 4 restarts, last Error, exit 1</td>' +
        '<td><code>logs/milvus/r-milvus-standalone-0/standalone.log</code><br><code>logs/milvus/r-milvus-standalone-0/standalone.previous.log</code></td></tr>',
    )
    expect(html).not.toContain('r-etcd-0')
    expect(html).toContain('Upload the diagnostics folder <code>/runner/_temp/milvus-diagnostics-x</code>')
    expect(html).toContain('steps.milvus.outputs.diagnostics-dir != &#39;&#39;\n  uses: actions/upload-artifact@')
    expect(html).toContain('path: ${{ steps.milvus.outputs.diagnostics-dir }}</pre>')
    expect(html).not.toContain('give this step')
  })

  it('names a step id to give a step without one, and says when nothing was collected', () => {
    const unnamed = renderFailureSummary({
      error: new Error('x'),
      phases,
      startedAt,
      diagnosticsDir: '/tmp/d',
      stepId: '__org_milvus-monitoring-action',
    })
    expect(unnamed).toContain('(give this step <code>id: monitoring</code>)')
    expect(unnamed).toContain('steps.monitoring.outputs.diagnostics-dir')
    expect(unnamed).toContain('The message above names the cause')
    const explained = renderFailureSummary({
      error: new Error('Timed out waiting for the Milvus target ...\nLast state of the Milvus target: down'),
      phases,
      startedAt,
    })
    expect(explained).toContain('raise <code>timeout</code>')
    const early = renderFailureSummary({ error: new Error('timeout: not a duration'), phases: [], startedAt })
    expect(early).toContain('Nothing was collected from the cluster')
    expect(early).not.toContain('upload-artifact')
  })
})

describe('dashboardCoverageTable', () => {
  it('shows the coverage per row and the panels without data, with their missing metrics and errors', () => {
    const html = dashboardCoverageTable({
      title: 'Milvus',
      panels: [
        { row: 'Proxy', title: 'Search', state: 'data', queries: 1, missing: [] },
        { row: 'Proxy', title: 'Cache <hit>', state: 'no data', queries: 1, missing: ['milvus_proxy_cache_hit_count'] },
        { row: 'Runtime', title: 'Bad', state: 'error', queries: 1, missing: [], error: 'A: parse error' },
      ],
      variables: [{ name: 'db', query: 'label_values(x, db)', values: 0, error: 'bad_data' }],
      rows: [
        { row: 'Proxy', panels: 2, data: 1, noData: 1, errors: 0 },
        { row: 'Runtime', panels: 1, data: 0, noData: 0, errors: 1 },
      ],
      coverage: 33.3,
    })
    expect(html).toContain('<h3>Dashboard data: 1 of 3 panels show data (33.3%)</h3>')
    expect(html).toContain('<tr><td>Proxy</td><td>2</td><td>1</td><td>1</td><td>0</td><td>50%</td></tr>')
    expect(html).toContain('<tr><td>Runtime</td><td>1</td><td>0</td><td>0</td><td>❌ 1</td><td>0%</td></tr>')
    expect(html).toContain('<td>Cache &lt;hit&gt;</td><td>no data</td><td><code>milvus_proxy_cache_hit_count</code></td>')
    expect(html).toContain('<td>A: parse error</td>')
    expect(html).toContain('<code>db</code> (bad_data)')
  })
})
