// What the action recovers from: the API server going away during the kube-prometheus apply,
// and a release an interrupted run left pending-install.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { E2E, e2e, failed, inputs, killHelm, MIN, useLocalCluster, removeKubePrometheus, removeWhenDone } from './support.ts'

describe.runIf(E2E)('recoveries', () => {
  useLocalCluster()

  it(
    'the API server stopped for a few seconds during the kube-prometheus apply: retried, succeeds',
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus-outage', 'outage')
      // A cluster without the stack, as on a first run: the setup apply then creates the CRDs,
      // seconds of work the outage lands in (an apply over an installed stack ends before it).
      await removeKubePrometheus({ crds: true })
      let triggered = false
      const r = await runner.main(inputs({ namespace: 'milvus-outage', 'release-name': 'outage' }), {
        onStdout: (chunk) => {
          if (!triggered && chunk.includes('Apply kube-prometheus')) {
            triggered = true
            cluster.outage()
          }
        },
      })
      expect(triggered).toBe(true)
      expect(r.code, failed(r)).toBe(0)
      // The apply in flight failed and was retried, and the API server really went away.
      expect(r.stdout).toMatch(/Applying manifests\/setup: the API server did not answer .*; retry 1 in/)
      expect(readFileSync(join(cluster.logDir, 'serve.log'), 'utf8')).toMatch(/outage over/)
      expect(r.outputs['target-health']).toBe('up')
      await runner.post(r.state)
    },
    10 * MIN,
  )

  it(
    'a release left pending-install by an interrupted run: the next run uninstalls it, then installs',
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus-pending', 'pend')
      // Nothing of an earlier attempt: the first run below must be a first install.
      await cluster.helm(['uninstall', 'pend', '-n', 'milvus-pending', '--ignore-not-found', '--wait'])
      let killed = false
      await cluster.kubectl(['create', 'namespace', 'milvus-pending']).catch(() => '')
      const values = 'annotations:\n  local-cluster.milvus-monitoring-action/never-ready: "true"\n'
      const first = await runner.main(
        inputs({ namespace: 'milvus-pending', 'release-name': 'pend', values, expose: 'none', timeout: '3m' }),
        {
          onStdout: (chunk) => {
            if (killed || !chunk.includes('helm upgrade --install pend')) return
            killed = true
            // The runner cancelling the job: helm dies without recording anything.
            setTimeout(() => killHelm('pend'), 5000)
          },
        },
      )
      expect(killed).toBe(true)
      expect(first.code).not.toBe(0)
      expect(await cluster.helm(['status', 'pend', '-n', 'milvus-pending'])).toMatch(/STATUS: pending-install/)
      const r = await runner.main(inputs({ namespace: 'milvus-pending', 'release-name': 'pend', expose: 'none', cleanup: 'true' }))
      expect(r.code, failed(r)).toBe(0)
      expect(r.stdout).toMatch(
        /Helm release milvus-pending\/pend is pending-install \(revision 1, a first install an earlier run of this action did not finish\): uninstalling it before installing again/,
      )
      expect(await cluster.helm(['status', 'pend', '-n', 'milvus-pending'])).toMatch(/STATUS: deployed/)
      const post = await runner.post(r.state)
      expect(post.stdout).not.toContain('::warning::')
      expect(await cluster.helm(['list', '-A', '-f', '^pend$', '-q'])).toBe('')
    },
    10 * MIN,
  )
})
