// The README's third long-lived recipe, as written there: a Milvus that Milvus Operator runs, on a
// cluster holding only what the operator leaves (no Helm release): the standalone Deployment and
// Service labelled app.kubernetes.io/instance=<name>, and the PodMonitor the operator creates for
// them. The action verifies it through that PodMonitor, installing nothing and changing none of it.
import { describe, expect, it } from 'vitest'
import { recipeInputs } from '../support/readme.ts'
import { dropNamespace, E2E, e2e, failed, inputs, MIN, tempFile, useLocalCluster } from './support.ts'

const RECIPE = recipeInputs('milvus-operator')
const NS = RECIPE.namespace!
const NAME = RECIPE['release-name']!

/** What Milvus Operator makes of a standalone `Milvus` resource named NAME, as far as monitoring sees it. */
function operatorObjects(): string {
  const labels = `{app.kubernetes.io/instance: ${NAME}, app.kubernetes.io/name: milvus, app.kubernetes.io/managed-by: milvus-operator}`
  const podLabels = `{app.kubernetes.io/instance: ${NAME}, app.kubernetes.io/name: milvus, app.kubernetes.io/component: standalone}`
  return (
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n---\n` +
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${NAME}-milvus-standalone, namespace: ${NS}, labels: ${labels}}\n` +
    `spec: {replicas: 1, selector: {matchLabels: ${podLabels}}, template: {metadata: {labels: ${podLabels}}, spec: {containers: [{name: milvus, image: "milvusdb/milvus:v2.6.15", ` +
    `ports: [{name: milvus, containerPort: 19530}, {name: metrics, containerPort: 9091}]}]}}}\n---\n` +
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${NAME}-milvus, namespace: ${NS}, labels: ${labels}}\n` +
    `spec: {selector: {app.kubernetes.io/instance: ${NAME}, app.kubernetes.io/name: milvus}, ports: [{name: milvus, port: 19530, targetPort: 19530}, {name: metrics, port: 9091, targetPort: 9091}]}\n---\n` +
    `apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: ${NAME}, namespace: ${NS}, labels: ${labels}}\n` +
    `spec: {selector: {matchLabels: {app.kubernetes.io/instance: ${NAME}, app.kubernetes.io/name: milvus}}, namespaceSelector: {matchNames: [${NS}]}, ` +
    'podMetricsEndpoints: [{port: metrics, path: /metrics, interval: 10s}]}\n'
  )
}

describe.runIf(E2E)('recipe: a Milvus of Milvus Operator', () => {
  useLocalCluster()

  it(
    'the recipe as the README writes it: the target up through the PodMonitor, nothing installed, the PodMonitor and the Deployment as they were',
    async () => {
      const { cluster, runner } = e2e
      await dropNamespace(NS)
      await cluster.kubectl(['wait', '--for=delete', `namespace/${NS}`, '--timeout=120s']).catch(() => '')
      try {
        await cluster.kubectl(['apply', '-f', tempFile('operator.yaml', operatorObjects())])
        await cluster.kubectl(['rollout', 'status', `deployment/${NAME}-milvus-standalone`, '-n', NS, '--timeout=120s'])
        const version = async (kind: string, name: string) =>
          cluster.kubectl(['get', kind, name, '-n', NS, '-o', 'jsonpath={.metadata.resourceVersion}'])
        const before = [await version('podmonitor', NAME), await version('deployment', `${NAME}-milvus-standalone`)]

        const r = await runner.main(inputs(RECIPE))
        expect(r.code, failed(r)).toBe(0)
        console.log(`Milvus Operator recipe: target up after ${Math.round(r.ms / 1000)} s`)
        expect(r.stdout).toMatch(new RegExp(`No Helm release ${NAME} in ${NS} \\(a Milvus Operator instance has none\\)`))
        expect(r.stdout).toMatch(/install-milvus is false: nothing installed or upgraded/)
        expect(r.outputs['service-monitor']).toBe(`${NS}/${NAME}`)
        expect(r.outputs['scrape-pool']).toBe(`podMonitor/${NS}/${NAME}/0`)
        expect(r.outputs['target-health']).toBe('up')
        // Nothing of the operator's changed: not the PodMonitor (never touched), not the Deployment.
        expect([await version('podmonitor', NAME), await version('deployment', `${NAME}-milvus-standalone`)]).toEqual(before)
        expect((await cluster.helm(['list', '-n', NS, '-q'])).trim()).toBe('')
        const post = await runner.post(r.state)
        expect(post.code, failed(post)).toBe(0)
        expect(await cluster.kubectl(['get', 'podmonitor,deployment', '-n', NS, '-o', 'name'])).toMatch(
          new RegExp(`podmonitor\\.monitoring\\.coreos\\.com/${NAME}[\\s\\S]*deployment\\.apps/${NAME}-milvus-standalone`),
        )
      } finally {
        await dropNamespace(NS)
      }
    },
    15 * MIN,
  )
})
