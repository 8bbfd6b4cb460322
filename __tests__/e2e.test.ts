// The bundled action, end to end, against the local cluster: a real API server, real Helm,
// real Prometheus processes scraping a Milvus stand-in. Assertions read the cluster and
// Prometheus, not the action's logs (except where a log is the behaviour under test).
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import YAML from 'yaml'
import { localCluster, type LocalCluster } from './support/local-cluster.ts'
import { makeRunner, type Runner, type StepResult } from './support/runner.ts'

const E2E = process.env.MILVUS_ACTION_E2E !== '0'
const MIN = 60_000

let cluster: LocalCluster
let runner: Runner

/** The inputs that point the action at the local cluster's mirrors. */
function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'kubectl-base-url': cluster.env.LOCAL_CLUSTER_KUBECTL_BASE_URL!,
    'helm-base-url': cluster.env.LOCAL_CLUSTER_HELM_BASE_URL!,
    'kube-prometheus-url': cluster.env.LOCAL_CLUSTER_KUBE_PROMETHEUS_URL!,
    'milvus-chart-repo': cluster.env.LOCAL_CLUSTER_HELM_REPO_URL!,
    timeout: '6m',
    ...extra,
  }
}

function failed(r: StepResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}`
}

interface TargetsAnswer {
  data: { activeTargets: Array<{ scrapePool: string; health: string; labels: Record<string, string>; scrapeUrl: string }> }
}

async function activeTargets(prometheusUrl: string, pool: string) {
  const r = await cluster.get(`${prometheusUrl}/api/v1/targets?state=active&scrapePool=${encodeURIComponent(pool)}`)
  expect(r.status).toBe(200)
  return (JSON.parse(r.body) as TargetsAnswer).data.activeTargets
}

async function managedRoles(namespace: string) {
  return (await cluster.kubectlJson(['get', 'role,rolebinding', '-n', namespace, '-l', 'app.kubernetes.io/managed-by=milvus-monitoring-action'])).items
}

describe.runIf(E2E)('the bundled action on the local cluster', () => {
  beforeAll(async () => {
    cluster = await localCluster()
    runner = makeRunner({ wrap: cluster.wrap, env: { KUBECONFIG: cluster.env.KUBECONFIG! } })
  }, 90 * MIN)

  let first: StepResult

  it('default inputs: Milvus standalone in namespace milvus, its target up in Prometheus', async () => {
    first = await runner.main(inputs())
    expect(first.code, failed(first)).toBe(0)
    const o = first.outputs
    for (const name of ['kubectl-path', 'kubectl-version', 'helm-path', 'helm-version', 'prometheus-url', 'grafana-url', 'alertmanager-url', 'milvus-endpoint', 'milvus-metrics-url', 'service-monitor', 'scrape-pool', 'target-health', 'target-scrape-url']) {
      expect(o[name], name).toBeTruthy()
    }
    expect(o['kubectl-version']).toBe('v1.35.2')
    expect(o['helm-version']).toBe('v4.1.4')
    expect(o['service-monitor']).toBe('milvus/my-release-milvus-standalone')
    expect(o['target-health']).toBe('up')

    // The cluster: the ServiceMonitor and the discovery RBAC exist.
    const sm = await cluster.kubectlJson<{ metadata: { name: string } }>(['get', 'servicemonitor', '-n', 'milvus', 'my-release-milvus-standalone'])
    expect(sm.metadata.name).toBe('my-release-milvus-standalone')
    const rbac = await managedRoles('milvus')
    expect(rbac.map((r) => r.metadata.name).sort()).toEqual(['prometheus-k8s-milvus-discovery', 'prometheus-k8s-milvus-discovery'])

    // Prometheus itself, through the forwarded URL the action gave: the Milvus target is up.
    const targets = await activeTargets(o['prometheus-url']!, o['scrape-pool']!)
    expect(targets.length).toBeGreaterThan(0)
    expect(targets.every((t) => t.health === 'up')).toBe(true)
    expect(targets[0]!.scrapeUrl).toBe(o['target-scrape-url'])

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

    // The post step stops the forwards (and, without cleanup, leaves the install).
    const post = await runner.post(first.state)
    expect(post.code, failed(post)).toBe(0)
    expect((await cluster.get(`${o['prometheus-url']}/-/ready`)).status).toBe(0)
    expect(await cluster.helm(['status', 'my-release', '-n', 'milvus'])).toMatch(/STATUS: deployed/)
  }, 15 * MIN)

  it('a second run on the same cluster succeeds and leaves the stack as it was', async () => {
    const before = await snapshot()
    const again = await runner.main(inputs())
    expect(again.code, failed(again)).toBe(0)
    await runner.post(again.state)
    expect(await snapshot()).toEqual(before)
    expect(again.outputs['target-health']).toBe('up')
  }, 10 * MIN)

  it('a re-run after kubectl scale: Helm 4 and Helm 3 both restore the chart\'s replicas', async () => {
    const deploy = ['deployment', 'my-release-milvus-standalone', '-n', 'milvus']
    const replicas = async () => (await cluster.kubectlJson<{ spec: { replicas: number } }>(['get', ...deploy])).spec.replicas
    for (const helmVersion of ['v4.1.4', '3']) {
      await cluster.kubectl(['scale', ...deploy, '--replicas=3'])
      expect(await replicas()).toBe(3)
      const r = await runner.main(inputs({ 'helm-version': helmVersion, expose: 'none' }))
      expect(r.code, `${helmVersion}: ${failed(r)}`).toBe(0)
      expect(await replicas(), helmVersion).toBe(1)
      expect(await cluster.helm(['status', 'my-release', '-n', 'milvus'])).toMatch(/STATUS: deployed/)
      await runner.post(r.state)
    }
  }, 15 * MIN)

  it('another prometheus-operator in another namespace: the default install stops before any change, naming it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'other-op-')), 'op.yaml')
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: other-ops}\n---\n' +
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: team-operator, namespace: other-ops}\n' +
        'spec: {replicas: 1, selector: {matchLabels: {app: team-operator}}, template: {metadata: {labels: {app: team-operator}}, ' +
        'spec: {containers: [{name: operator, image: "quay.io/prometheus-operator/prometheus-operator:v0.85.0"}]}}}\n',
    )
    await cluster.kubectl(['apply', '-f', file])
    const before = await snapshot()
    const r = await runner.main(inputs({ namespace: 'milvus-refused', 'release-name': 'refused' }))
    await runner.post(r.state)
    await cluster.kubectl(['delete', 'namespace', 'other-ops', '--wait=false'])
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The cluster already runs a Prometheus stack this action did not install/)
    expect(r.stdout).toContain('Deployment other-ops/team-operator (image quay.io/prometheus-operator/prometheus-operator:v0.85.0)')
    expect(r.stdout).toMatch(/nothing was changed\. Use that stack instead with install-kube-prometheus: false/)
    // Nothing applied: no namespace, no release, the stack's objects as they were.
    await expect(cluster.kubectl(['get', 'namespace', 'milvus-refused'])).rejects.toThrow(/NotFound/)
    expect(await cluster.helm(['list', '-A', '-f', '^refused$', '-q'])).toBe('')
    expect(await snapshot()).toEqual(before)
  }, 5 * MIN)

  it('a kube-prometheus-stack-shaped Prometheus in kps: its label added, RBAC for its ServiceAccount, target up through it, outputs pointing at it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kps-')), 'kps.yaml')
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: kps}\n---\n' +
        // The Milvus namespace exists before: cleanup uninstalls the release and leaves the namespace.
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: milvus-kps}\n---\n' +
        'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: kps-prometheus, namespace: kps}\n---\n' +
        'apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: kps, namespace: kps}\n' +
        'spec: {replicas: 1, serviceAccountName: kps-prometheus, serviceMonitorSelector: {matchLabels: {release: kps}}, serviceMonitorNamespaceSelector: {}, ' +
        'resources: {requests: {cpu: 50m, memory: 100Mi}}}\n---\n' +
        'apiVersion: v1\nkind: Service\nmetadata: {name: kps-prometheus, namespace: kps, labels: {release: kps}}\n' +
        'spec: {selector: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: kps}, ports: [{name: http-web, port: 9090, targetPort: 9090}]}\n',
    )
    await cluster.kubectl(['apply', '-f', file])
    try {
      const r = await runner.main(inputs({ 'install-kube-prometheus': 'false', prometheus: 'kps/kps', namespace: 'milvus-kps', 'release-name': 'kpsrel', cleanup: 'true' }))
      expect(r.code, failed(r)).toBe(0)
      expect(r.stdout).toMatch(/Prometheus kps\/kps selects ServiceMonitors labelled release=kps: adding these labels to the Milvus ServiceMonitor \(metrics\.serviceMonitor\.additionalLabels\)/)
      const sm = await cluster.kubectlJson<{ metadata: { labels: Record<string, string> } }>(['get', 'servicemonitor', '-n', 'milvus-kps', 'kpsrel-milvus-standalone'])
      expect(sm.metadata.labels.release).toBe('kps')
      const binding = await cluster.kubectlJson<{ subjects: Array<{ namespace: string; name: string }> }>(['get', 'rolebinding', '-n', 'milvus-kps', 'kps-prometheus-milvus-discovery'])
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', namespace: 'kps', name: 'kps-prometheus' }])
      expect(r.outputs['prometheus-url-in-cluster']).toBe('http://kps-prometheus.kps.svc:9090')
      expect(r.outputs['grafana-url']).toBe('')
      expect(r.outputs['alertmanager-url']).toBe('')
      expect(r.stdout).toMatch(/::notice::The stack of Prometheus kps\/kps has no Grafana/)
      // kps' own Prometheus, asked through the API server (the local cluster's port-forward
      // serves whichever Prometheus runs): the Milvus target is up there.
      expect(r.outputs['scrape-pool']).toBe('serviceMonitor/milvus-kps/kpsrel-milvus-standalone/0')
      const answer = await cluster.kubectl(['get', '--raw', `/api/v1/namespaces/kps/services/kps-prometheus:http-web/proxy/api/v1/targets?state=active&scrapePool=${encodeURIComponent(r.outputs['scrape-pool']!)}`])
      const targets = (JSON.parse(answer) as TargetsAnswer).data.activeTargets
      expect(targets.length).toBeGreaterThan(0)
      expect(targets.every((t) => t.health === 'up')).toBe(true)
      // kube-prometheus' Prometheus was not involved, and the stack was not touched.
      expect(r.stdout).not.toContain('Apply kube-prometheus')
      const post = await runner.post(r.state)
      expect(post.stdout).not.toContain('::warning::')
      expect(await cluster.helm(['list', '-A', '-f', '^kpsrel$', '-q'])).toBe('')
      await expect(cluster.kubectl(['get', 'rolebinding', '-n', 'milvus-kps', 'kps-prometheus-milvus-discovery'])).rejects.toThrow(/NotFound/)
      // What existed before: the namespace, kps' Prometheus, its Service and ServiceAccount.
      expect(await cluster.kubectl(['get', 'namespace', 'milvus-kps', '-o', 'name'])).toContain('milvus-kps')
      expect(await cluster.kubectl(['get', 'prometheus,service,serviceaccount', '-n', 'kps', '-o', 'name'])).toMatch(/prometheus\.monitoring\.coreos\.com\/kps[\s\S]*service\/kps-prometheus[\s\S]*serviceaccount\/kps-prometheus/)
    } finally {
      // Only the Prometheus goes (later runs would find two); a namespace deletion on the local
      // cluster waits for the metrics APIService kube-prometheus' stand-in adapter never serves.
      await cluster.kubectl(['delete', 'prometheus', 'kps', '-n', 'kps', '--ignore-not-found'])
    }
  }, 10 * MIN)

  it('a release left pending-install by an interrupted run: the next run uninstalls it, then installs', async () => {
    let killed = false
    await cluster.kubectl(['create', 'namespace', 'milvus-pending']).catch(() => '')
    const values = 'annotations:\n  local-cluster.milvus-monitoring-action/never-ready: "true"\n'
    const first = await runner.main(inputs({ namespace: 'milvus-pending', 'release-name': 'pend', values, expose: 'none', timeout: '3m' }), {
      onStdout: (chunk) => {
        if (killed || !chunk.includes('helm upgrade --install pend')) return
        killed = true
        // The runner cancelling the job: helm dies without recording anything.
        setTimeout(() => killHelm('pend'), 5000)
      },
    })
    expect(killed).toBe(true)
    expect(first.code).not.toBe(0)
    expect(await cluster.helm(['status', 'pend', '-n', 'milvus-pending'])).toMatch(/STATUS: pending-install/)
    const r = await runner.main(inputs({ namespace: 'milvus-pending', 'release-name': 'pend', expose: 'none', cleanup: 'true' }))
    expect(r.code, failed(r)).toBe(0)
    expect(r.stdout).toMatch(/Helm release milvus-pending\/pend is pending-install \(revision 1, a first install an earlier run of this action did not finish\): uninstalling it before installing again/)
    expect(await cluster.helm(['status', 'pend', '-n', 'milvus-pending'])).toMatch(/STATUS: deployed/)
    const post = await runner.post(r.state)
    expect(post.stdout).not.toContain('::warning::')
    expect(await cluster.helm(['list', '-A', '-f', '^pend$', '-q'])).toBe('')
  }, 10 * MIN)

  it('the post step after a context switch: it cleans the cluster the main step deployed to', async () => {
    const admin = YAML.parse(readFileSync(cluster.env.KUBECONFIG!, 'utf8')) as { clusters: Array<{ name: string }>; contexts: Array<{ name: string; context: { user: string } }>; 'current-context': string }
    const user = admin.contexts.find((c) => c.name === admin['current-context'])!.context.user
    admin.clusters.push({ name: 'dead', cluster: { server: 'https://127.0.0.1:1' } } as never)
    admin.contexts.push({ name: 'elsewhere', context: { cluster: 'dead', user } } as never)
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'ctx-')), 'kubeconfig')
    writeFileSync(kubeconfig, YAML.stringify(admin))
    const env = { KUBECONFIG: kubeconfig }
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
    await expect(cluster.kubectl(['get', 'rolebinding', '-n', 'milvus-ctx', 'prometheus-k8s-milvus-discovery'])).rejects.toThrow(/NotFound/)
    // The namespace existed before the run: left in place.
    expect(await cluster.kubectl(['get', 'namespace', 'milvus-ctx', '-o', 'name'])).toContain('milvus-ctx')
    // The forwards were stopped too.
    expect((await cluster.get(`${r.outputs['prometheus-url']}/-/ready`)).status).toBe(0)
  }, 10 * MIN)

  it('an identity without the permissions: fails before changing anything, naming what it may not do', async () => {
    await cluster.kubectl(['create', 'serviceaccount', 'no-rights', '-n', 'default']).catch(() => '')
    const token = (await cluster.kubectl(['create', 'token', 'no-rights', '-n', 'default'])).trim()
    const admin = readFileSync(cluster.env.KUBECONFIG!, 'utf8')
    const server = /server: (\S+)/.exec(admin)![1]
    const ca = /certificate-authority: (\S+)/.exec(admin)![1]
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'no-rights-')), 'kubeconfig')
    writeFileSync(
      kubeconfig,
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
  }, 5 * MIN)

  it('Milvus in default: no RBAC added, target up', async () => {
    const r = await runner.main(inputs({ namespace: 'default', 'release-name': 'rel-default' }))
    expect(r.code, failed(r)).toBe(0)
    expect(await managedRoles('default')).toEqual([])
    const targets = await activeTargets(r.outputs['prometheus-url']!, r.outputs['scrape-pool']!)
    expect(targets.every((t) => t.health === 'up')).toBe(true)
    await runner.post(r.state)
  }, 10 * MIN)

  it('milvus-mode cluster: every component target up', async () => {
    const r = await runner.main(inputs({ 'milvus-mode': 'cluster', namespace: 'milvus-cluster', 'release-name': 'big' }))
    expect(r.code, failed(r)).toBe(0)
    const targets = await activeTargets(r.outputs['prometheus-url']!, r.outputs['scrape-pool']!)
    const components = new Set(targets.map((t) => t.labels.component))
    // Cluster mode runs the coordinators, nodes and proxy as separate components.
    expect(components.size).toBeGreaterThanOrEqual(4)
    expect(components).toContain('proxy')
    expect(targets.every((t) => t.health === 'up')).toBe(true)
    await runner.post(r.state)
  }, 10 * MIN)

  it('prometheus-rbac false in a namespace Prometheus may not read: fails with the RBAC diagnosis', async () => {
    const r = await runner.main(inputs({ namespace: 'milvus-norbac', 'release-name': 'norbac', 'prometheus-rbac': 'false', timeout: '2m' }))
    await runner.post(r.state)
    expect(r.code).not.toBe(0)
    expect(await managedRoles('milvus-norbac')).toEqual([])
    // The failure says what was seen and why, not merely that time ran out.
    expect(r.stdout).toMatch(/::error::.*Timed out waiting for the Milvus target/s)
    expect(r.stdout).toMatch(/no targets discovered/i)
    expect(r.stdout).toMatch(/RBAC|Role/)
    expect(r.ms).toBeLessThan(2 * MIN + 30_000)
  }, 5 * MIN)

  it('a Milvus pod that never becomes ready: fails within the timeout, printing the pod, its events and the Helm status', async () => {
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
  }, 5 * MIN)

  it('the API server stopped for a few seconds during the kube-prometheus apply: retried, succeeds', async () => {
    let triggered = false
    const r = await runner.main(inputs(), {
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
  }, 10 * MIN)

  it('expose none, install-kube-prometheus false, Helm 3 and version lines: in-cluster URLs, no forwards left', async () => {
    const r = await runner.main(
      inputs({ expose: 'none', 'install-kube-prometheus': 'false', 'helm-version': '3', 'kubectl-version': '1.35' }),
    )
    expect(r.code, failed(r)).toBe(0)
    expect(r.outputs['helm-version']).toBe('v3.17.2')
    expect(r.outputs['kubectl-version']).toBe('v1.35.2')
    expect(r.outputs['prometheus-url']).toBe('http://prometheus-k8s.monitoring.svc:9090')
    expect(r.outputs['milvus-endpoint']).toBe('my-release-milvus.milvus.svc:19530')
    expect(r.outputs['target-health']).toBe('up')
    expect(r.stdout).not.toContain('Apply kube-prometheus')
    // The forward used for the wait is gone before the post step runs.
    expect(JSON.parse(r.state.run!).supervisorPid).toBeUndefined()
    expect(await cluster.kubectl(['version', '--client'])).toBeTruthy()
    await runner.post(r.state)
  }, 10 * MIN)

  // Fail fast: a run the cluster already said can never succeed ends within a minute of the
  // cause, naming it, instead of waiting out its budget.

  /** ms from the first Warning Event with `reason` in `namespace` to now. */
  async function sinceFirstEvent(namespace: string, reason: string): Promise<number> {
    const events = await cluster.kubectlJson<{ items: Array<{ reason: string; firstTimestamp?: string; eventTime?: string }> }>(['get', 'events', '-n', namespace])
    const times = events.items.filter((e) => e.reason === reason).map((e) => Date.parse(e.firstTimestamp ?? e.eventTime ?? ''))
    expect(times.length, `a ${reason} event in ${namespace}`).toBeGreaterThan(0)
    return Date.now() - Math.min(...times)
  }

  it('a ServiceMonitor interval shorter than its scrapeTimeout: fails before any change, naming both', async () => {
    const r = await runner.main(inputs({ namespace: 'milvus-interval', 'release-name': 'fast', values: 'metrics: {serviceMonitor: {interval: 5s}}', timeout: '10m' }))
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The Milvus release fast would never become ready or be scraped; nothing was changed/)
    expect(r.stdout).toMatch(/scrapeTimeout 10s longer than its interval 5s/)
    expect(r.ms).toBeLessThan(MIN)
    await expect(cluster.kubectl(['get', 'namespace', 'milvus-interval'])).rejects.toThrow(/NotFound/)
  }, 5 * MIN)

  it('a release name whose StatefulSet names are too long: fails before any change, naming the StatefulSet', async () => {
    const release = 'pr-1234-feature-add-hybrid-search-to-the-ingest-api'
    const r = await runner.main(inputs({ namespace: 'milvus-longname', 'release-name': release, timeout: '10m' }))
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(new RegExp(`StatefulSet ${release}-etcd: the name has 56 characters`))
    expect(r.stdout).toMatch(/Shorten release-name by 4 or more characters/)
    expect(r.ms).toBeLessThan(MIN)
    await expect(cluster.kubectl(['get', 'namespace', 'milvus-longname'])).rejects.toThrow(/NotFound/)
  }, 5 * MIN)

  it('a namespace whose Pod Security admission refuses the pods: fails within a minute of the refusal, the release not left pending', async () => {
    await cluster.kubectl(['create', 'namespace', 'milvus-psa']).catch(() => '')
    await cluster.kubectl(['label', 'namespace', 'milvus-psa', 'pod-security.kubernetes.io/enforce=restricted', '--overwrite'])
    const r = await runner.main(inputs({ namespace: 'milvus-psa', 'release-name': 'psa', timeout: '10m' }))
    const lag = await sinceFirstEvent('milvus-psa', 'FailedCreate')
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The cluster refused the Milvus release psa: \S+ milvus-psa\/\S+: FailedCreate: .*violates PodSecurity/)
    expect(r.stdout).toMatch(/pod-security\.kubernetes\.io\/enforce=privileged/)
    expect(lag).toBeLessThan(MIN)
    // helm was stopped with SIGTERM and waited for: the release is failed, never pending-install.
    expect(await cluster.helm(['status', 'psa', '-n', 'milvus-psa'])).toMatch(/STATUS: failed/)
    await runner.post(r.state)
    await cluster.helm(['uninstall', 'psa', '-n', 'milvus-psa', '--wait'])
  }, 10 * MIN)

  it('requests no node of the runner-sized cluster can hold: fails within a minute, naming the pod, its requests and the nodes', async () => {
    const values = 'standalone:\n  resources:\n    requests:\n      cpu: "64"\n'
    const r = await runner.main(inputs({ namespace: 'milvus-sched', 'release-name': 'sched', values, timeout: '10m' }))
    const lag = await sinceFirstEvent('milvus-sched', 'FailedScheduling')
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/FailedScheduling: 0\/1 nodes are available: 1 Insufficient cpu/)
    expect(r.stdout).toMatch(/The pod requests: standalone: cpu 64/)
    expect(r.stdout).toMatch(/The nodes can allocate: kwok-node-0: cpu 4, memory 16Gi/)
    expect(lag).toBeLessThan(MIN)
    await runner.post(r.state)
    await cluster.helm(['uninstall', 'sched', '-n', 'milvus-sched', '--wait'])
  }, 10 * MIN)

  it('ServiceMonitors created right after their namespaces (the operator race): every one ends in Prometheus\' configuration', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `race-${i}`)
    const manifest = names
      .map(
        (ns) =>
          `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n---\n` +
          `apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: sm, namespace: ${ns}}\n` +
          `spec: {selector: {matchLabels: {app: none}}, endpoints: [{port: metrics, interval: 30s}]}`,
      )
      .join('\n---\n')
    const file = join(mkdtempSync(join(tmpdir(), 'race-')), 'race.yaml')
    writeFileSync(file, manifest)
    // Namespace and ServiceMonitor back to back, as a chart install into a new namespace does.
    await cluster.kubectl(['apply', '-f', file])
    const entry = join(import.meta.dirname, 'support', 'scrape-job-entry.ts')
    const results = await Promise.all(names.map(async (ns) => {
      const out = await cluster.run(process.execPath, [entry, ns, 'sm', '5000'])
      return JSON.parse(out.trim().split('\n').at(-1)!) as { result?: string; error?: string }
    }))
    console.log(`operator race: ${results.filter((x) => x.result === 'recovered').length} of ${names.length} ServiceMonitors recovered by the touch`)
    expect(results.map((x) => x.error ?? x.result).every((x) => x === 'present' || x === 'recovered'), JSON.stringify(results)).toBe(true)
    await cluster.kubectl(['delete', 'namespace', ...names, '--wait=false'])
  }, 5 * MIN)

  it('a ServiceMonitor the operator rejects: the scrape-config check fails naming it, without waiting out the budget', async () => {
    const ns = 'sm-rejected'
    const file = join(mkdtempSync(join(tmpdir(), 'rejected-')), 'sm.yaml')
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n---\n` +
        `apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: bad, namespace: ${ns}}\n` +
        `spec: {selector: {matchLabels: {app: none}}, endpoints: [{port: metrics, interval: 5s, scrapeTimeout: 10s}]}\n`,
    )
    await cluster.kubectl(['apply', '-f', file])
    const started = Date.now()
    const out = await cluster.run(process.execPath, [join(import.meta.dirname, 'support', 'scrape-job-entry.ts'), ns, 'bad', '5000'])
    const answer = JSON.parse(out.trim().split('\n').at(-1)!) as { result?: string; error?: string }
    expect(answer.error).toMatch(/prometheus-operator (rejected|has not put) ServiceMonitor sm-rejected\/bad/)
    expect(out).toMatch(/Touching the ServiceMonitor once/)
    expect(Date.now() - started).toBeLessThan(MIN)
    await cluster.kubectl(['delete', 'namespace', ns, '--wait=false'])
  }, 5 * MIN)

  // Last: it takes the action's kube-prometheus away to build its pre-state.
  it('cleanup true with monitoring CRDs, another team\'s ServiceMonitor and monitoring/keep-me there before: all still there after, what the run created gone', async () => {
    const manifests = await kubePrometheusManifests()
    // The pre-state: no kube-prometheus of the action's, the CRDs another team applied.
    await cluster.kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=300s', '-f', manifests])
    await cluster.kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=300s', '-f', join(manifests, 'setup')])
    // Nothing of an earlier attempt: the release and its namespace must be this run's.
    await cluster.helm(['uninstall', 'tidy', '-n', 'milvus-cleanup', '--ignore-not-found', '--wait'])
    await cluster.kubectl(['delete', 'namespace', 'milvus-cleanup', '--ignore-not-found', '--wait=true', '--timeout=120s'])
    for (const f of readdirSync(join(manifests, 'setup')).filter((x) => x.includes('CustomResourceDefinition'))) {
      await cluster.kubectl(['apply', '--server-side', '--field-manager=other-team', '-f', join(manifests, 'setup', f)])
    }
    const file = join(mkdtempSync(join(tmpdir(), 'pre-')), 'pre.yaml')
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n---\n' +
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep-me, namespace: monitoring}\ndata: {a: b}\n---\n' +
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\n' +
        'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: team-sm, namespace: other}\n' +
        'spec: {selector: {matchLabels: {app: team}}, endpoints: [{port: metrics}]}\n',
    )
    await cluster.kubectl(['apply', '-f', file])

    const r = await runner.main(inputs({ cleanup: 'true', namespace: 'milvus-cleanup', 'release-name': 'tidy' }))
    expect(r.code, failed(r)).toBe(0)
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
    const crds = (await cluster.kubectlJson<{ items: Array<{ metadata: { name: string; managedFields: Array<{ manager: string }> } }> }>(['get', 'crd', '--show-managed-fields'])).items.filter((c) =>
      c.metadata.name.endsWith('monitoring.coreos.com'),
    )
    expect(crds).toHaveLength(10)
    for (const c of crds) expect(c.metadata.managedFields.map((m) => m.manager)).not.toContain('milvus-monitoring-action')
    expect(await cluster.kubectl(['get', 'servicemonitor', '-n', 'other', 'team-sm', '-o', 'name'])).toContain('team-sm')
    expect(await cluster.kubectl(['get', 'configmap', '-n', 'monitoring', 'keep-me', '-o', 'name'])).toContain('keep-me')
    expect(await cluster.kubectl(['get', 'namespace', 'monitoring', '-o', 'name'])).toContain('namespace/monitoring')
    await cluster.kubectl(['delete', 'namespace', 'other', '--wait=false'])
  }, 15 * MIN)

  /** kube-prometheus' manifests/, from the local cluster's mirror of the release archive. */
  async function kubePrometheusManifests(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'kp-'))
    await cluster.run('sh', ['-c', `curl -fsSL "$0" | tar xz -C "$1"`, cluster.env.LOCAL_CLUSTER_KUBE_PROMETHEUS_URL!, dir])
    return join(dir, readdirSync(dir)[0]!, 'manifests')
  }

  /** Kills (SIGKILL) the helm process upgrading `release`, found by its exact arguments. */
  function killHelm(release: string): void {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let args: string[]
      try {
        args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      } catch {
        continue
      }
      if (args[0]?.endsWith('/helm') && args[1] === 'upgrade' && args[2] === '--install' && args[3] === release) process.kill(Number(pid), 'SIGKILL')
    }
  }

  /** What a re-run must not change: the CRDs' and Prometheus' specs, the ServiceMonitor, the RBAC. */
  async function snapshot() {
    const gen = async (args: string[]) =>
      (await cluster.kubectlJson(args)).items.map((i) => `${i.metadata.name}@${i.metadata.generation ?? i.metadata.resourceVersion}`).sort()
    return {
      crds: await gen(['get', 'crd']),
      prometheus: await gen(['get', 'prometheus', '-n', 'monitoring']),
      serviceMonitors: await gen(['get', 'servicemonitor', '-n', 'milvus']),
      rbac: (await managedRoles('milvus')).map((i) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort(),
    }
  }
})
