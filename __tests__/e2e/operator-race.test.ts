// The operator race (upstream prometheus-operator PR #8313), reproduced at will: the local
// cluster holds back the operator's namespace watch events, so the namespaces stay unknown to
// it while their ServiceMonitors arrive, and it drops them. Holding the events is cluster-wide:
// every case releases them in `finally`. Each case needs kube-prometheus' operator running.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dropNamespace, E2E, e2e, ensureKubePrometheus, failed, inputs, MIN, SUPPORT, tempFile, useLocalCluster } from './support.ts'

/** How many times the operator's log says it dropped an object of `namespace`. */
const operatorDrops = (namespace: string) =>
  readFileSync(join(e2e.cluster.logDir, 'prometheus-operator.log'), 'utf8')
    .split('\n')
    .filter((line) => line.includes('get namespace to enqueue Prometheus instances failed') && line.includes(namespace)).length

describe.runIf(E2E)('the operator race', () => {
  useLocalCluster()

  it(
    'a run whose ServiceMonitor the operator drops: touched once unless something else brings it back, the run ends with the target up',
    async () => {
      const { cluster, runner } = e2e
      await ensureKubePrometheus()
      const namespace = `milvus-race-${Date.now().toString(36)}`
      cluster.holdNamespaceEvents(true)
      let released = false
      const release = async () => {
        // Until the chart's ServiceMonitor exists and the operator has dropped it, then let the namespace through.
        await expect.poll(() => operatorDrops(namespace) > 0, { timeout: 5 * MIN, interval: 500 }).toBe(true)
        cluster.holdNamespaceEvents(false)
        released = true
      }
      try {
        // Without the action's PrometheusRule, whose arrival would make the operator reconcile anyway.
        const [r] = await Promise.all([
          runner.main(inputs({ namespace, 'release-name': 'race', 'alert-rules': 'false', timeout: '8m' })),
          release(),
        ])
        expect(released).toBe(true)
        expect(r.code, failed(r)).toBe(0)
        expect(r.outputs['target-health']).toBe('up')
        // Healed by the touch, or by a reconcile another change made the operator do meanwhile
        // (it then lists every ServiceMonitor, the dropped one too).
        const touched = r.stdout.includes(`has not put ServiceMonitor ${namespace}/race-milvus-standalone`)
        if (touched)
          expect(r.stdout).toContain(`prometheus-operator took ServiceMonitor ${namespace}/race-milvus-standalone after the touch`)
        console.log(
          `operator race in a run: the ServiceMonitor was dropped; ${touched ? 'the touch' : 'another reconcile'} brought it back`,
        )
        await runner.post(r.state)
      } finally {
        cluster.holdNamespaceEvents(false)
      }
      await dropNamespace(namespace, 'race')
    },
    15 * MIN,
  )

  it(
    "ServiceMonitors the operator dropped (their namespaces unknown to it): each touched once and in Prometheus' configuration",
    async () => {
      const { cluster } = e2e
      await ensureKubePrometheus()
      const names = Array.from({ length: 3 }, (_, i) => `race-${Date.now().toString(36)}-${i}`)
      const manifest = names
        .map(
          (ns) =>
            `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n---\n` +
            `apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: sm, namespace: ${ns}}\n` +
            `spec: {selector: {matchLabels: {app: none}}, endpoints: [{port: metrics, interval: 30s}]}`,
        )
        .join('\n---\n')
      cluster.holdNamespaceEvents(true)
      try {
        await cluster.kubectl(['apply', '-f', tempFile('race.yaml', manifest)])
        await expect.poll(() => names.every((ns) => operatorDrops(ns) > 0), { timeout: 30_000, interval: 500 }).toBe(true)
      } finally {
        cluster.holdNamespaceEvents(false)
      }
      const entry = join(SUPPORT, 'scrape-job-entry.ts')
      const results = await Promise.all(
        names.map(async (ns) => {
          const out = await cluster.run(process.execPath, [entry, ns, 'sm', '15000'])
          return JSON.parse(out.trim().split('\n').at(-1)!) as { result?: string; error?: string }
        }),
      )
      // 'recovered' by the touch, or 'present' when another change made the operator reconcile
      // Prometheus meanwhile (it then lists every ServiceMonitor, the dropped ones too).
      console.log(
        `operator race: ${results.filter((x) => x.result === 'recovered').length} of ${names.length} dropped ServiceMonitors recovered by the touch`,
      )
      expect(
        results.map((x) => x.error ?? x.result).every((x) => x === 'present' || x === 'recovered'),
        JSON.stringify(results),
      ).toBe(true)
      await cluster.kubectl(['delete', 'namespace', ...names, '--wait=false'])
    },
    10 * MIN,
  )

  it(
    'a ServiceMonitor the operator rejects: the scrape-config check fails naming it, without waiting out the budget',
    async () => {
      const { cluster } = e2e
      await ensureKubePrometheus()
      const ns = `sm-rejected-${Date.now().toString(36)}`
      const file = tempFile(
        'sm.yaml',
        `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n---\n` +
          `apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: bad, namespace: ${ns}}\n` +
          `spec: {selector: {matchLabels: {app: none}}, endpoints: [{port: metrics, interval: 5s, scrapeTimeout: 10s}]}\n`,
      )
      await cluster.kubectl(['apply', '-f', file])
      const started = Date.now()
      const out = await cluster.run(process.execPath, [join(SUPPORT, 'scrape-job-entry.ts'), ns, 'bad', '5000'])
      const answer = JSON.parse(out.trim().split('\n').at(-1)!) as { result?: string; error?: string }
      expect(answer.error).toMatch(new RegExp(`prometheus-operator (rejected|has not put) ServiceMonitor ${ns}/bad`))
      expect(out).toMatch(/Touching the ServiceMonitor once/)
      expect(Date.now() - started).toBeLessThan(MIN)
      await cluster.kubectl(['delete', 'namespace', ns, '--wait=false'])
    },
    10 * MIN,
  )
})
