// The alert fire drill's objects against real processes: the drill rule's group loaded in a real
// Prometheus that sends to a real Alertmanager (the binaries local-cluster/build.sh builds), the
// drill's silence created in it first. What the action reads of both answers (firingInPrometheus,
// heldInAlertmanager) sees the alert firing, then held and suppressed by that silence; resolving
// it and expiring the silence as endDrill does leaves neither.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import YAML from 'yaml'
import {
  alertsPath,
  DRILL_ALERT,
  drillPrometheusRule,
  drillSilence,
  firingInPrometheus,
  heldInAlertmanager,
} from '../../src/mixin/alert-drill.ts'
import {
  cacheBin,
  freePort,
  prometheusApi,
  startPrometheus,
  stopAllPrometheus,
  type PrometheusProcess,
} from '../support/prometheus-process.ts'

const ALERTMANAGER = join(cacheBin(), 'alertmanager')

/** ms until `probe` is true, polling every 100 ms; throws after `limitMs`. */
async function until(what: string, probe: () => Promise<boolean>, limitMs = 30_000): Promise<number> {
  const started = Date.now()
  while (!(await probe().catch(() => false))) {
    if (Date.now() - started > limitMs) throw new Error(`${what}: not within ${limitMs} ms`)
    await delay(100)
  }
  return Date.now() - started
}

describe.runIf(existsSync(ALERTMANAGER))('the alert fire drill, on a real Prometheus and Alertmanager', () => {
  let am: ChildProcess
  let amUrl = ''
  let log = ''
  let prom: PrometheusProcess
  const dir = mkdtempSync(join(tmpdir(), 'alert-drill-'))
  const api = async (path: string, init?: RequestInit) => {
    const r = await fetch(amUrl + path, { ...init, headers: { 'content-type': 'application/json' } })
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}\n${log}`)
    const text = await r.text()
    return text ? (JSON.parse(text) as unknown) : undefined
  }

  beforeAll(async () => {
    const port = await freePort()
    amUrl = `http://127.0.0.1:${port}`
    writeFileSync(join(dir, 'alertmanager.yaml'), 'route: {receiver: "null", group_wait: 0s}\nreceivers: [{name: "null"}]\n')
    am = spawn(
      ALERTMANAGER,
      [
        `--config.file=${join(dir, 'alertmanager.yaml')}`,
        `--storage.path=${join(dir, 'am')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    am.stderr?.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-10_000)))
    await until('Alertmanager ready', async () => (await fetch(`${amUrl}/-/ready`)).ok)
  }, 60_000)

  afterAll(async () => {
    am?.kill('SIGTERM')
    await stopAllPrometheus()
  })

  it('fires in Prometheus, reaches Alertmanager suppressed by the silence made first, and is gone once resolved and the silence expired', async () => {
    const silence = (await api('/api/v2/silences', {
      method: 'POST',
      body: JSON.stringify(drillSilence('milvus', 'my-release', new Date())),
    })) as { silenceID: string }
    expect(silence.silenceID).toMatch(/\S/)

    const rule = drillPrometheusRule('monitoring', 'milvus', 'my-release', { role: 'alert-rules' })
    writeFileSync(join(dir, 'drill.yaml'), YAML.stringify(rule.spec))
    const config = (ruleFiles: string[]) =>
      YAML.stringify({
        global: { evaluation_interval: '30s' },
        rule_files: ruleFiles,
        alerting: { alertmanagers: [{ static_configs: [{ targets: [amUrl.replace('http://', '')] }], api_version: 'v2' }] },
      })
    // As on a cluster, the drill rule reaches a Prometheus that already knows its Alertmanager: an
    // alert that fires before the notifier's first discovery update is dropped until the 1 m resend.
    prom = await startPrometheus(config([]))
    await until('Alertmanager discovered by Prometheus', async () => {
      const r = (await prometheusApi(prom, '/api/v1/alertmanagers')) as { data?: { activeAlertmanagers?: unknown[] } }
      return (r.data?.activeAlertmanagers?.length ?? 0) > 0
    })
    const started = Date.now()
    await prom.reload(config([join(dir, 'drill.yaml')]))
    // The group's own 1s interval, not the global 30s, paces it.
    const firing = await until('firing in Prometheus', async () =>
      firingInPrometheus(await prometheusApi(prom, '/api/v1/alerts'), 'milvus', 'my-release'),
    )
    expect(firingInPrometheus(await prometheusApi(prom, '/api/v1/alerts'), 'milvus', 'other-release')).toBe(false)
    await until(
      'held by Alertmanager',
      async () => heldInAlertmanager(await api(alertsPath('milvus', 'my-release')), 'milvus', 'my-release').length > 0,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nPrometheus:\n${prom.logs()}\nAlertmanager:\n${log}`)
    })
    const held = heldInAlertmanager(await api(alertsPath('milvus', 'my-release')), 'milvus', 'my-release')
    const reached = Date.now() - started
    expect(held).toHaveLength(1)
    expect(held[0]!.labels).toMatchObject({ alertname: DRILL_ALERT, drill: 'true', milvus_release: 'my-release' })
    expect(held[0]!.status).toMatchObject({ state: 'suppressed', silencedBy: [silence.silenceID] })
    // Measured from the reload that loaded the rule; for the record.
    console.info(`drill: firing ${firing} ms after the rule was loaded, in Alertmanager ${reached} ms after it`)

    // What endDrill does once the rule is gone: the alert resolved, the silence expired.
    await prom.stop()
    const now = new Date().toISOString()
    await api('/api/v2/alerts', {
      method: 'POST',
      body: JSON.stringify(held.map((a) => ({ labels: a.labels, startsAt: a.startsAt, endsAt: now }))),
    })
    await api(`/api/v2/silence/${silence.silenceID}`, { method: 'DELETE' })
    expect(heldInAlertmanager(await api(alertsPath('milvus', 'my-release')), 'milvus', 'my-release')).toEqual([])
    const after = (await api(`/api/v2/silence/${silence.silenceID}`)) as { status: { state: string } }
    expect(after.status.state).toBe('expired')
  }, 90_000)
})
