import { describe, expect, it } from 'vitest'
import { IMAGE_SIZES, PULL_MB_PER_S, PULL_OVERHEAD_S, pullSeconds, UNKNOWN_IMAGE_MB } from '../../local-cluster/timeline/images.ts'
import {
  CONTAINER_START_S,
  isDependency,
  isMilvus,
  MILVUS_STARTUP_S,
  milvusHealthy,
  NodePulls,
  readyAt,
  restartBackoffS,
  startedAt,
  type PodShape,
} from '../../local-cluster/timeline/plan.ts'
import { onTimeline } from '../../local-cluster/timeline/controller.ts'

const S = 1000
const pod = (o: Partial<PodShape> & { images?: string[] } = {}): PodShape => ({
  namespace: 'milvus',
  name: 'p',
  labels: {},
  initContainers: [],
  containers: (o.images ?? ['example.invalid/a:1']).map((image) => ({ image })),
  ...o,
})

describe('image pulls', () => {
  it.each([
    ['milvusdb/milvus:v2.6.15', 650],
    ['quay.io/prometheus/prometheus:v3.12.0', 130],
    ['docker.io/milvusdb/etcd:3.5.25-r1', 60],
    ['grafana/grafana:13.0.2', 250],
    ['example.invalid/unknown:1', UNKNOWN_IMAGE_MB],
  ])('%s: the overhead plus %d MB at the runner throughput', (image, mb) => {
    expect(pullSeconds(image)).toBeCloseTo(PULL_OVERHEAD_S + mb / PULL_MB_PER_S, 6)
  })

  it('every image of the table has a size and says where it comes from', () => {
    for (const [image, s] of Object.entries(IMAGE_SIZES)) {
      expect(s.mb, image).toBeGreaterThan(0)
      expect(s.basis, image).toMatch(/^(N|P|E)/)
    }
  })

  it('one pull at a time per node, each image once', () => {
    const pulls = new NodePulls()
    const a = pulls.schedule('example.invalid/a:1', 0)
    const b = pulls.schedule('example.invalid/b:1', 0)
    expect(a).toBeCloseTo(pullSeconds('example.invalid/a:1') * S)
    expect(b).toBeCloseTo(a + pullSeconds('example.invalid/b:1') * S)
    expect(pulls.schedule('example.invalid/a:1', 60 * S)).toBe(a) // already on the node
    // A pull asked for after the queue drained starts when asked.
    expect(pulls.schedule('example.invalid/c:1', 60 * S)).toBeCloseTo(60 * S + pullSeconds('example.invalid/c:1') * S)
  })

  it('a pod runs once the images of its init and app containers are there', () => {
    const pulls = new NodePulls()
    const p = pod({ initContainers: [{ image: 'example.invalid/init:1' }], images: ['example.invalid/a:1', 'example.invalid/b:1'] })
    const total = ['init', 'a', 'b'].reduce((t, n) => t + pullSeconds(`example.invalid/${n}:1`), 0)
    expect(startedAt(p, 0, pulls)).toBeCloseTo((total + CONTAINER_START_S) * S)
  })
})

describe('readiness', () => {
  it.each([
    ['no probe: Ready when it runs', {}, 0],
    ['readiness from 5 s', { readinessProbe: { initialDelaySeconds: 5, periodSeconds: 5 } }, 5],
    ["the chart's 90 s", { readinessProbe: { initialDelaySeconds: 90, periodSeconds: 10 } }, 90],
    ['a startup probe first', { startupProbe: { initialDelaySeconds: 10 }, readinessProbe: { initialDelaySeconds: 5 } }, 15],
  ])('%s', (_, probes, seconds) => {
    const p: PodShape = { ...pod(), containers: [{ image: 'example.invalid/a:1', ...probes }] }
    expect(readyAt(p, 100 * S)).toEqual({ ready: (100 + seconds) * S, restarts: 0, startedAt: 100 * S })
  })

  const milvus = (
    readiness: { initialDelaySeconds: number; periodSeconds: number },
    liveness = { initialDelaySeconds: 30, periodSeconds: 30, failureThreshold: 7 },
  ): PodShape => ({
    ...pod({
      name: 'rel-milvus-standalone-x',
      labels: { 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/instance': 'rel', component: 'standalone' },
    }),
    containers: [{ image: 'milvusdb/milvus:v2.6.15', readinessProbe: readiness, livenessProbe: liveness }],
  })

  it('Milvus answers once etcd and MinIO are Ready and it has started; Ready at the next readiness probe', () => {
    // Started at 0, dependencies Ready at 12 s: healthy at 12 + MILVUS_STARTUP_S; probes at 5, 10, 15, ...
    const healthy = 12 + MILVUS_STARTUP_S
    const r = readyAt(milvus({ initialDelaySeconds: 5, periodSeconds: 5 }), 0, milvusHealthy(12 * S))
    expect(r).toEqual({ ready: Math.ceil(healthy / 5) * 5 * S, restarts: 0, startedAt: 0 })
    // With the chart's 90 s delay the first probe is what waits.
    expect(readyAt(milvus({ initialDelaySeconds: 90, periodSeconds: 10 }), 0, milvusHealthy(12 * S)).ready).toBe(90 * S)
  })

  it('Milvus whose dependencies take longer than its liveness grace is restarted, at the kubelet back-off', () => {
    // Liveness from 10 s, every 10 s, 3 failures: restarted at 30 s; dependencies Ready at 100 s.
    const liveness = { initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 }
    const r = readyAt(milvus({ initialDelaySeconds: 5, periodSeconds: 5 }, liveness), 0, milvusHealthy(100 * S))
    expect(r.restarts).toBeGreaterThan(0)
    expect(restartBackoffS(1)).toBe(0)
    expect(restartBackoffS(2)).toBe(10)
    expect(restartBackoffS(9)).toBe(300)
    expect(r.ready).toBeGreaterThanOrEqual((100 + MILVUS_STARTUP_S) * S)
    // The last container became healthy within its liveness grace (10 s + 2 x 10 s), so it stays.
    expect(milvusHealthy(100 * S)(r.startedAt)).toBeLessThanOrEqual(r.startedAt + 30 * S)
  })

  it("a Milvus component depends on its own release's etcd, MinIO and Pulsar only", () => {
    const p = pod({ labels: { 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/instance': 'rel', component: 'standalone' } })
    expect(isMilvus(p)).toBe(true)
    expect(isMilvus(pod({ labels: { 'app.kubernetes.io/name': 'etcd' } }))).toBe(false)
    expect(isDependency(p, { namespace: 'milvus', name: 'rel-etcd-0' })).toBe(true)
    expect(isDependency(p, { namespace: 'milvus', name: 'rel-minio-7d9c-x' })).toBe(true)
    expect(isDependency(p, { namespace: 'milvus', name: 'rel-pulsarv3-bookie-0' })).toBe(true)
    expect(isDependency(p, { namespace: 'other', name: 'rel-etcd-0' })).toBe(false)
    expect(isDependency(p, { namespace: 'milvus', name: 'release2-etcd-0' })).toBe(false)
  })
})

describe('which pods the timeline plays', () => {
  const k = (annotations: Record<string, string> = {}, image = 'a:1') => ({
    metadata: { annotations },
    spec: { containers: [{ name: 'c', image }] },
  })
  it.each([
    ['any pod with the runner profile', k(), 'runner', true],
    ['no pod with the instant profile', k(), 'instant', false],
    [
      'a pod marked timeline: runner with the instant profile',
      k({ 'local-cluster.milvus-monitoring-action/timeline': 'runner' }),
      'instant',
      true,
    ],
    ['never a never-ready pod', k({ 'local-cluster.milvus-monitoring-action/never-ready': 'true' }), 'runner', false],
    ['never a crash-looping pod', k({ 'local-cluster.milvus-monitoring-action/crash-loop': 'true' }), 'runner', false],
    ['never an image that does not exist', k({}, 'milvusdb/milvus:does-not-exist'), 'runner', false],
  ] as const)('%s', (_, p, profile, expected) => {
    expect(onTimeline(p, profile)).toBe(expected)
  })
})
