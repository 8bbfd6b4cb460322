// Inputs other than the defaults, as e2e.yml's `variants` job runs them (Milvus in `default`,
// cluster mode, expose none, Helm 3, version lines), each followed by that job's checks; and a
// re-run after kubectl scale with Helm 4 and Helm 3.
import { describe, expect, it } from 'vitest'
import type { StepResult } from '../../local-cluster/runner.ts'
import {
  activeTargets,
  E2E,
  e2e,
  ensureKubePrometheus,
  failed,
  inputs,
  managedRoles,
  MIN,
  outputsEnv,
  runCheck,
  useLocalCluster,
  removeWhenDone,
} from './support.ts'

/** The variants job's checks, with its matrix' values. */
async function variantChecks(
  r: StepResult,
  matrix: { namespace: string; release: string; mode?: string; expose?: string; kubectl?: string; helm?: string },
) {
  const env = {
    ...outputsEnv(r),
    NAMESPACE: matrix.namespace,
    RELEASE: matrix.release,
    MILVUS_MODE: matrix.mode ?? 'standalone',
    EXPOSE: matrix.expose ?? 'port-forward',
    KUBECTL_PATTERN: matrix.kubectl ?? '^v1\\.35\\.2$',
    HELM_PATTERN: matrix.helm ?? '^v4\\.1\\.4$',
  }
  for (const check of ['check-tool-versions.sh', 'check-expose-urls.sh', 'check-component-targets.sh']) await runCheck(check, env)
  // The job's endpoint step has no milvus-endpoint (the defaults job checks it).
  await runCheck('check-endpoints.sh', Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'MILVUS_ENDPOINT')))
}

describe.runIf(E2E)('inputs other than the defaults', () => {
  useLocalCluster()

  it(
    'Milvus in default: no RBAC added, target up',
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('default', 'rel-default')
      const r = await runner.main(
        inputs({ namespace: 'default', 'release-name': 'rel-default', values: 'readinessProbe: {initialDelaySeconds: 20}' }),
      )
      expect(r.code, failed(r)).toBe(0)
      try {
        expect(await managedRoles('default')).toEqual([])
        // A timing lever set in values wins; the rest of the lever stays.
        const deploy = await cluster.kubectlJson<{ spec: { template: { spec: { containers: Array<{ readinessProbe: unknown }> } } } }>([
          'get',
          'deployment',
          '-n',
          'default',
          'rel-default-milvus-standalone',
        ])
        expect(deploy.spec.template.spec.containers[0]!.readinessProbe).toMatchObject({ initialDelaySeconds: 20, periodSeconds: 5 })
        const targets = await activeTargets(r.outputs['prometheus-url']!, r.outputs['scrape-pool']!)
        expect(targets.every((t) => t.health === 'up')).toBe(true)
        await variantChecks(r, { namespace: 'default', release: 'rel-default' })
        await runCheck('check-no-rbac.sh', { KUBECTL: r.outputs['kubectl-path']!, NAMESPACE: 'default' })
      } finally {
        await runner.post(r.state)
      }
    },
    10 * MIN,
  )

  it(
    'milvus-mode cluster: every component target up',
    async () => {
      const { runner } = e2e
      removeWhenDone('milvus-cluster', 'big')
      const r = await runner.main(inputs({ 'milvus-mode': 'cluster', namespace: 'milvus-cluster', 'release-name': 'big' }))
      expect(r.code, failed(r)).toBe(0)
      try {
        const targets = await activeTargets(r.outputs['prometheus-url']!, r.outputs['scrape-pool']!)
        const components = new Set(targets.map((t) => t.labels.component))
        // Cluster mode runs the coordinators, nodes and proxy as separate components.
        expect(components.size).toBeGreaterThanOrEqual(4)
        expect(components).toContain('proxy')
        expect(targets.every((t) => t.health === 'up')).toBe(true)
        await variantChecks(r, { namespace: 'milvus-cluster', release: 'big', mode: 'cluster' })
      } finally {
        await runner.post(r.state)
      }
    },
    10 * MIN,
  )

  it(
    'expose none, install-kube-prometheus false, Helm 3 and version lines: in-cluster URLs, no forwards left',
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus-none', 'nofwd')
      await ensureKubePrometheus()
      const r = await runner.main(
        inputs({
          namespace: 'milvus-none',
          'release-name': 'nofwd',
          expose: 'none',
          'install-kube-prometheus': 'false',
          'helm-version': '3',
          'kubectl-version': '1.35',
        }),
      )
      expect(r.code, failed(r)).toBe(0)
      try {
        expect(r.outputs['helm-version']).toBe('v3.17.2')
        expect(r.outputs['kubectl-version']).toBe('v1.35.2')
        expect(r.outputs['prometheus-url']).toBe('http://prometheus-k8s.monitoring.svc:9090')
        expect(r.outputs['milvus-endpoint']).toBe('nofwd-milvus.milvus-none.svc:19530')
        expect(r.outputs['target-health']).toBe('up')
        expect(r.stdout).not.toContain('Apply kube-prometheus')
        // The forward used for the wait is gone before the post step runs.
        expect(JSON.parse(r.state.run!).supervisorPid).toBeUndefined()
        expect(await cluster.kubectl(['version', '--client'])).toBeTruthy()
        await variantChecks(r, {
          namespace: 'milvus-none',
          release: 'nofwd',
          expose: 'none',
          kubectl: '^v1\\.35\\.[0-9]+$',
          helm: '^v3\\.[0-9]+\\.[0-9]+$',
        })
      } finally {
        await runner.post(r.state)
      }
    },
    10 * MIN,
  )

  it(
    "a re-run after kubectl scale: Helm 4 and Helm 3 both restore the chart's replicas",
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus-scale', 'scaled')
      const run = { namespace: 'milvus-scale', 'release-name': 'scaled', expose: 'none' }
      const first = await runner.main(inputs(run))
      expect(first.code, failed(first)).toBe(0)
      await runner.post(first.state)
      const deploy = ['deployment', 'scaled-milvus-standalone', '-n', 'milvus-scale']
      const replicas = async () => (await cluster.kubectlJson<{ spec: { replicas: number } }>(['get', ...deploy])).spec.replicas
      for (const helmVersion of ['v4.1.4', '3']) {
        await cluster.kubectl(['scale', ...deploy, '--replicas=3'])
        expect(await replicas()).toBe(3)
        const r = await runner.main(inputs({ ...run, 'helm-version': helmVersion }))
        expect(r.code, `${helmVersion}: ${failed(r)}`).toBe(0)
        expect(await replicas(), helmVersion).toBe(1)
        expect(await cluster.helm(['status', 'scaled', '-n', 'milvus-scale'])).toMatch(/STATUS: deployed/)
        await runner.post(r.state)
      }
    },
    15 * MIN,
  )
})
