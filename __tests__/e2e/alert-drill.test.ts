// The alert fire drill on the local cluster, whose Alertmanager pods run real Alertmanagers
// (local-cluster/pod-runner.ts): the drill's alert fires in kube-prometheus' Prometheus and
// reaches alertmanager-main suppressed by the drill's silence; afterwards the rule is gone and
// the silence expired on every replica; e2e.yml's check writes the coverage and timings. A
// Prometheus with no Alertmanager fails the run as soon as the drill starts, naming why.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  E2E,
  e2e,
  ensureKubePrometheus,
  failed,
  inputs,
  MIN,
  outputsEnv,
  removeWhenDone,
  runCheck,
  tempFile,
  useLocalCluster,
} from './support.ts'
import type { AlertDrillResult } from '../../src/types.ts'

/** The IPs of kube-prometheus' running Alertmanager pods. */
async function alertmanagerIps(): Promise<string[]> {
  const pods = await e2e.cluster.kubectlJson<{ items: Array<{ status: { podIP?: string; phase?: string } }> }>([
    'get',
    'pods',
    '-n',
    'monitoring',
    '-l',
    'app.kubernetes.io/name=alertmanager',
  ])
  return pods.items.filter((p) => p.status.phase === 'Running' && p.status.podIP).map((p) => p.status.podIP!)
}

describe.runIf(E2E)('the alert fire drill', () => {
  useLocalCluster()

  it(
    'fires in Prometheus and reaches Alertmanager suppressed by its silence; afterwards rule and silence are gone',
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus-drill', 'drill')
      const started = Date.now()
      const r = await runner.main(inputs({ namespace: 'milvus-drill', 'release-name': 'drill', 'alert-drill': 'true' }))
      const ended = Date.now()
      expect(r.code, failed(r)).toBe(0)
      const drill = JSON.parse(r.outputs['alert-drill-result']!) as AlertDrillResult
      console.info(
        `alert drill: firing ${drill.firingMs} ms, in Alertmanager ${drill.alertmanagerMs} ms after the rule's apply (${drill.state}); run ${ended - started} ms`,
      )
      expect(drill).toMatchObject({
        alert: 'MilvusMonitoringActionDrill',
        prometheusRule: 'milvus-drill/drill-alert-drill',
        alertmanager: 'monitoring/alertmanager-main:web',
        state: 'suppressed',
      })
      expect(drill.silencedBy).toEqual([drill.silenceId])
      expect(drill.firingMs).toBeGreaterThan(0)
      expect(drill.alertmanagerMs).toBeGreaterThanOrEqual(drill.firingMs)
      // The rule's group runs every second, Prometheus sends at once: well within a minute.
      expect(drill.alertmanagerMs).toBeLessThan(MIN)
      expect(r.summary).toMatch(/Alert fire drill: <code>MilvusMonitoringActionDrill<\/code> reached Alertmanager in \d+\.\d s/)

      // Gone before the step ended: the rule, the alert on every replica (ready or not: Prometheus
      // sends to each), the silence (expired).
      expect(r.stdout).not.toMatch(/could not resolve the drill's alert/)
      await expect(cluster.kubectl(['get', 'prometheusrule', '-n', 'milvus-drill', 'drill-alert-drill'])).rejects.toThrow(/NotFound/)
      const ips = await alertmanagerIps()
      expect(ips.length).toBeGreaterThan(0)
      for (const ip of ips) {
        const silence = await cluster.get(`http://${ip}:9093/api/v2/silence/${drill.silenceId}`)
        expect(silence.status, `silence on ${ip}`).toBe(200)
        expect((JSON.parse(silence.body) as { status: { state: string } }).status.state).toBe('expired')
        const alerts = await cluster.get(`http://${ip}:9093/api/v2/alerts?filter=${encodeURIComponent('milvus_release="drill"')}`)
        expect(JSON.parse(alerts.body), `drill alerts on ${ip}`).toEqual([])
      }

      // e2e.yml's check: coverage per row and the timings to the summary, nothing left behind.
      const summary = tempFile('summary.md', '')
      const out = await runCheck('check-drill-and-coverage.mjs', {
        ...outputsEnv(r),
        DASHBOARD_PANELS: r.outputs['dashboard-panels']!,
        ALERT_DRILL_RESULT: r.outputs['alert-drill-result']!,
        GITHUB_STEP_SUMMARY: summary,
      })
      expect(out).toMatch(/the drill reached Alertmanager in \d+\.\d s/)
      // The coverage per row on the local cluster: a figure of its Milvus stand-in, printed, not asserted.
      console.info(readFileSync(summary, 'utf8'))
      await runner.post(r.state)
    },
    10 * MIN,
  )

  it(
    'a Prometheus with no Alertmanager: the run fails before any change, naming why',
    async () => {
      const { cluster, runner } = e2e
      await ensureKubePrometheus()
      removeWhenDone('milvus-noam', 'noam')
      await cluster.kubectl(['delete', 'namespace', 'drill-noam', '--ignore-not-found', '--wait=true', '--timeout=120s'])
      // A Prometheus of kube-prometheus' operator without spec.alerting.
      await cluster.kubectl([
        'apply',
        '-f',
        tempFile(
          'noam.yaml',
          'apiVersion: v1\nkind: Namespace\nmetadata: {name: drill-noam}\n---\n' +
            'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: noam, namespace: drill-noam}\n---\n' +
            'apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: noam, namespace: drill-noam}\n' +
            'spec: {replicas: 1, serviceAccountName: noam, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}, ruleSelector: {}, ruleNamespaceSelector: {}}\n',
        ),
      ])
      try {
        let refused = 0
        const started = Date.now()
        const r = await runner.main(
          inputs({
            'install-kube-prometheus': 'false',
            prometheus: 'drill-noam/noam',
            namespace: 'milvus-noam',
            'release-name': 'noam',
            'alert-drill': 'true',
            'grafana-dashboard': 'false',
            expose: 'none',
          }),
          { onStdout: (c) => void (c.includes('has no Alertmanager') && (refused ||= Date.now())) },
        )
        await runner.post(r.state)
        expect(r.code).not.toBe(0)
        expect(r.stdout).toMatch(
          /::error::Prometheus drill-noam\/noam has no Alertmanager \(spec.alerting.alertmanagers is empty\): alert-drill needs an Alertmanager/,
        )
        console.info(`no Alertmanager: refused ${refused - started} ms after the run started`)
        expect(refused).toBeGreaterThan(0)
        // Read from the Prometheus as soon as it is found: nothing was made, not even the namespace.
        expect(r.stdout).not.toMatch(/Milvus target up|Created namespace|Applied PrometheusRule/)
        await expect(cluster.kubectl(['get', 'namespace', 'milvus-noam'])).rejects.toThrow(/NotFound/)
      } finally {
        // The Prometheus first and waited for: a later file must not find a second stack while the namespace terminates.
        await cluster.kubectl(['delete', 'prometheus', 'noam', '-n', 'drill-noam', '--ignore-not-found', '--wait=true'])
        await cluster.kubectl(['delete', 'namespace', 'drill-noam', '--ignore-not-found', '--wait=false'])
      }
    },
    10 * MIN,
  )
})
