// Prometheus as long-lived clusters configure it, next to kube-prometheus' own monitoring/k8s:
// several Prometheus resources (the run uses the one the prometheus input names), one sharded
// with an externalUrl that has a path (prometheus-operator still serves it at '/'), one with a
// routePrefix, one whose enforcedSampleLimit drops every Milvus scrape, and one without a
// ruleSelector (prometheus-operator gives it no PrometheusRule at all).
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  E2E,
  e2e,
  ensureKubePrometheus,
  failed,
  inputs,
  MIN,
  removeWhenDone,
  tempFile,
  type TargetsAnswer,
  useLocalCluster,
} from './support.ts'

const NS = 'prom-shapes'

/** A Prometheus `name` in NS selecting ServiceMonitors and rules labelled shape=<name>, with its own Service. */
function prometheus(name: string, spec: string): string {
  return (
    `apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: ${name}, namespace: ${NS}}\n` +
    `spec: {replicas: 1, serviceAccountName: prom-shapes, serviceMonitorSelector: {matchLabels: {shape: ${name}}}, serviceMonitorNamespaceSelector: {}, ` +
    `ruleSelector: {matchLabels: {shape: ${name}}}, ruleNamespaceSelector: {}, resources: {requests: {cpu: 10m, memory: 50Mi}}, ${spec}}\n---\n` +
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}-prometheus, namespace: ${NS}}\n` +
    `spec: {selector: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: ${name}}, ports: [{name: web, port: 9090, targetPort: web}]}\n---\n`
  )
}

/** The Prometheus resources of this file, applied once their operator (kube-prometheus') runs; removed when the case ends. */
async function applyPrometheuses(yaml: string, names: string[]): Promise<void> {
  const { cluster } = e2e
  await ensureKubePrometheus()
  onTestFinished(async () => {
    await cluster.kubectl(['delete', 'prometheus', ...names, '-n', NS, '--ignore-not-found', '--wait=true'])
  })
  await cluster.kubectl([
    'apply',
    '-f',
    tempFile(
      'shapes.yaml',
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n---\n` +
        `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: prom-shapes, namespace: ${NS}}\n---\n` +
        yaml,
    ),
  ])
  for (const n of names) {
    await cluster.kubectl(['wait', `prometheus/${n}`, '-n', NS, '--for=condition=Available', '--timeout=180s'])
  }
}

/** The release's targets in the scrape pool `pool`, asked of `pod` (a Prometheus pod in NS) through the API server. */
async function targetsOnPod(pod: string, prefix: string, pool: string): Promise<TargetsAnswer['data']['activeTargets']> {
  const answer = await e2e.cluster.kubectl([
    'get',
    '--raw',
    `/api/v1/namespaces/${NS}/pods/${pod}:9090/proxy${prefix}/api/v1/targets?state=active&scrapePool=${encodeURIComponent(pool)}`,
  ])
  return (JSON.parse(answer) as TargetsAnswer).data.activeTargets
}

describe.runIf(E2E)('Prometheus as real clusters configure it', () => {
  useLocalCluster()

  it(
    'two Prometheuses besides monitoring/k8s: the named one, sharded in two with an externalUrl path, and one under a routePrefix',
    async () => {
      const { runner } = e2e
      await applyPrometheuses(
        prometheus('main', 'shards: 2, externalUrl: "https://example.com/monitoring/prometheus/"') +
          prometheus('other', 'routePrefix: /other'),
        ['main', 'other'],
      )
      removeWhenDone('milvus-shape-main', 'shapemain')
      const started = Date.now()
      const r = await runner.main(
        inputs({
          'install-kube-prometheus': 'false',
          prometheus: `${NS}/main`,
          namespace: 'milvus-shape-main',
          'release-name': 'shapemain',
          expose: 'none',
          // Asked of the shard that scrapes the target: through the Service, half the answers
          // would come from the shard that never saw it (empty), and three must all hold.
          assertions:
            '- name: target up on its shard\n  query: up{namespace="${namespace}", app_kubernetes_io_instance="${release}"}\n' +
            "  successCondition: 'all(result, # == 1)'\n  count: 3\n  interval: 1s\n",
        }),
      )
      const seconds = (Date.now() - started) / 1000
      expect(r.code, failed(r)).toBe(0)
      expect(r.stdout).toContain(`Using Prometheus ${NS}/main`)
      // The externalUrl's path is a proxy's, not the pod's: no route prefix.
      expect(r.stdout).not.toMatch(/route prefix \/monitoring/)
      const pool = r.outputs['scrape-pool']!
      // One shard scrapes the target, the other does not: the wait took the one that does.
      const onShard = await Promise.all(['prometheus-main-0', 'prometheus-main-shard-1-0'].map((p) => targetsOnPod(p, '', pool)))
      expect(onShard.map((t) => t.length).sort()).toEqual([0, 1])
      expect(onShard.flat().every((t) => t.health === 'up')).toBe(true)
      expect(JSON.parse(r.outputs['assertion-results']!)).toMatchObject([{ name: 'target up on its shard', held: true, measurements: 3 }])
      console.log(`sharded Prometheus with an externalUrl path: exit 0 in ${seconds.toFixed(1)} s`)

      removeWhenDone('milvus-shape-other', 'shapeother')
      const started2 = Date.now()
      const r2 = await runner.main(
        inputs({
          'install-kube-prometheus': 'false',
          prometheus: `${NS}/other`,
          namespace: 'milvus-shape-other',
          'release-name': 'shapeother',
          expose: 'none',
        }),
      )
      const seconds2 = (Date.now() - started2) / 1000
      expect(r2.code, failed(r2)).toBe(0)
      expect(r2.stdout).toContain(
        `Using Prometheus ${NS}/other (ServiceAccount prom-shapes, Service other-prometheus:web, route prefix /other)`,
      )
      const targets = await targetsOnPod('prometheus-other-0', '/other', r2.outputs['scrape-pool']!)
      expect(targets.length).toBe(1)
      expect(targets[0]!.health).toBe('up')
      console.log(`Prometheus under routePrefix /other: exit 0 in ${seconds2.toFixed(1)} s`)
    },
    15 * MIN,
  )

  it(
    'a Prometheus whose enforcedSampleLimit drops every Milvus scrape: the run ends when it first says so, naming the limit',
    async () => {
      const { runner } = e2e
      await applyPrometheuses(prometheus('limited', 'enforcedSampleLimit: 5'), ['limited'])
      removeWhenDone('milvus-shape-limited', 'shapelimited')
      const started = Date.now()
      const r = await runner.main(
        inputs({
          'install-kube-prometheus': 'false',
          prometheus: `${NS}/limited`,
          namespace: 'milvus-shape-limited',
          'release-name': 'shapelimited',
          expose: 'none',
        }),
      )
      const seconds = (Date.now() - started) / 1000
      expect(r.code, failed(r)).not.toBe(0)
      const errors = r.stdout.split('\n').filter((l) => l.startsWith('::error::'))
      // Named at the target's first failed scrape, not as a wait that ran out of its budget.
      expect(errors.join('\n')).toMatch(/its sample limit is exceeded .*raise or remove .*enforcedSampleLimit/)
      expect(errors.join('\n')).not.toMatch(/timed out|ran out/)
      console.log(`sample limit named, exit ${r.code} in ${seconds.toFixed(1)} s: ${errors[0]?.slice(0, 200)}`)
    },
    15 * MIN,
  )

  it(
    'a Prometheus without a ruleSelector (it loads no PrometheusRule): the run ends before any change, naming it',
    async () => {
      const { cluster, runner } = e2e
      await applyPrometheuses(prometheus('norules', 'shards: 1').replace('ruleSelector: {matchLabels: {shape: norules}}, ', ''), [
        'norules',
      ])
      removeWhenDone('milvus-shape-norules', 'shapenorules')
      const started = Date.now()
      let at: number | undefined
      const r = await runner.main(
        inputs({
          'install-kube-prometheus': 'false',
          prometheus: `${NS}/norules`,
          namespace: 'milvus-shape-norules',
          'release-name': 'shapenorules',
          expose: 'none',
        }),
        { onStdout: (c) => void (c.includes('has no spec.ruleSelector') && (at ??= Date.now())) },
      )
      await runner.post(r.state)
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(
        /::error::Prometheus prom-shapes\/norules has no spec.ruleSelector, so prometheus-operator gives it no PrometheusRule .*or set alert-rules: false/,
      )
      expect(at, failed(r)).toBeDefined()
      console.log(`no ruleSelector: refused ${((at! - started) / 1000).toFixed(1)} s after the start`)
      expect(at! - started).toBeLessThan(30_000)
      // Nothing was made: the release's namespace was not there and is not.
      await expect(cluster.kubectl(['get', 'namespace', 'milvus-shape-norules'])).rejects.toThrow(/NotFound/)
    },
    10 * MIN,
  )
})
