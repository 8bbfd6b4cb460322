// The job summary: what was installed, where it is reachable, what Prometheus scrapes, and
// where the time went. Rendered as a pure string so it can be tested without a runner.
import * as core from '@actions/core'
import { TimeoutError, formatDuration } from '../budget.ts'
import { targetHealth } from './outputs.ts'
import type { AlertDrillResult, DashboardCheck, PhaseTiming, RowCoverage, RunResult } from '../types.ts'
import { measured, type AssertionVerdict } from '../mixin/assertions.ts'
import { logFile, type PodReport } from './pods.ts'

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')
}

/**
 * Hide what could be a credential: URL user info, secret-looking query parameters,
 * Authorization schemes and `password=`-style pairs. Scrape errors and exception messages
 * can quote URLs or headers, and a job summary is readable by anyone who can read the run.
 */
export function redact(text: string): string {
  return (
    text
      .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@')
      .replace(
        /([?&](?:access_token|token|password|passwd|pwd|secret|key|api[_-]?key|auth|sig|signature|X-Amz-Signature|X-Amz-Credential)=)[^&\s#]+/gi,
        '$1***',
      )
      .replace(/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+/g, '$1 ***')
      // Query parameters were handled above; this is for `password=...` in prose and headers.
      .replace(/(?<![?&])\b(password|passwd|secret|token|api[_-]?key)(\s*[:=]\s*)("[^"]*"|'[^']*'|\S+)/gi, '$1$2***')
  )
}

// Everything shown goes through here: escaped for HTML, and redacted.
function cell(text: string): string {
  return escapeHtml(redact(text))
}

function code(text: string): string {
  return text === '' ? '' : `<code>${cell(text)}</code>`
}

function table(header: string[], rows: string[][]): string {
  const th = `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
  return `<table>${[th, ...trs].join('')}</table>\n`
}

function phaseTable(phases: PhaseTiming[]): string {
  if (phases.length === 0) return '<p>No phase ran.</p>\n'
  return table(
    ['Phase', 'Duration'],
    phases.map((p) => [cell(p.name), escapeHtml(formatDuration(p.ms))]),
  )
}

/** Task names as Mermaid's gantt grammar reads them: it ends a name at `:`, `#` (a comment) and
 * `;`, reads `%` after a character as a comment and a line of backticks as the fence's end. Each is
 * shown by its full-width form; a name that starts with one of the grammar's keywords is kept from
 * being read as it by a zero-width space. */
export function ganttName(name: string): string {
  const flat = name
    .replace(/[:#;%`]/g, (c) => FULL_WIDTH[c] ?? c)
    .replace(/\s+/g, ' ')
    .trim()
  if (flat === '') return '(unnamed)'
  return GANTT_KEYWORD.test(flat) ? `\u200b${flat}` : flat
}

const FULL_WIDTH: Record<string, string> = { ':': '：', '#': '＃', ';': '；', '%': '％', '`': '｀' }

// What Mermaid's gantt lexer (case-insensitive) takes for a statement at a line's start.
const GANTT_KEYWORD =
  /^(gantt|dateformat\s|inclusiveenddates|topaxis|axisformat\s|tickinterval\s|includes\s|excludes\s|todaymarker\s|weekday\s|title\s|accdescription\s|acctitle\s*:|accdescr|section\s|click\s|call\s|href\s|\d{4}-\d{2}-\d{2})/i

const GANTT_TAG: Record<PhaseTiming['outcome'], string> = { done: 'done', failed: 'crit', running: 'active' }

/**
 * The phases as a Mermaid gantt chart in a fenced block, which GitHub renders in job summaries:
 * each phase a bar from its start for its duration, on the run's wall clock (`dateFormat x`:
 * ms since the epoch, so the axis shows the reader's local time of day), a failed phase in red
 * (`crit`), one still running when the run ended `active`. Blank lines around the fence end the
 * HTML block before it, so Markdown reads the fence.
 */
export function timeline(phases: PhaseTiming[], startedAt: number): string {
  if (phases.length === 0) return ''
  const lines = ['gantt', '  dateFormat x', '  axisFormat %H:%M:%S', '  todayMarker off']
  phases.forEach((p, i) => {
    const start = Math.round(startedAt + p.startMs)
    lines.push(`  ${ganttName(p.name)} :${GANTT_TAG[p.outcome]}, p${i}, ${start}, ${Math.max(0, Math.round(p.ms))}ms`)
  })
  return `\n\n\`\`\`mermaid\n${lines.join('\n')}\n\`\`\`\n\n`
}

const HEALTH_MARK: Record<string, string> = { up: '✅ up', down: '❌ down', unknown: '❔ unknown' }

/** The job summary of a successful run, as HTML. */
export function renderSummary(result: RunResult): string {
  const up = result.targets.filter((t) => t.health === 'up').length
  const health = targetHealth(result.targets)
  const parts: string[] = []
  parts.push(`<h2>Milvus monitoring: ${health === 'up' ? 'Prometheus scrapes Milvus' : `targets ${health}`}</h2>\n`)
  parts.push(
    `<p>ServiceMonitor ${code(result.serviceMonitor)}, scrape pool ${code(result.scrapePool)}: ` +
      `${up} of ${result.targets.length} Milvus target${result.targets.length === 1 ? '' : 's'} up.</p>\n`,
  )

  parts.push('<h3>Tools</h3>\n')
  parts.push(
    table(
      ['Tool', 'Version', 'Path'],
      [
        ['kubectl', cell(result.kubectl.version), code(result.kubectl.path)],
        ['helm', cell(result.helm.version), code(result.helm.path)],
      ],
    ),
  )

  parts.push('<h3>Endpoints</h3>\n')
  const e = result.endpoints
  const c = result.inCluster
  parts.push(
    table(
      ['Service', 'From the runner', 'In the cluster'],
      [
        ['Prometheus', code(e.prometheusUrl), code(c.prometheusUrl)],
        ['Grafana', code(e.grafanaUrl), code(c.grafanaUrl)],
        ['Alertmanager', code(e.alertmanagerUrl), code(c.alertmanagerUrl)],
        ['Milvus gRPC', code(e.milvusEndpoint), code(c.milvusEndpoint)],
        ['Milvus metrics', code(e.milvusMetricsUrl), code(c.milvusMetricsUrl)],
      ],
    ),
  )

  parts.push('<h3>Milvus targets</h3>\n')
  parts.push(
    result.targets.length === 0
      ? '<p>Prometheus reports no Milvus target.</p>\n'
      : table(
          ['Scrape pool', 'Scrape URL', 'Health', 'Last scrape', 'Last error'],
          result.targets.map((t) => [
            code(t.scrapePool),
            code(t.scrapeUrl),
            escapeHtml(HEALTH_MARK[t.health] ?? t.health),
            cell(t.lastScrape),
            cell(t.lastError),
          ]),
        ),
  )

  if (result.phases.length > 0) {
    parts.push('<h3>Timeline</h3>\n')
    parts.push(timeline(result.phases, result.startedAt))
  }

  if (result.dashboard) {
    parts.push('<h3>Grafana dashboard</h3>\n')
    parts.push(`<p>${cell(result.dashboard.title)} (uid ${code(result.dashboard.uid)}): ${code(result.dashboard.url)}</p>\n`)
  }
  if (result.dashboardCheck) parts.push(dashboardCoverageTable(result.dashboardCheck))
  if (result.alertRules.length > 0) {
    parts.push('<h3>Alert rules loaded in Prometheus</h3>\n')
    parts.push(
      table(
        ['PrometheusRule', 'Group', 'Rules'],
        result.alertRules.map((g) => [code(g.prometheusRule), code(g.group), String(g.rules)]),
      ),
    )
  }
  if (result.assertions.length > 0) parts.push(assertionsTable(result.assertions))
  if (result.alertDrill) parts.push(alertDrillTable(result.alertDrill))

  parts.push('<h3>Phase timings</h3>\n')
  parts.push(phaseTable(result.phases))
  return parts.join('')
}

/** The dashboard data check: coverage per row, then the panels without data or with an error. */
export function dashboardCoverageTable(check: DashboardCheck): string {
  const withData = check.panels.filter((p) => p.state === 'data').length
  const pct = (r: RowCoverage) => (r.panels === 0 ? '' : `${Math.round((1000 * r.data) / r.panels) / 10}%`)
  const rows = table(
    ['Row', 'Panels', 'Data', 'No data', 'Query error', 'Coverage'],
    check.rows.map((r) => [cell(r.row), String(r.panels), String(r.data), String(r.noData), r.errors > 0 ? `❌ ${r.errors}` : '0', pct(r)]),
  )
  const empty = check.panels.filter((p) => p.state !== 'data')
  const details =
    empty.length === 0
      ? ''
      : `<details><summary>${empty.length} panel${empty.length === 1 ? '' : 's'} without data</summary>\n` +
        table(
          ['Row', 'Panel', 'State', 'Metrics with no series', 'Error'],
          empty.map((p) => [cell(p.row), cell(p.title), escapeHtml(p.state), p.missing.map(code).join(' '), cell(p.error ?? '')]),
        ) +
        '</details>\n'
  const varErrors = check.variables.filter((v) => v.error)
  const vars =
    varErrors.length === 0
      ? ''
      : `<p>Template variables whose query failed: ${varErrors.map((v) => `${code(v.name)} (${cell(v.error ?? '')})`).join(', ')}</p>\n`
  return `<h3>Dashboard data: ${withData} of ${check.panels.length} panels show data (${check.coverage}%)</h3>\n` + rows + details + vars
}

/** The PromQL assertions' table: expression, expected, last value, verdict. */
/** The alert fire drill: from the rule's apply to firing in Prometheus, and to Alertmanager. */
export function alertDrillTable(d: AlertDrillResult): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  return (
    `<h3>Alert fire drill: ${code(d.alert)} reached Alertmanager in ${s(d.alertmanagerMs)}</h3>\n` +
    table(
      ['Step', 'Time after the rule was applied'],
      [
        [`Firing in Prometheus (rule ${code(d.prometheusRule)})`, s(d.firingMs)],
        [`Held by Alertmanager ${code(d.alertmanager)}: ${escapeHtml(d.state)}`, s(d.alertmanagerMs)],
      ],
    ) +
    `<p>Silence ${code(d.silenceId)} kept the drill from paging anyone; the rule and the silence are removed.</p>\n`
  )
}

export function assertionsTable(verdicts: AssertionVerdict[]): string {
  const held = verdicts.filter((v) => v.held).length
  return (
    `<h3>PromQL assertions: ${held} of ${verdicts.length} held</h3>\n` +
    table(
      ['Assertion', 'Expression', 'Expected', 'Last value', 'Verdict'],
      verdicts.map((v) => [
        cell(v.name),
        code(v.query),
        code(v.expected),
        code(v.lastValue),
        v.held ? '✅ held' : `❌ did not hold (${measured(v)})`,
      ]),
    )
  )
}

/** What the failure summary tells. */
export interface FailureReport {
  error: Error
  /** The phases up to the failure (budget.timings()). */
  phases: PhaseTiming[]
  /** When the run started, ms since the epoch. */
  startedAt: number
  /** The diagnostics folder, when one was written. */
  diagnosticsDir?: string | undefined
  /** The pods of the release and the stack, with their logs' files in the folder. */
  pods?: PodReport | undefined
  /** The step's id (GITHUB_ACTION), for the upload snippet; an unnamed step's is `__owner_action`. */
  stepId?: string | undefined
}

/** What failed: the phase that failed first, else the ones under way, else "before the first phase". */
export function whatFailed(phases: PhaseTiming[]): string {
  const failed = phases.filter((p) => p.outcome === 'failed').sort((a, b) => a.startMs + a.ms - (b.startMs + b.ms))
  const first = failed[0]
  if (first) {
    const others = failed.slice(1).map((p) => p.name)
    return (
      `The phase ${code(first.name)} failed ${escapeHtml(formatDuration(first.ms))} after it started, ${escapeHtml(formatDuration(first.startMs + first.ms))} into the run` +
      (others.length > 0 ? `; ${others.map(code).join(', ')} ended with it` : '') +
      '.'
    )
  }
  const running = phases.filter((p) => p.outcome === 'running')
  if (running.length > 0)
    return `The run ended while ${running.map((p) => code(p.name)).join(', ')} ${running.length === 1 ? 'was' : 'were'} under way.`
  if (phases.length === 0) return 'The run failed before its first phase: reading the inputs.'
  return `The run failed after the phase ${code(phases.at(-1)!.name)}.`
}

function nextSteps(f: FailureReport): string[] {
  const steps: string[] = []
  // A timeout the pipeline explained further is a plain Error with the TimeoutError's message first.
  if (f.error instanceof TimeoutError || f.error.message.startsWith('Timed out waiting for ')) {
    steps.push(
      'The wait named above ran out of the run&#39;s <code>timeout</code>. If the release&#39;s pods were still starting (pulling images, waiting on etcd or MinIO), raise <code>timeout</code>; ' +
        'if one is not ready for another reason, its log and events in the diagnostics folder say why.',
    )
  } else {
    steps.push(
      'The message above names the cause and, where the action knows it, the fix; docs/troubleshooting.md lists the causes the action recognises.',
    )
  }
  if (f.pods && f.pods.pods.some((p) => !p.ready))
    steps.push(
      'Look first at the pods that are not ready, below: the reason is the cluster&#39;s, their logs are in the diagnostics folder.',
    )
  if (f.diagnosticsDir) {
    const id = f.stepId && !f.stepId.startsWith('__') ? f.stepId : 'monitoring'
    const named = id === f.stepId ? '' : ` (give this step <code>id: ${id}</code>)`
    steps.push(
      `Upload the diagnostics folder <code>${cell(f.diagnosticsDir)}</code> (the <code>diagnostics-dir</code> output) with actions/upload-artifact${named}: ` +
        `it holds the pods&#39; logs (the previous container&#39;s too where one restarted), describe output, events, <code>helm status</code>, the release&#39;s values (secrets masked), ` +
        `Prometheus&#39; targets and rules and the configuration prometheus-operator generated.` +
        `<pre>- if: failure() &amp;&amp; steps.${escapeHtml(id)}.outputs.diagnostics-dir != &#39;&#39;\n  uses: actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f # v7.0.0\n  with:\n    name: milvus-diagnostics\n    path: \${{ steps.${escapeHtml(id)}.outputs.diagnostics-dir }}</pre>`,
    )
  } else {
    steps.push('Nothing was collected from the cluster: the run ended before it reached it.')
  }
  return steps
}

function notReadyTable(pods: PodReport): string {
  const notReady = pods.pods.filter((p) => !p.ready)
  if (notReady.length === 0) return ''
  return (
    '<h3>Pods not ready</h3>\n' +
    table(
      ['Pod', 'Of', 'Why', 'Logs in the diagnostics folder'],
      notReady.map((p) => [
        code(`${p.namespace}/${p.name}`),
        cell(p.role),
        cell(p.reason),
        pods.logs
          .filter((l) => l.pod === p)
          .map((l) => code(logFile(l)))
          .join('<br>'),
      ]),
    )
  )
}

/**
 * The job summary of a failed run, as HTML: what failed, why (the error), what to do next (with
 * the pods that are not ready and the folder to upload), and where the time went up to the failure.
 */
export function renderFailureSummary(f: FailureReport): string {
  return [
    '<h2>Milvus monitoring failed</h2>\n',
    `<p><b>What failed.</b> ${whatFailed(f.phases)}</p>\n`,
    `<p><b>Why.</b></p>\n<pre>${cell(f.error.message)}</pre>\n`,
    `<p><b>What to do next.</b></p>\n<ul>${nextSteps(f)
      .map((s) => `<li>${s}</li>`)
      .join('')}</ul>\n`,
    f.pods ? notReadyTable(f.pods) : '',
    ...(f.phases.length > 0 ? ['<h3>Timeline up to the failure</h3>\n', timeline(f.phases, f.startedAt)] : []),
    '<h3>Phase timings</h3>\n',
    phaseTable(f.phases),
  ].join('')
}

// A summary is a nicety: outside Actions (no GITHUB_STEP_SUMMARY) or on a write error we say
// so and carry on rather than fail the run.
async function write(html: string): Promise<void> {
  if (!process.env['GITHUB_STEP_SUMMARY']) {
    core.debug('GITHUB_STEP_SUMMARY is not set; skipping the job summary')
    return
  }
  try {
    await core.summary.addRaw(html).write()
  } catch (error) {
    core.summary.emptyBuffer()
    core.warning(`Could not write the job summary: ${error instanceof Error ? error.message : String(error)}`)
  }
}

export async function writeSummary(result: RunResult): Promise<void> {
  await write(renderSummary(result))
}

export async function writeFailureSummary(f: FailureReport): Promise<void> {
  await write(renderFailureSummary(f))
}
