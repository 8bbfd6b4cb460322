// Runs that can only end at their budget, and say why: a Milvus pod that never becomes ready.
import { describe, expect, it } from 'vitest'
import { E2E, e2e, inputs, MIN, useLocalCluster } from './support.ts'

describe.runIf(E2E)('runs that end at their budget', () => {
  useLocalCluster()

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
