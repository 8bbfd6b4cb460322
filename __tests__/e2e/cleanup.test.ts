// cleanup: true. The post step deletes what the run created and nothing else: on a cluster
// without a stack (e2e.yml's cleanup job, with its checks), on one where another team's CRDs,
// ServiceMonitor and a ConfigMap in monitoring were there before, and after a later step
// switched kubectl's context. Each case builds the pre-state it needs: the first two remove the
// action's kube-prometheus, which the cases of other files install again when they need it.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import YAML from 'yaml'
import {
  E2E,
  e2e,
  failed,
  forwardsOf,
  inputs,
  MIN,
  removeKubePrometheus,
  runCheck,
  tempFile,
  toolCacheKubectl,
  useLocalCluster,
} from './support.ts'

/** `<namespace>/<pod>` → when the scheduler bound it (its Scheduled Event's eventTime, µs precision, ms epoch), for pods bound since `since`. */
async function scheduledSince(namespaces: string[], since: number): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const ns of namespaces) {
    const events = (
      await e2e.cluster.kubectlJson<{ items: Array<{ eventTime?: string; involvedObject: { name: string } }> }>([
        'get',
        'events',
        '-n',
        ns,
        '--field-selector',
        'reason=Scheduled',
      ])
    ).items
    for (const e of events) {
      const t = e.eventTime ? Date.parse(e.eventTime) : NaN
      if (t >= since) out.set(`${ns}/${e.involvedObject.name}`, Math.min(t, out.get(`${ns}/${e.involvedObject.name}`) ?? Infinity))
    }
  }
  return out
}

describe.runIf(E2E)('cleanup', () => {
  useLocalCluster()

  it(
    'cleanup true on a cluster without a stack: everything the run installed is gone after the post step (e2e.yml cleanup job checks)',
    async () => {
      const { cluster, runner } = e2e
      // The job's kind cluster: no kube-prometheus, no monitoring CRDs, no monitoring namespace.
      await removeKubePrometheus({ crds: true })
      await cluster.kubectl(['delete', 'namespace', 'monitoring', '--ignore-not-found', '--wait=true', '--timeout=120s'])
      await cluster.helm(['uninstall', 'gone', '-n', 'milvus-gone', '--ignore-not-found', '--wait'])
      await cluster.kubectl(['delete', 'namespace', 'milvus-gone', '--ignore-not-found', '--wait=true', '--timeout=120s'])
      const r = await runner.main(inputs({ cleanup: 'true', namespace: 'milvus-gone', 'release-name': 'gone' }))
      expect(r.code, failed(r)).toBe(0)
      const kubectl = toolCacheKubectl()
      await runCheck('check-up-before-cleanup.sh', {
        KUBECTL: kubectl,
        PROMETHEUS_URL: r.outputs['prometheus-url']!,
        SCRAPE_POOL: r.outputs['scrape-pool']!,
        NAMESPACES: 'milvus-gone monitoring',
      })
      const post = await runner.post(r.state)
      expect(post.code, failed(post)).toBe(0)
      // The check the job's post step runs, right after the cleanup: Helm releases only in the
      // run's namespaces (other files' releases share this cluster).
      const out = await runCheck('check-cleanup.mjs', {
        PATH: `${dirname(kubectl)}:${process.env.PATH}`,
        NAMESPACES: 'milvus-gone monitoring',
        SCOPE: 'namespaces',
        FORWARDS: forwardsOf(runner),
      })
      expect(out).toContain('cleanup removed everything the action installed')
    },
    15 * MIN,
  )

  it(
    "cleanup true with monitoring CRDs, another team's ServiceMonitor and monitoring/keep-me there before: all still there after, what the run created gone",
    async () => {
      const { cluster, runner } = e2e
      // The pre-state: no kube-prometheus of the action's, the CRDs another team applied.
      const manifests = await removeKubePrometheus({ crds: true })
      // Nothing of an earlier attempt: the release and its namespace must be this run's.
      await cluster.helm(['uninstall', 'tidy', '-n', 'milvus-cleanup', '--ignore-not-found', '--wait'])
      await cluster.kubectl(['delete', 'namespace', 'milvus-cleanup', '--ignore-not-found', '--wait=true', '--timeout=120s'])
      for (const f of readdirSync(join(manifests, 'setup')).filter((x) => x.includes('CustomResourceDefinition'))) {
        await cluster.kubectl(['apply', '--server-side', '--field-manager=other-team', '-f', join(manifests, 'setup', f)])
      }
      const file = tempFile(
        'pre.yaml',
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n---\n' +
          'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep-me, namespace: monitoring}\ndata: {a: b}\n---\n' +
          'apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\n' +
          'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: team-sm, namespace: other}\n' +
          'spec: {selector: {matchLabels: {app: team}}, endpoints: [{port: metrics}]}\n',
      )
      await cluster.kubectl(['apply', '-f', file])
      try {
        const since = Date.now()
        const r = await runner.main(inputs({ cleanup: 'true', namespace: 'milvus-cleanup', 'release-name': 'tidy' }))
        expect(r.code, failed(r)).toBe(0)
        // The pull order a node gets (it pulls in the order pods are bound to it): the operator before
        // Milvus, and Prometheus (created by the operator) before the rest of kube-prometheus.
        const bound = await scheduledSince(['monitoring', 'milvus-cleanup'], since)
        const at = (ns: string, prefix: string) => [...bound].filter(([k]) => k.startsWith(`${ns}/${prefix}`)).map(([, t]) => t)
        const [operator, milvus, prometheus] = [
          at('monitoring', 'prometheus-operator-'),
          at('milvus-cleanup', ''),
          at('monitoring', 'prometheus-k8s-'),
        ]
        const rest = ['grafana-', 'alertmanager-main-', 'kube-state-metrics-', 'blackbox-exporter-', 'prometheus-adapter-'].flatMap((p) =>
          at('monitoring', p),
        )
        expect([operator.length, milvus.length, prometheus.length, rest.length > 4], JSON.stringify([...bound])).toEqual([1, 3, 2, true])
        expect(Math.max(...operator)).toBeLessThan(Math.min(...milvus))
        expect(Math.max(...prometheus)).toBeLessThan(Math.min(...rest))
        expect(r.stdout).toMatch(/Left as they are \(they exist and belong to someone else; not applied over, never deleted\)/)
        expect(r.stdout).toMatch(/CustomResourceDefinition servicemonitors\.monitoring\.coreos\.com \(managed by other-team/)
        expect(r.stdout).toMatch(/Namespace monitoring \(managed by kubectl/)
        const post = await runner.post(r.state)
        expect(post.code, failed(post)).toBe(0)
        expect(post.stdout).not.toContain('::warning::')

        // What the run created is gone.
        expect(await cluster.helm(['list', '-A', '-f', '^tidy$', '-q'])).toBe('')
        await expect(cluster.kubectl(['get', 'namespace', 'milvus-cleanup'])).rejects.toThrow(/NotFound/)
        await expect(cluster.kubectl(['get', 'deployment', '-n', 'monitoring', 'prometheus-operator'])).rejects.toThrow(/NotFound/)
        await expect(cluster.kubectl(['get', 'prometheus', '-n', 'monitoring', 'k8s'])).rejects.toThrow(/NotFound/)
        await expect(cluster.kubectl(['get', 'clusterrole', 'prometheus-k8s'])).rejects.toThrow(/NotFound/)
        await expect(cluster.kubectl(['get', 'apiservice', 'v1beta1.metrics.k8s.io'])).rejects.toThrow(/NotFound/)
        // What was there before is still there, untouched by the action's field manager.
        const crds = (
          await cluster.kubectlJson<{ items: Array<{ metadata: { name: string; managedFields: Array<{ manager: string }> } }> }>([
            'get',
            'crd',
            '--show-managed-fields',
          ])
        ).items.filter((c) => c.metadata.name.endsWith('monitoring.coreos.com'))
        expect(crds).toHaveLength(10)
        for (const c of crds) expect(c.metadata.managedFields.map((m) => m.manager)).not.toContain('milvus-monitoring-action')
        expect(await cluster.kubectl(['get', 'servicemonitor', '-n', 'other', 'team-sm', '-o', 'name'])).toContain('team-sm')
        expect(await cluster.kubectl(['get', 'configmap', '-n', 'monitoring', 'keep-me', '-o', 'name'])).toContain('keep-me')
        expect(await cluster.kubectl(['get', 'namespace', 'monitoring', '-o', 'name'])).toContain('namespace/monitoring')
      } finally {
        // The other team's objects go; its CRDs stay (a later install of the action leaves them as they are).
        await cluster.kubectl(['delete', 'configmap', 'keep-me', '-n', 'monitoring', '--ignore-not-found'])
        await cluster.kubectl(['delete', 'namespace', 'other', '--ignore-not-found', '--wait=false'])
      }
    },
    20 * MIN,
  )

  it(
    'the post step after a context switch: it cleans the cluster the main step deployed to',
    async () => {
      const { cluster, runner } = e2e
      const admin = YAML.parse(readFileSync(cluster.env.KUBECONFIG!, 'utf8')) as {
        clusters: Array<{ name: string }>
        contexts: Array<{ name: string; context: { user: string } }>
        'current-context': string
      }
      const user = admin.contexts.find((c) => c.name === admin['current-context'])!.context.user
      admin.clusters.push({ name: 'dead', cluster: { server: 'https://127.0.0.1:1' } } as never)
      admin.contexts.push({ name: 'elsewhere', context: { cluster: 'dead', user } } as never)
      const kubeconfig = tempFile('kubeconfig', YAML.stringify(admin))
      const env = { KUBECONFIG: kubeconfig }
      // What is in milvus-ctx must be this run's (cleanup deletes only what the run created): an
      // earlier, interrupted run's release and RoleBinding go with the namespace, which exists before the run.
      await cluster.helm(['uninstall', 'ctx', '-n', 'milvus-ctx', '--ignore-not-found', '--wait'])
      await cluster.kubectl(['delete', 'namespace', 'milvus-ctx', '--ignore-not-found', '--wait=true', '--timeout=120s'])
      await cluster.kubectl(['create', 'namespace', 'milvus-ctx']).catch(() => '')
      const r = await runner.main(inputs({ namespace: 'milvus-ctx', 'release-name': 'ctx', cleanup: 'true' }), { env })
      expect(r.code, failed(r)).toBe(0)
      // A later step points kubectl at another cluster.
      await cluster.kubectl(['config', 'use-context', 'elsewhere', '--kubeconfig', kubeconfig])
      const post = await runner.post(r.state, { env })
      expect(post.code, failed(post)).toBe(0)
      expect(post.stdout).not.toContain('::warning::')
      expect(post.stdout).toMatch(/Cleanup: delete what this run created on context \S+ \(https:\/\/10\.250/)
      expect(await cluster.helm(['list', '-A', '-f', '^ctx$', '-q'])).toBe('')
      await expect(cluster.kubectl(['get', 'rolebinding', '-n', 'milvus-ctx', 'prometheus-k8s-milvus-discovery'])).rejects.toThrow(
        /NotFound/,
      )
      // The namespace existed before the run: left in place.
      expect(await cluster.kubectl(['get', 'namespace', 'milvus-ctx', '-o', 'name'])).toContain('milvus-ctx')
      // The forwards were stopped too.
      expect((await cluster.get(`${r.outputs['prometheus-url']}/-/ready`)).status).toBe(0)
    },
    10 * MIN,
  )
})
