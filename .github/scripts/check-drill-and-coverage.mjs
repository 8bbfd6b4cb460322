// After a run with the dashboard check and the alert fire drill: writes the dashboard's coverage
// per row and the drill's timings to the job summary (GITHUB_STEP_SUMMARY, else stdout), and
// fails when the drill did not reach Alertmanager or left its rule or silence behind.
//   DASHBOARD_PANELS    the dashboard-panels output (JSON list of {row, title, state, missing})
//   ALERT_DRILL_RESULT  the alert-drill-result output (JSON)
//   ALERTMANAGER_URL    the alertmanager-url output, where the drill's silence must be expired
//   KUBECTL             kubectl (default: the one on PATH), pointed at the cluster: the drill's
//                       PrometheusRule must be gone
/* global fetch */
import { execFileSync } from 'node:child_process'
import { appendFileSync } from 'node:fs'

const problems = []
const out = []

const panels = JSON.parse(process.env.DASHBOARD_PANELS || '[]')
const rows = new Map()
for (const p of panels) {
  const r = rows.get(p.row) ?? { panels: 0, data: 0, noData: 0, errors: 0 }
  r.panels++
  if (p.state === 'data') r.data++
  else if (p.state === 'error') r.errors++
  else r.noData++
  rows.set(p.row, r)
}
const pct = (n, d) => (d === 0 ? '' : `${Math.round((1000 * n) / d) / 10}%`)
const withData = panels.filter((p) => p.state === 'data').length
out.push(`### Dashboard coverage on kind: ${withData} of ${panels.length} panels show data (${pct(withData, panels.length)})`, '')
out.push('| Row | Panels | Data | No data | Query error | Coverage |', '| --- | --- | --- | --- | --- | --- |')
for (const [row, r] of rows)
  out.push(`| ${row || '(no row)'} | ${r.panels} | ${r.data} | ${r.noData} | ${r.errors} | ${pct(r.data, r.panels)} |`)
if (panels.length === 0) problems.push('dashboard-panels is empty: the dashboard data check did not run')

const raw = process.env.ALERT_DRILL_RESULT || ''
let drill
try {
  drill = JSON.parse(raw)
} catch {
  problems.push(`alert-drill-result is not JSON: ${JSON.stringify(raw.slice(0, 200))}`)
}
if (drill) {
  const s = (ms) => `${(ms / 1000).toFixed(1)} s`
  out.push('', `### Alert fire drill on kind: ${drill.alert}`, '')
  out.push('| Step | Time after the rule was applied |', '| --- | --- |')
  out.push(
    `| Firing in Prometheus | ${s(drill.firingMs)} |`,
    `| Held by Alertmanager ${drill.alertmanager} (${drill.state}) | ${s(drill.alertmanagerMs)} |`,
  )
  if (!(drill.alertmanagerMs > 0) || !['active', 'suppressed'].includes(drill.state))
    problems.push(`the drill did not reach Alertmanager: ${raw}`)
  const [ns, name] = drill.prometheusRule.split('/')
  const left = execFileSync(
    process.env.KUBECTL || 'kubectl',
    ['get', 'prometheusrule', '-n', ns, name, '--ignore-not-found', '-o', 'name'],
    {
      encoding: 'utf8',
    },
  ).trim()
  if (left) problems.push(`the drill's PrometheusRule ${drill.prometheusRule} is still there`)
  const base = (process.env.ALERTMANAGER_URL || '').replace(/\/+$/, '')
  if (base) {
    const res = await fetch(`${base}/api/v2/silence/${encodeURIComponent(drill.silenceId)}`)
    const silence = res.ok ? await res.json() : undefined
    if (silence?.status?.state !== 'expired')
      problems.push(`the drill's silence ${drill.silenceId} is ${silence?.status?.state ?? `unreadable (HTTP ${res.status})`}, not expired`)
  }
}

const text = `${out.join('\n')}\n`
if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, text)
else process.stdout.write(text)
if (problems.length) {
  for (const p of problems) console.error(`::error::${p}`)
  process.exit(1)
}
console.log(
  `Dashboard coverage ${pct(withData, panels.length)}; the drill reached Alertmanager in ${(drill.alertmanagerMs / 1000).toFixed(1)} s`,
)
