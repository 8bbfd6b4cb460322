// PromQL assertions, the user's alert rules and the action's own: verdicts, the summary, the
// diagnostics folder, a malformed rule rejected early, an alert that fires.
import { readdirSync, readFileSync } from 'node:fs'
import { join, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import { E2E, e2e, failed, inputs, MIN, tempFile, useLocalCluster, removeWhenDone } from './support.ts'

describe.runIf(E2E)('assertions and alert rules', () => {
  useLocalCluster()

  it(
    'assertions that hold, one that needs within, one that fails: the run fails naming it, the summary says which, the diagnostics folder has no secret',
    async () => {
      const { runner } = e2e
      removeWhenDone('milvus-rules', 'rules')
      removeWhenDone('milvus-assert', 'checks')
      const secret = 'hunter2-e2e-secret-value'
      const sel = 'namespace="${namespace}", app_kubernetes_io_instance="${release}"'
      const assertions = [
        { name: 'every component up', query: `min(up{${sel}})`, successCondition: 'result[0] == 1' },
        { name: 'the build version', query: `milvus_build_info{${sel}, version=~"v2.6.*"}`, successCondition: 'all(result, # == 1)' },
        {
          name: 'no failed requests',
          query: `sum(rate(milvus_proxy_req_count{${sel}, status="fail"}[5m])) or vector(0)`,
          successCondition: 'result[0] == 0',
        },
        { name: 'three scrapes', query: `count_over_time(up{${sel}}[10m])`, successCondition: 'result[0] >= 3', within: '3m' },
        { name: 'deliberately failing', query: `milvus_build_info{${sel}, version="v0.0.1"}`, successCondition: 'len(result) > 0' },
      ]
      const yaml = assertions
        .map(
          (a) =>
            `- ${Object.entries(a)
              .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
              .join('\n  ')}`,
        )
        .join('\n')
      const r = await runner.main(
        inputs({ namespace: 'milvus-assert', 'release-name': 'checks', assertions: yaml, values: `minio:\n  secretKey: ${secret}\n` }),
      )
      await runner.post(r.state)
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(
        /::error::1 PromQL assertion did not hold:%0A {2}- deliberately failing: expected len\(result\) > 0, 1 of 1 measurement failed, last value \[\]/,
      )
      const verdicts = JSON.parse(r.outputs['assertion-results']!) as Array<{ name: string; held: boolean; measurements: number }>
      expect(verdicts.map((v) => [v.name, v.held])).toEqual(assertions.map((a) => [a.name, a.name !== 'deliberately failing']))
      expect(verdicts.find((v) => v.name === 'three scrapes')!.measurements).toBeGreaterThan(1)
      expect(r.summary).toMatch(/PromQL assertions: 4 of 5 held/)
      expect(r.summary).toMatch(/deliberately failing<\/td>.*❌ did not hold/)
      expect(r.summary).toMatch(/three scrapes<\/td>.*result\[0\] &gt;= 3 within 3m.*✅ held/)

      // The diagnostics folder: every file, and the secret value nowhere.
      const dir = r.outputs['diagnostics-dir']!
      expect(dir).toMatch(/milvus-diagnostics-/)
      const files = readdirSync(dir).sort()
      // Every file, the pods' logs under logs/ included.
      const everyFile = readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name))
      expect(everyFile.some((f) => f.includes(`${sep}logs${sep}`))).toBe(true)
      for (const f of [
        'pods-milvus-assert.txt',
        'describe-pods-milvus-assert.txt',
        'events-milvus-assert.txt',
        'pods-monitoring.txt',
        'helm-status.txt',
        'helm-values.yaml',
        'prometheus-targets.json',
        'prometheus-rules.json',
        'operator-prometheus-config.yaml',
        'servicemonitors.yaml',
        'prometheusrules.yaml',
      ]) {
        expect(files).toContain(f)
      }
      for (const f of everyFile) expect(readFileSync(f, 'utf8'), f).not.toContain(secret)
      expect(readFileSync(join(dir, 'helm-values.yaml'), 'utf8')).toMatch(/secretKey: "?\*\*\*"?/)
      expect(readFileSync(join(dir, 'prometheus-rules.json'), 'utf8')).toContain('milvus-milvus-assert-checks')
      expect(readFileSync(join(dir, 'operator-prometheus-config.yaml'), 'utf8')).toContain(
        'serviceMonitor/milvus-assert/checks-milvus-standalone/0',
      )
    },
    10 * MIN,
  )

  it(
    "a malformed rule in the user's PrometheusRule file: rejected within 60 s, naming the rule",
    async () => {
      const { cluster, runner } = e2e
      const file = tempFile(
        'broken.yaml',
        'apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: broken-rules}\nspec:\n  groups:\n  - name: broken\n    rules:\n    - alert: BrokenAlert\n      expr: sum(rate(up[5m])\n',
      )
      let applied = 0
      const r = await runner.main(inputs({ namespace: 'milvus-rules', 'release-name': 'rules', 'alert-rules': file }), {
        onStdout: (c) => void (c.includes('Applied PrometheusRule milvus-rules/broken-rules') && (applied ||= Date.now())),
      })
      const ended = Date.now()
      await runner.post(r.state)
      await cluster.kubectl(['delete', 'prometheusrule', '-n', 'milvus-rules', 'broken-rules', '--ignore-not-found'])
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(/::error::prometheus-operator rejected PrometheusRule milvus-rules\/broken-rules/)
      expect(r.stdout).toMatch(/BrokenAlert \(group broken\): .*parse error/)
      expect(applied).toBeGreaterThan(0)
      expect(ended - applied).toBeLessThan(MIN)
    },
    10 * MIN,
  )

  it(
    "an alert of the action's rules fires in Prometheus when Milvus stops answering",
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus-alert', 'alerting')
      const r = await runner.main(
        inputs({ namespace: 'milvus-alert', 'release-name': 'alerting', 'alert-rules-for': '0s', 'grafana-dashboard': 'false' }),
      )
      expect(r.code, failed(r)).toBe(0)
      expect(r.outputs['dashboard-url']).toBe('')
      const pod = (await cluster.kubectl(['get', 'pods', '-n', 'milvus-alert', '-l', 'component=standalone', '-o', 'name'])).trim()
      await cluster.kubectl([
        'annotate',
        '-n',
        'milvus-alert',
        pod,
        'local-cluster.milvus-monitoring-action/metrics-down=true',
        '--overwrite',
      ])
      const started = Date.now()
      let firing: Array<{ labels: Record<string, string>; state: string }> = []
      try {
        while (Date.now() - started < 3 * MIN) {
          const a = await cluster.get(`${r.outputs['prometheus-url']}/api/v1/alerts`)
          firing = (JSON.parse(a.body || '{"data":{"alerts":[]}}') as { data: { alerts: typeof firing } }).data.alerts.filter(
            (x) => x.labels.alertname === 'MilvusTargetDown' && x.labels.namespace === 'milvus-alert' && x.state === 'firing',
          )
          if (firing.length) break
          await new Promise((ok) => setTimeout(ok, 5000))
        }
      } finally {
        await cluster.kubectl(['annotate', '-n', 'milvus-alert', pod, 'local-cluster.milvus-monitoring-action/metrics-down-'])
        await runner.post(r.state)
      }
      console.log(`MilvusTargetDown firing ${Math.round((Date.now() - started) / 1000)} s after the stand-in stopped answering`)
      expect(firing.length).toBeGreaterThan(0)
      expect(firing[0]!.labels).toMatchObject({ severity: 'critical', app_kubernetes_io_instance: 'alerting' })
    },
    10 * MIN,
  )
})
