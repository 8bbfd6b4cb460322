// The port-forwards the action leaves for later steps: they heal (a frozen kubectl, a deleted
// pod), and one whose Service has no ready pod does not fail the run.
import { describe, expect, it } from 'vitest'
import {
  E2E,
  e2e,
  ensureKubePrometheus,
  failed,
  forwardStatus,
  inputs,
  MIN,
  untilAnswers,
  useLocalCluster,
  removeWhenDone,
} from './support.ts'

describe.runIf(E2E)('port-forwards', () => {
  useLocalCluster()

  it(
    'forwards that heal: a frozen kubectl and a deleted Milvus pod, each forward answering again within its bound',
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus-forwards', 'fwd')
      const r = await runner.main(inputs({ namespace: 'milvus-forwards', 'release-name': 'fwd' }))
      expect(r.code, failed(r)).toBe(0)
      try {
        const prometheus = r.outputs['prometheus-url']!
        const before = forwardStatus(runner).status.forwards.find((f) => f.name === 'prometheus')!
        process.kill(before.pid!, 'SIGSTOP')
        const frozenMs = await untilAnswers(async () => (await cluster.get(`${prometheus}/-/ready`)).status === 200, 30_000)
        console.log(`prometheus forward: frozen kubectl to answering again in ${frozenMs} ms`)
        // The documented bound: a probe period, two failed probes, the first backoff, kubectl's start.
        expect(frozenMs).toBeLessThan(15_000)
        const after = forwardStatus(runner).status.forwards.find((f) => f.name === 'prometheus')!
        expect(after.restarts).toBeGreaterThan(before.restarts)
        expect(after.lastRestart?.reason).toMatch(/probe failed 2 times: kubectl \(pid \d+\) is stopped/)
        // The supervisor killed the frozen kubectl when it restarted the forward.
        expect(() => process.kill(before.pid!, 0)).toThrow(/ESRCH/)

        const metrics = r.outputs['milvus-metrics-url']!
        const podNames = async () =>
          (await cluster.kubectl(['get', 'pods', '-n', 'milvus-forwards', '-l', 'component=standalone', '-o', 'name'])).trim().split('\n')
        const [old] = await podNames()
        await cluster.kubectl(['delete', 'pod', '-n', 'milvus-forwards', '-l', 'component=standalone', '--wait=false'])
        // Answering again means: the old pod gone, and the forward serving its replacement.
        const podMs = await untilAnswers(
          async () => !(await podNames()).includes(old!) && (await cluster.get(metrics)).status === 200,
          90_000,
        )
        console.log(`milvus-metrics forward: deleted pod to answering again in ${podMs} ms`)
        expect(podMs).toBeLessThan(60_000)
      } finally {
        await runner.post(r.state)
      }
    },
    10 * MIN,
  )

  it(
    "Grafana scaled to zero: the run succeeds, its output set, a notice names Grafana; the dashboard, asked for, is not waited on (not this run's Grafana)",
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus-grafana', 'nografana')
      await ensureKubePrometheus()
      await cluster.kubectl(['scale', 'deployment', 'grafana', '-n', 'monitoring', '--replicas=0'])
      try {
        const r = await runner.main(
          inputs({
            namespace: 'milvus-grafana',
            'release-name': 'nografana',
            'install-kube-prometheus': 'false',
            'grafana-dashboard': 'true',
          }),
        )
        expect(r.code, failed(r)).toBe(0)
        expect(r.stdout).toMatch(/::notice::Grafana monitoring\/grafana has no ready pod: the Milvus dashboard was not loaded/)
        expect(r.outputs['dashboard-url'] ?? '').toBe('')
        expect(r.outputs['grafana-url']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        expect(r.stdout).toMatch(
          /::notice::Grafana is not answering yet at http:\/\/127\.0\.0\.1:\d+ \(svc\/grafana in monitoring has no ready pod\?\)/,
        )
        expect(r.outputs['target-health']).toBe('up')
        await runner.post(r.state)
      } finally {
        // Restored: kube-prometheus' Grafana runs one replica.
        await cluster.kubectl(['scale', 'deployment', 'grafana', '-n', 'monitoring', '--replicas=1'])
      }
    },
    10 * MIN,
  )
})
