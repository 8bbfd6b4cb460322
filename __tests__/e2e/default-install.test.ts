// The bundled action with default inputs on the local cluster, asserted against the API server,
// Prometheus and Grafana, then by the checks of e2e.yml's `defaults` job; and a second run on
// top of a first, which must change nothing.
import { describe, expect, it } from 'vitest'
import {
  activeTargets,
  E2E,
  e2e,
  failed,
  grafana,
  inputs,
  managedRoles,
  MIN,
  outputsEnv,
  ruleGroup,
  runCheck,
  snapshot,
  useLocalCluster,
  removeWhenDone,
} from './support.ts'

describe.runIf(E2E)('default inputs', () => {
  useLocalCluster()

  it(
    'default inputs: Milvus standalone in namespace milvus, its target up in Prometheus',
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus', 'my-release')
      const first = await runner.main(inputs())
      expect(first.code, failed(first)).toBe(0)
      const o = first.outputs
      for (const name of [
        'kubectl-path',
        'kubectl-version',
        'helm-path',
        'helm-version',
        'prometheus-url',
        'grafana-url',
        'alertmanager-url',
        'milvus-endpoint',
        'milvus-metrics-url',
        'service-monitor',
        'scrape-pool',
        'target-health',
        'target-scrape-url',
      ]) {
        expect(o[name], name).toBeTruthy()
      }
      expect(o['kubectl-version']).toBe('v1.35.2')
      expect(o['helm-version']).toBe('v4.1.4')
      expect(o['service-monitor']).toBe('milvus/my-release-milvus-standalone')
      expect(o['target-health']).toBe('up')

      // The cluster: the ServiceMonitor and the discovery RBAC exist.
      const sm = await cluster.kubectlJson<{ metadata: { name: string } }>([
        'get',
        'servicemonitor',
        '-n',
        'milvus',
        'my-release-milvus-standalone',
      ])
      expect(sm.metadata.name).toBe('my-release-milvus-standalone')
      const rbac = await managedRoles('milvus')
      expect(rbac.map((r) => r.metadata.name).sort()).toEqual(['prometheus-k8s-milvus-discovery', 'prometheus-k8s-milvus-discovery'])
      // The CI timing levers reach the cluster: readiness from 5 s every 5 s, a 10 s scrape interval.
      const deploy = await cluster.kubectlJson<{
        spec: {
          template: {
            spec: {
              containers: Array<{
                readinessProbe: { initialDelaySeconds: number; periodSeconds: number }
                livenessProbe: { initialDelaySeconds: number }
              }>
            }
          }
        }
      }>(['get', 'deployment', '-n', 'milvus', 'my-release-milvus-standalone'])
      expect(deploy.spec.template.spec.containers[0]!.readinessProbe).toMatchObject({ initialDelaySeconds: 5, periodSeconds: 5 })
      expect(deploy.spec.template.spec.containers[0]!.livenessProbe).toMatchObject({ initialDelaySeconds: 30 })
      expect((sm as unknown as { spec: { endpoints: Array<{ interval: string }> } }).spec.endpoints[0]!.interval).toBe('10s')
      const etcd = await cluster.kubectlJson<{ spec: { template: { spec: { containers: Array<{ readinessProbe: unknown }> } } } }>([
        'get',
        'statefulset',
        '-n',
        'milvus',
        'my-release-etcd',
      ])
      expect(etcd.spec.template.spec.containers[0]!.readinessProbe).toMatchObject({ initialDelaySeconds: 5, periodSeconds: 5 })

      // All of kube-prometheus, Grafana's 33 dashboards (one 1 MB ConfigMapList) included: its
      // Deployment mounts each, so without them its pod never starts on a real cluster.
      const configMaps = (
        await cluster.kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'configmaps', '-n', 'monitoring'])
      ).items.map((c) => c.metadata.name)
      expect(configMaps.filter((n) => n.startsWith('grafana-dashboard-'))).toHaveLength(33)

      // Prometheus itself, through the forwarded URL the action gave: the Milvus target is up.
      const targets = await activeTargets(o['prometheus-url']!, o['scrape-pool']!)
      expect(targets.length).toBeGreaterThan(0)
      expect(targets.every((t) => t.health === 'up')).toBe(true)
      expect(targets[0]!.scrapeUrl).toBe(o['target-scrape-url'])
      // The targets output: every one of them, as Prometheus reports it.
      const listed = JSON.parse(o['targets']!) as Array<{ scrapeUrl: string; health: string; labels: Record<string, string> }>
      expect(listed.map((t) => [t.scrapeUrl, t.health]).sort()).toEqual(targets.map((t) => [t.scrapeUrl, 'up']).sort())
      expect(listed[0]!.labels).toMatchObject({ namespace: 'milvus', app_kubernetes_io_instance: 'my-release' })

      // Every URL output answers from the runner.
      expect((await cluster.get(`${o['grafana-url']}/api/health`)).status).toBe(200)
      expect((await cluster.get(`${o['alertmanager-url']}/api/v2/status`)).status).toBe(200)
      const metrics = await cluster.get(o['milvus-metrics-url']!)
      expect(metrics.status).toBe(200)
      expect(metrics.body).toMatch(/^milvus_/m)
      expect(await cluster.connect(o['milvus-endpoint']!)).toBe(true)

      // Progress while helm waits: one line per pod state, and the operator's configuration checked.
      expect(first.stdout).toMatch(/Pod milvus\/my-release-milvus-standalone-\S+: Running, 1\/1 ready/)
      expect(first.stdout).toMatch(/Rendered release my-release: \d+ objects, no problem found/)

      expect(first.summary).toContain('my-release-milvus-standalone')
      expect(first.summary).toContain(o['target-scrape-url'])

      // The dashboard: fetched for the chart's Milvus (appVersion 2.6.15), in Grafana, read back by uid.
      expect(first.stdout).toContain('/raw/milvus-io/milvus/v2.6.15/deployments/monitor/grafana/milvus-dashboard.json')
      const link = new URL(o['dashboard-url']!)
      expect(link.pathname).toMatch(/^\/d\/uLf5cJ3Gaa\//)
      expect(link.searchParams.get('var-namespace')).toBe('milvus')
      expect(link.searchParams.get('var-instance')).toBe('my-release')
      const back = await grafana(o['grafana-url']!, '/api/dashboards/uid/uLf5cJ3Gaa')
      const dsVar = back.dashboard.templating.list.find((v: { name: string }) => v.name === 'datasource')
      expect(dsVar).toMatchObject({ type: 'datasource', query: 'prometheus' })
      const ds = await grafana(o['grafana-url']!, `/api/datasources/uid/${encodeURIComponent(dsVar.current.value)}`)
      expect(ds).toMatchObject({ type: 'prometheus', url: 'http://prometheus-k8s.monitoring.svc:9090' })
      expect((await grafana(o['grafana-url']!, '/api/search?dashboardUIDs=uLf5cJ3Gaa')).map((d: { uid: string }) => d.uid)).toEqual([
        'uLf5cJ3Gaa',
      ])

      // The alert rules: the group reported healthy by the real Prometheus.
      expect(JSON.parse(o['alert-rule-groups']!)).toEqual([
        { prometheusRule: 'milvus/my-release-milvus-alerts', group: 'milvus-milvus-my-release', rules: 6 },
      ])
      // The action saw it healthy in one replica (the service proxy picks one); the forward may
      // reach the other, which evaluates it on its own schedule.
      let health: string[] = []
      for (let i = 0; i < 20 && health.join() !== Array(6).fill('ok').join(); i++) {
        if (i > 0) await new Promise((ok) => setTimeout(ok, 3000))
        health = (await ruleGroup(o['prometheus-url']!, 'milvus-milvus-my-release')).rules.map((r) => r.health)
      }
      expect(health).toEqual(Array(6).fill('ok'))
      expect(o['diagnostics-dir']).toBe('')

      // The order that keeps the step's tail short, from the job summary's timeline (its gantt
      // chart: each phase's start, ms since the epoch, and length): the rules and the Grafana load
      // start before the target wait, the dashboard data check only once the target is up.
      const phases = new Map(
        [...first.summary.matchAll(/^ {2}(.+?) :[^,\n]*, p\d+, (\d+), (\d+)ms$/gm)].map((m) => [
          m[1]!,
          { start: Number(m[2]), end: Number(m[2]) + Number(m[3]) },
        ]),
      )
      const target = phases.get('Milvus target up')!
      expect(phases.get('Alert rules')!.start).toBeLessThan(target.start)
      expect(phases.get('Alert rules')!.start).toBeLessThanOrEqual(phases.get('Milvus installed')!.start)
      expect(phases.get('Grafana dashboard')!.start).toBeLessThan(target.start)
      // 1 ms: the chart rounds each start and length on its own.
      expect(phases.get('Dashboard data')!.start).toBeGreaterThanOrEqual(target.end - 1)

      // The checks of e2e.yml's defaults job, on this run's outputs (the Milvus stand-in answers
      // gRPC connections, not Milvus' REST API).
      const env = { ...outputsEnv(first), KUBECTL_PATTERN: '^v1\\.35\\.2$', HELM_PATTERN: '^v4\\.1\\.4$', CHECK_MILVUS_REST: 'false' }
      for (const check of [
        'check-tool-versions.sh',
        'check-target-up.sh',
        'check-service-monitor.sh',
        'check-endpoints.sh',
        'check-grafana-dashboard.sh',
        'check-discovery-rbac.sh',
      ]) {
        await runCheck(check, env)
      }
      const { PROMETHEUS_IN_CLUSTER, GRAFANA_IN_CLUSTER, ALERTMANAGER_IN_CLUSTER, MILVUS_ENDPOINT_IN_CLUSTER, MILVUS_METRICS_IN_CLUSTER } =
        env
      await runCheck('check-in-cluster-urls.sh', {
        PROMETHEUS: PROMETHEUS_IN_CLUSTER,
        GRAFANA: GRAFANA_IN_CLUSTER,
        ALERTMANAGER: ALERTMANAGER_IN_CLUSTER,
        MILVUS_ENDPOINT: MILVUS_ENDPOINT_IN_CLUSTER,
        MILVUS_METRICS: MILVUS_METRICS_IN_CLUSTER,
      })
      // What a failed job prints: it runs, whatever the cluster serves.
      expect(await runCheck('cluster-state.sh', { KUBECTL: env.KUBECTL })).toContain('my-release-milvus-standalone')

      // The post step stops the forwards (and, without cleanup, leaves the install).
      const post = await runner.post(first.state)
      expect(post.code, failed(post)).toBe(0)
      expect((await cluster.get(`${o['prometheus-url']}/-/ready`)).status).toBe(0)
      expect(await cluster.helm(['status', 'my-release', '-n', 'milvus'])).toMatch(/STATUS: deployed/)
    },
    15 * MIN,
  )

  it(
    'a second run on the same cluster succeeds and leaves the stack as it was',
    async () => {
      const { runner } = e2e
      removeWhenDone('milvus-rerun', 'rerun')
      const run = { namespace: 'milvus-rerun', 'release-name': 'rerun' }
      const first = await runner.main(inputs(run))
      expect(first.code, failed(first)).toBe(0)
      await runner.post(first.state)
      const before = await snapshot('milvus-rerun')
      const again = await runner.main(inputs(run))
      expect(again.code, failed(again)).toBe(0)
      try {
        expect(again.outputs['target-health']).toBe('up')
        // e2e.yml's check of its defaults job's second run.
        await runCheck('check-second-run.sh', {
          ...outputsEnv(again),
          FIRST_SERVICE_MONITOR: first.outputs['service-monitor']!,
          FIRST_SCRAPE_POOL: first.outputs['scrape-pool']!,
          NAMESPACE: 'milvus-rerun',
          RELEASE: 'rerun',
        })
      } finally {
        await runner.post(again.state)
      }
      expect(await snapshot('milvus-rerun')).toEqual(before)
    },
    10 * MIN,
  )
})
