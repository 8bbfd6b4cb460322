// The README's first long-lived recipe, as written there: a cluster that already runs a
// Prometheus stack the action did not install, shaped as the kube-prometheus-stack chart installs
// it (namespace kps, its own operator, a Prometheus that selects ServiceMonitors and rules
// labelled release=kps, its Grafana kps-grafana on port 80 with its admin Secret, no
// kube-prometheus): the action uses it with the recipe's inputs, then e2e.yml's
// kube-prometheus-stack check runs on the outputs, and the post step leaves the stack as it was.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  E2E,
  e2e,
  failed,
  inputs,
  kubePrometheusManifests,
  MIN,
  outputsEnv,
  removeKubePrometheus,
  runCheck,
  tempFile,
  type TargetsAnswer,
  useLocalCluster,
} from './support.ts'
import { recipeInputs } from '../support/readme.ts'

const RECIPE = recipeInputs('kube-prometheus-stack')
const NS = RECIPE.namespace!
const RELEASE = RECIPE['release-name'] ?? 'my-release'

/** prometheus-operator's version in kube-prometheus v0.18.0, as kube-prometheus-stack 87.0.0 ships it. */
const OPERATOR = 'v0.92.0'

/**
 * The kps stack: the monitoring CRDs (applied as Helm applies the chart's, when the cluster has
 * none), prometheus-operator in kps (the local cluster runs the real one for its pod), and a
 * Prometheus with its ServiceAccount and Service. No kube-prometheus of the action's: removed
 * first, as on the kind cluster of e2e.yml's job, where only the chart runs.
 */
async function installKpsShapedStack(): Promise<void> {
  const { cluster } = e2e
  await removeKubePrometheus({ crds: false })
  // What is in milvus-kps must be this run's (cleanup deletes only what the run created): an
  // earlier, interrupted run's release and RoleBinding go with the namespace, created again
  // below. After kube-prometheus: a namespace deletion waits for its metrics APIService.
  await cluster.helm(['uninstall', RELEASE, '-n', NS, '--ignore-not-found', '--wait'])
  await cluster.kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=120s'])
  const crds = (await cluster.kubectl(['get', 'crd', '-o', 'name'])).split('\n').filter((n) => n.endsWith('.monitoring.coreos.com'))
  if (crds.length < 10) {
    const setup = join(await kubePrometheusManifests(), 'setup')
    for (const f of readdirSync(setup).filter((x) => x.includes('CustomResourceDefinition'))) {
      await cluster.kubectl(['apply', '--server-side', '--field-manager=helm', '-f', join(setup, f)])
    }
  }
  const operatorLabels = '{app.kubernetes.io/name: prometheus-operator, app.kubernetes.io/component: controller, release: kps}'
  const grafanaLabels = '{app.kubernetes.io/name: grafana, app.kubernetes.io/instance: kps}'
  await cluster.kubectl([
    'apply',
    '-f',
    tempFile(
      'kps.yaml',
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: kps}\n---\n' +
        // The Milvus namespace exists before: cleanup uninstalls the release and leaves the namespace.
        `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n---\n` +
        'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: kps-operator, namespace: kps}\n---\n' +
        `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kps-operator, namespace: kps, labels: ${operatorLabels}}\n` +
        `spec: {replicas: 1, selector: {matchLabels: ${operatorLabels}}, template: {metadata: {labels: ${operatorLabels}}, spec: {serviceAccountName: kps-operator, containers: [{name: prometheus-operator, ` +
        `image: "quay.io/prometheus-operator/prometheus-operator:${OPERATOR}", args: ["--kubelet-service=kube-system/kps-kubelet", "--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:${OPERATOR}"]}]}}}\n---\n` +
        'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: kps-kube-prometheus-stack-prometheus, namespace: kps}\n---\n' +
        'apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: kps-kube-prometheus-stack-prometheus, namespace: kps}\n' +
        'spec: {replicas: 1, serviceAccountName: kps-kube-prometheus-stack-prometheus, serviceMonitorSelector: {matchLabels: {release: kps}}, serviceMonitorNamespaceSelector: {}, ' +
        'ruleSelector: {matchLabels: {release: kps}}, ruleNamespaceSelector: {}, resources: {requests: {cpu: 50m, memory: 100Mi}}}\n---\n' +
        'apiVersion: v1\nkind: Service\nmetadata: {name: kps-kube-prometheus-stack-prometheus, namespace: kps, labels: {release: kps}}\n' +
        'spec: {selector: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: kps-kube-prometheus-stack-prometheus}, ports: [{name: http-web, port: 9090, targetPort: 9090}]}\n---\n' +
        // Its Grafana as the chart's subchart makes it: a Service on port 80, an admin Secret named like it.
        // The local cluster's Grafana stand-in answers every pod IP on port 3000.
        `apiVersion: v1\nkind: Secret\nmetadata: {name: kps-grafana, namespace: kps, labels: ${grafanaLabels}}\nstringData: {admin-user: admin, admin-password: admin, ldap-toml: ''}\n---\n` +
        `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kps-grafana, namespace: kps, labels: ${grafanaLabels}}\n` +
        `spec: {replicas: 1, selector: {matchLabels: ${grafanaLabels}}, template: {metadata: {labels: ${grafanaLabels}}, spec: {containers: [{name: grafana, image: "docker.io/grafana/grafana:12.3.1", ports: [{name: grafana, containerPort: 3000}]}]}}}\n---\n` +
        `apiVersion: v1\nkind: Service\nmetadata: {name: kps-grafana, namespace: kps, labels: ${grafanaLabels}}\n` +
        `spec: {selector: ${grafanaLabels}, ports: [{name: http-web, port: 80, targetPort: 3000}]}\n`,
    ),
  ])
  await cluster.kubectl(['rollout', 'status', 'deployment/kps-operator', '-n', 'kps', '--timeout=120s'])
  await cluster.kubectl(['rollout', 'status', 'deployment/kps-grafana', '-n', 'kps', '--timeout=120s'])
}

describe.runIf(E2E)('recipe: kube-prometheus-stack', () => {
  useLocalCluster()

  it(
    "the recipe as the README writes it: kps' label added, RBAC for its ServiceAccount, target up, rules and dashboard in kps' own Prometheus and Grafana, the stack left as it was",
    async () => {
      const { cluster, runner } = e2e
      await installKpsShapedStack()
      try {
        const r = await runner.main(inputs(RECIPE))
        expect(r.code, failed(r)).toBe(0)
        expect(r.stdout).toMatch(
          /Prometheus kps\/kps-kube-prometheus-stack-prometheus selects ServiceMonitors labelled release=kps: adding these labels to the Milvus ServiceMonitor \(metrics\.serviceMonitor\.additionalLabels\)/,
        )
        const sm = await cluster.kubectlJson<{ metadata: { labels: Record<string, string> } }>([
          'get',
          'servicemonitor',
          '-n',
          NS,
          `${RELEASE}-milvus-standalone`,
        ])
        expect(sm.metadata.labels.release).toBe('kps')
        const binding = await cluster.kubectlJson<{ subjects: Array<{ namespace: string; name: string }> }>([
          'get',
          'rolebinding',
          '-n',
          NS,
          'kps-kube-prometheus-stack-prometheus-milvus-discovery',
        ])
        expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', namespace: 'kps', name: 'kps-kube-prometheus-stack-prometheus' }])
        expect(r.outputs['prometheus-url-in-cluster']).toBe('http://kps-kube-prometheus-stack-prometheus.kps.svc:9090')
        // kps' own Grafana, logged in with its admin Secret (read, and its password masked), the dashboard loaded there.
        expect(r.outputs['grafana-url-in-cluster']).toBe('http://kps-grafana.kps.svc:80')
        expect(r.stdout).toContain('::add-mask::admin')
        expect(r.stdout).toMatch(/Milvus dashboard "[^"]+" loaded into Grafana/)
        expect(r.stdout).not.toMatch(/::notice::.*Grafana/)
        // The rules labelled for kps' ruleSelector, loaded by kps' Prometheus.
        const rules = await cluster.kubectlJson<{ metadata: { labels: Record<string, string> } }>([
          'get',
          'prometheusrule',
          '-n',
          NS,
          `${RELEASE}-milvus-alerts`,
        ])
        expect(rules.metadata.labels.release).toBe('kps')
        const loaded = await cluster.kubectl([
          'get',
          '--raw',
          '/api/v1/namespaces/kps/services/kps-kube-prometheus-stack-prometheus:http-web/proxy/api/v1/rules',
        ])
        expect(loaded).toContain('MilvusRequestFailures')
        expect(JSON.parse(r.outputs['alert-rule-groups']!)).toContainEqual(
          expect.objectContaining({ prometheusRule: `${NS}/${RELEASE}-milvus-alerts` }),
        )
        // The recipe's assertion held.
        expect(JSON.parse(r.outputs['assertion-results']!)).toEqual([expect.objectContaining({ name: 'every component up', held: true })])
        // kps' own Prometheus, asked through the API server: the Milvus target is up there.
        expect(r.outputs['scrape-pool']).toBe(`serviceMonitor/${NS}/${RELEASE}-milvus-standalone/0`)
        const answer = await cluster.kubectl([
          'get',
          '--raw',
          `/api/v1/namespaces/kps/services/kps-kube-prometheus-stack-prometheus:http-web/proxy/api/v1/targets?state=active&scrapePool=${encodeURIComponent(r.outputs['scrape-pool']!)}`,
        ])
        const targets = (JSON.parse(answer) as TargetsAnswer).data.activeTargets
        expect(targets.length).toBeGreaterThan(0)
        expect(targets.every((t) => t.health === 'up')).toBe(true)
        // kube-prometheus was not applied: nothing in the log, kps' operator the only one (e2e.yml's check).
        expect(r.stdout).not.toContain('Apply kube-prometheus')
        await runCheck('check-existing-prometheus.sh', {
          ...outputsEnv(r),
          STACK_NAMESPACE: 'kps',
          SELECTOR_LABEL: 'release=kps',
          EXPECT_GRAFANA: 'true',
        })
        const post = await runner.post(r.state)
        expect(post.stdout).not.toContain('::warning::')
        expect(await cluster.helm(['list', '-A', '-f', `^${RELEASE}$`, '-q'])).toBe('')
        await expect(cluster.kubectl(['get', 'prometheusrule', '-n', NS, `${RELEASE}-milvus-alerts`])).rejects.toThrow(/NotFound/)
        await expect(
          cluster.kubectl(['get', 'rolebinding', '-n', NS, 'kps-kube-prometheus-stack-prometheus-milvus-discovery']),
        ).rejects.toThrow(/NotFound/)
        // What existed before: the namespace, kps' Prometheus, its Service and ServiceAccount, its Grafana and Secret.
        expect(await cluster.kubectl(['get', 'namespace', NS, '-o', 'name'])).toContain(NS)
        expect(
          await cluster.kubectl(['get', 'deployment,service,secret', '-n', 'kps', '-l', 'app.kubernetes.io/name=grafana', '-o', 'name']),
        ).toMatch(/deployment\.apps\/kps-grafana[\s\S]*service\/kps-grafana[\s\S]*secret\/kps-grafana/)
        expect(await cluster.kubectl(['get', 'prometheus,service,serviceaccount', '-n', 'kps', '-o', 'name'])).toMatch(
          /prometheus\.monitoring\.coreos\.com\/kps-kube-prometheus-stack-prometheus[\s\S]*service\/kps-kube-prometheus-stack-prometheus[\s\S]*serviceaccount\/kps-kube-prometheus-stack-prometheus/,
        )
      } finally {
        // The stack goes (a default install would refuse to run next to it); a namespace deletion
        // on the local cluster may wait for an APIService nothing serves, so kps itself stays.
        await cluster.kubectl(['delete', 'prometheus', 'kps-kube-prometheus-stack-prometheus', '-n', 'kps', '--ignore-not-found'])
        await cluster.kubectl(['delete', 'deployment', 'kps-operator', '-n', 'kps', '--ignore-not-found', '--wait=true'])
        await cluster.kubectl([
          'delete',
          'deployment,service,secret',
          '-n',
          'kps',
          '-l',
          'app.kubernetes.io/name=grafana',
          '--ignore-not-found',
        ])
        await cluster.helm(['uninstall', RELEASE, '-n', NS, '--ignore-not-found', '--wait'])
      }
    },
    15 * MIN,
  )
})
