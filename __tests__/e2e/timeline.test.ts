// The local cluster's runner timeline (what the benchmarks use): kwok plays a GitHub-hosted
// runner's pulls and probes. Pods of a namespace of the case's own, no action run.
import { describe, expect, it } from 'vitest'
import { pullSeconds } from '../../local-cluster/timeline/images.ts'
import { MILVUS_STARTUP_S } from '../../local-cluster/timeline/plan.ts'
import { E2E, e2e, MIN, tempFile, useLocalCluster } from './support.ts'

describe.runIf(E2E)('the runner timeline', () => {
  useLocalCluster()

  it(
    "the runner timeline: one pull at a time per node, each image once; Ready at the readiness probe's delay; Milvus only after its etcd and MinIO",
    async () => {
      const { cluster } = e2e
      const id = Date.now().toString(36)
      const ns = `timeline-${id}`
      const image = (n: string) => `example.invalid/timeline-${id}-${n}:1`
      const probe = (delay: number, period: number) => `{tcpSocket: {port: 9091}, initialDelaySeconds: ${delay}, periodSeconds: ${period}}`
      const podYaml = (name: string, img: string, o: { labels?: string; readiness?: string; liveness?: string } = {}) =>
        `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${ns}, labels: {${o.labels ?? ''}}, annotations: {local-cluster.milvus-monitoring-action/timeline: runner}}\n` +
        `spec: {containers: [{name: c, image: "${img}"${o.readiness ? `, readinessProbe: ${o.readiness}` : ''}${o.liveness ? `, livenessProbe: ${o.liveness}` : ''}}]}`
      const file = tempFile(
        'pods.yaml',
        [
          `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}`,
          podYaml('a', image('a'), { readiness: probe(3, 2) }),
          podYaml('b', image('b')),
          podYaml('c', image('a')),
          podYaml('rel-etcd-0', image('etcd'), { readiness: probe(2, 1) }),
          podYaml('rel-minio-0', image('minio')),
          podYaml('rel-milvus-standalone-0', image('milvus'), {
            labels: 'app.kubernetes.io/name: milvus, app.kubernetes.io/instance: rel, component: standalone',
            readiness: probe(1, 2),
            liveness: probe(30, 30),
          }),
        ].join('\n---\n'),
      )
      await cluster.kubectl(['apply', '-f', file])
      type P = {
        metadata: { name: string; annotations: Record<string, string> }
        status: {
          conditions?: Array<{ type: string; status: string; lastTransitionTime: string }>
          containerStatuses?: Array<{ state: { running?: { startedAt: string } } }>
        }
      }
      const pods = async () => (await cluster.kubectlJson<{ items: P[] }>(['get', 'pods', '-n', ns])).items
      await expect
        .poll(async () => (await pods()).every((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')), {
          timeout: 2 * MIN,
          interval: 1000,
        })
        .toBe(true)
      const byName = new Map((await pods()).map((p) => [p.metadata.name, p]))
      const at = (name: string, key: 'started-at' | 'ready-at') =>
        Date.parse(byName.get(name)!.metadata.annotations[`local-cluster.milvus-monitoring-action/${key}`]!)
      const started = (name: string) => Date.parse(byName.get(name)!.status.containerStatuses![0]!.state.running!.startedAt)
      const ready = (name: string) => Date.parse(byName.get(name)!.status.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime)
      // kwok kept the planned times (the API keeps seconds).
      for (const name of byName.keys()) {
        expect(Math.abs(started(name) - at(name, 'started-at')), `${name} started`).toBeLessThanOrEqual(1500)
        expect(Math.abs(ready(name) - at(name, 'ready-at')), `${name} ready`).toBeLessThanOrEqual(1500)
      }
      // One pull at a time: the five images' pulls end at least a pull apart.
      const pull = pullSeconds(image('a')) * 1000
      const ends = ['a', 'b', 'rel-etcd-0', 'rel-minio-0', 'rel-milvus-standalone-0'].map((n) => at(n, 'started-at')).sort((x, y) => x - y)
      for (let i = 1; i < ends.length; i++) expect(ends[i]! - ends[i - 1]!).toBeGreaterThanOrEqual(pull - 1)
      // The same image is pulled once: c starts with a.
      expect(at('c', 'started-at')).toBe(at('a', 'started-at'))
      // Ready at the readiness probe's initialDelaySeconds; without a probe, when it runs.
      expect(at('a', 'ready-at') - at('a', 'started-at')).toBe(3000)
      expect(at('b', 'ready-at')).toBe(at('b', 'started-at'))
      // Milvus: healthy MILVUS_STARTUP_S after it runs and etcd and MinIO are Ready, Ready at its
      // next readiness probe (every 2 s). The API keeps the dependencies' Ready times to the second.
      const healthyFrom = Math.max(ready('rel-etcd-0'), ready('rel-minio-0'), at('rel-milvus-standalone-0', 'started-at'))
      expect(at('rel-milvus-standalone-0', 'ready-at')).toBeGreaterThanOrEqual(healthyFrom + MILVUS_STARTUP_S * 1000)
      expect(at('rel-milvus-standalone-0', 'ready-at')).toBeLessThanOrEqual(healthyFrom + 1000 + (MILVUS_STARTUP_S + 2) * 1000)
      await cluster.kubectl(['delete', 'namespace', ns, '--wait=false'])
    },
    5 * MIN,
  )
})
