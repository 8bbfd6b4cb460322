// Runs that can only end at their budget, and say why: Prometheus not allowed to discover the
// namespace (prometheus-rbac: false, as e2e.yml's prometheus-rbac-false job, with its checks),
// a Milvus pod that never becomes ready.
import { describe, expect, it } from 'vitest'
import { E2E, e2e, inputs, managedRoles, MIN, runCheck, toolCacheKubectl, useLocalCluster, removeWhenDone } from './support.ts'

describe.runIf(E2E)('runs that end at their budget', () => {
  useLocalCluster()

  it(
    'prometheus-rbac false in a namespace Prometheus may not read: fails with the RBAC diagnosis',
    async () => {
      const { runner } = e2e
      removeWhenDone('milvus-stuck', 'stuck')
      removeWhenDone('milvus-norbac', 'norbac')
      // A Role an earlier suite's run left would let Prometheus in: none of the action's may be there.
      expect(await managedRoles('milvus-norbac').catch(() => [])).toEqual([])
      const r = await runner.main(
        inputs({ namespace: 'milvus-norbac', 'release-name': 'norbac', 'prometheus-rbac': 'false', timeout: '2m' }),
      )
      await runner.post(r.state)
      expect(r.code).not.toBe(0)
      expect(await managedRoles('milvus-norbac')).toEqual([])
      // The failure says what was seen and why, not merely that time ran out.
      expect(r.stdout).toMatch(/::error::.*Timed out waiting for the Milvus target/s)
      expect(r.stdout).toMatch(/no targets discovered/i)
      expect(r.stdout).toMatch(/RBAC|Role/)
      expect(r.ms).toBeLessThan(2 * MIN + 30_000)
      // e2e.yml's checks of its prometheus-rbac-false job.
      await runCheck('check-outcome.sh', { OUTCOME: r.code === 0 ? 'success' : 'failure' })
      await runCheck('check-failed-at-scrape.sh', { KUBECTL: toolCacheKubectl(), NAMESPACE: 'milvus-norbac', RELEASE: 'norbac' })
      await runCheck('check-discovery-rbac.sh', { KUBECTL: toolCacheKubectl(), NAMESPACE: 'milvus-norbac', EXPECT: 'no' })
      expect(await runCheck('cluster-state.sh', { KUBECTL: toolCacheKubectl() }, ['--rbac'])).toContain('norbac')
    },
    5 * MIN,
  )

  it(
    'a Milvus pod that never becomes ready: fails within the timeout, printing the pod, its events and the Helm status',
    async () => {
      const { cluster, runner } = e2e
      // A release left by an earlier run of the suite would fail at once on its exceeded deadline.
      await cluster.helm(['uninstall', 'stuck', '-n', 'milvus-stuck', '--ignore-not-found', '--wait'])
      const values = 'annotations:\n  local-cluster.milvus-monitoring-action/never-ready: "true"\n'
      const r = await runner.main(inputs({ namespace: 'milvus-stuck', 'release-name': 'stuck', values, timeout: '90s' }))
      await runner.post(r.state)
      expect(r.code).not.toBe(0)
      expect(r.ms).toBeLessThan(90_000 + 30_000)
      expect(r.stdout).toMatch(/::error::.*Milvus release stuck/s)
      expect(r.stdout).toMatch(/Pod milvus-stuck\/stuck-milvus-standalone-\S+ is not ready/)
      expect(r.stdout).toMatch(/Events:/)
      expect(r.stdout).toMatch(/helm status stuck[\s\S]*STATUS:/)
    },
    5 * MIN,
  )
})
