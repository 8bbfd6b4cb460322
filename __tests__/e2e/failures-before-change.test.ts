// Runs the action stops before it changes anything, naming the cause: an identity without the
// permissions, another Prometheus stack, a release the cluster would never run or scrape, a
// Prometheus that may not discover the release's namespace (prometheus-rbac: false, as e2e.yml's
// prometheus-rbac-false job, with its checks).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  E2E,
  e2e,
  ensureKubePrometheus,
  inputs,
  managedRoles,
  MIN,
  removeWhenDone,
  runCheck,
  snapshot,
  tempFile,
  toolCacheKubectl,
  useLocalCluster,
} from './support.ts'

describe.runIf(E2E)('failures before any change', () => {
  useLocalCluster()

  it(
    'an identity without the permissions: fails before changing anything, naming what it may not do',
    async () => {
      const { cluster, runner } = e2e
      await cluster.kubectl(['create', 'serviceaccount', 'no-rights', '-n', 'default']).catch(() => '')
      const token = (await cluster.kubectl(['create', 'token', 'no-rights', '-n', 'default'])).trim()
      const admin = readFileSync(cluster.env.KUBECONFIG!, 'utf8')
      const server = /server: (\S+)/.exec(admin)![1]
      const ca = /certificate-authority: (\S+)/.exec(admin)![1]
      const kubeconfig = tempFile(
        'kubeconfig',
        `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: ${server}, certificate-authority: ${ca}}}]\n` +
          `users: [{name: u, user: {token: ${token}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
      )
      const r = await runner.main(inputs({ namespace: 'milvus-denied' }), { env: { KUBECONFIG: kubeconfig } })
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(/::error::The kubeconfig's identity may not do what the action needs/)
      expect(r.stdout).toContain('create customresourcedefinitions.apiextensions.k8s.io (cluster-wide)')
      expect(r.stdout).toContain('create namespaces (cluster-wide)')
      await expect(cluster.kubectl(['get', 'namespace', 'milvus-denied'])).rejects.toThrow(/NotFound/)
      expect(r.outputs).toEqual({})
    },
    5 * MIN,
  )

  it(
    'another prometheus-operator in another namespace: the default install stops before any change, naming it',
    async () => {
      const { cluster, runner } = e2e
      // The stack the action installed is there (its own operator is not "another"), and a team's operator next to it.
      await ensureKubePrometheus()
      const file = tempFile(
        'op.yaml',
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: other-ops}\n---\n' +
          'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: team-operator, namespace: other-ops}\n' +
          'spec: {replicas: 1, selector: {matchLabels: {app: team-operator}}, template: {metadata: {labels: {app: team-operator}}, ' +
          'spec: {containers: [{name: operator, image: "quay.io/prometheus-operator/prometheus-operator:v0.85.0"}]}}}\n',
      )
      await cluster.kubectl(['apply', '-f', file])
      try {
        const before = await snapshot('milvus-refused')
        const r = await runner.main(inputs({ namespace: 'milvus-refused', 'release-name': 'refused' }))
        await runner.post(r.state)
        expect(r.code).not.toBe(0)
        expect(r.stdout).toMatch(/::error::The cluster already runs a Prometheus stack this action did not install/)
        expect(r.stdout).toContain('Deployment other-ops/team-operator (image quay.io/prometheus-operator/prometheus-operator:v0.85.0)')
        expect(r.stdout).toMatch(/nothing was changed\. Use that stack instead with install-kube-prometheus: false/)
        // Nothing applied: no namespace, no release, the stack's objects as they were.
        await expect(cluster.kubectl(['get', 'namespace', 'milvus-refused'])).rejects.toThrow(/NotFound/)
        expect(await cluster.helm(['list', '-A', '-f', '^refused$', '-q'])).toBe('')
        expect(await snapshot('milvus-refused')).toEqual(before)
      } finally {
        // The other operator goes at once: a default install anywhere would refuse while it is there.
        await cluster.kubectl(['delete', 'deployment', 'team-operator', '-n', 'other-ops', '--ignore-not-found', '--wait=true'])
        await cluster.kubectl(['delete', 'namespace', 'other-ops', '--wait=false'])
      }
    },
    10 * MIN,
  )

  it(
    'a ServiceMonitor interval shorter than its scrapeTimeout: fails before any change, naming both',
    async () => {
      const { cluster, runner } = e2e
      const r = await runner.main(
        inputs({
          namespace: 'milvus-interval',
          'release-name': 'fast',
          values: 'metrics: {serviceMonitor: {interval: 5s}}',
          timeout: '10m',
        }),
      )
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(/::error::The Milvus release fast would never become ready or be scraped; nothing was changed/)
      expect(r.stdout).toMatch(/scrapeTimeout 10s longer than its interval 5s/)
      expect(r.ms).toBeLessThan(MIN)
      await expect(cluster.kubectl(['get', 'namespace', 'milvus-interval'])).rejects.toThrow(/NotFound/)
    },
    5 * MIN,
  )

  it(
    'a release name whose StatefulSet names are too long: fails before any change, naming the StatefulSet',
    async () => {
      const { cluster, runner } = e2e
      const release = 'pr-1234-feature-add-hybrid-search-to-the-ingest-api'
      const r = await runner.main(inputs({ namespace: 'milvus-longname', 'release-name': release, timeout: '10m' }))
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(new RegExp(`StatefulSet ${release}-etcd: the name has 56 characters`))
      expect(r.stdout).toMatch(/Shorten release-name by 4 or more characters/)
      expect(r.ms).toBeLessThan(MIN)
      await expect(cluster.kubectl(['get', 'namespace', 'milvus-longname'])).rejects.toThrow(/NotFound/)
    },
    5 * MIN,
  )

  it(
    'prometheus-rbac false in a namespace Prometheus may not read: fails before any change, naming what its ServiceAccount may not do',
    async () => {
      const { cluster, runner } = e2e
      await ensureKubePrometheus()
      removeWhenDone('milvus-norbac', 'norbac')
      // A Role an earlier suite's run left would let Prometheus in: none of the action's may be there.
      expect(await managedRoles('milvus-norbac').catch(() => [])).toEqual([])
      const started = Date.now()
      let at: number | undefined
      const r = await runner.main(
        inputs({ namespace: 'milvus-norbac', 'release-name': 'norbac', 'prometheus-rbac': 'false', timeout: '2m' }),
        {
          onStdout: (c) => void (c.includes('cannot discover the Milvus targets') && (at ??= Date.now())),
        },
      )
      await runner.post(r.state)
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(
        /::error::Prometheus monitoring\/k8s cannot discover the Milvus targets: its ServiceAccount monitoring\/prometheus-k8s may not list services, watch services, list (endpoints|endpointslices\.discovery\.k8s\.io), watch (endpoints|endpointslices\.discovery\.k8s\.io), list pods, watch pods in namespace milvus-norbac, and prometheus-rbac is false/,
      )
      expect(r.stdout).toMatch(/Nothing was changed\. Grant it the discovery Role .* or set prometheus-rbac: true/)
      expect(at).toBeDefined()
      console.log(`prometheus-rbac false, Prometheus may not discover: refused ${((at! - started) / 1000).toFixed(1)} s after the start`)
      expect(at! - started).toBeLessThan(30_000)
      expect(await managedRoles('milvus-norbac')).toEqual([])
      await expect(cluster.kubectl(['get', 'namespace', 'milvus-norbac'])).rejects.toThrow(/NotFound/)
      // e2e.yml's checks of its prometheus-rbac-false job.
      await runCheck('check-outcome.sh', { OUTCOME: r.code === 0 ? 'success' : 'failure' })
      await runCheck('check-refused-before-install.sh', { KUBECTL: toolCacheKubectl(), NAMESPACE: 'milvus-norbac', RELEASE: 'norbac' })
      await runCheck('check-discovery-rbac.sh', { KUBECTL: toolCacheKubectl(), NAMESPACE: 'milvus-norbac', EXPECT: 'no' })
    },
    5 * MIN,
  )
})
