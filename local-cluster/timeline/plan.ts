// A GitHub-hosted runner's timeline for a pod, computed rather than waited out: when its
// containers start (after the images it needs are pulled, one pull at a time per node, as the
// kubelet's default serializeImagePulls does, each image once per node) and when it becomes
// Ready (its probes' initialDelaySeconds and periodSeconds; a Milvus component only once its
// etcd, MinIO and Pulsar are Ready and it has started, restarted by its liveness probe when that
// takes too long). Pure: the controller (controller.ts) applies it; tests check it as tables.
import { pullSeconds } from './images.ts'

/** Seconds from a container's images being there to its process running (create, start). */
export const CONTAINER_START_S = 0.5
/** Seconds Milvus takes to answer /healthz once etcd and MinIO are Ready (estimate: its coordinators starting). */
export const MILVUS_STARTUP_S = 15
/** The kubelet's restart back-off: 10 s, doubling, at most 300 s (the first restart is at once). */
export const restartBackoffS = (restart: number): number => (restart <= 1 ? 0 : Math.min(300, 10 * 2 ** (restart - 2)))

/** The parts of a core/v1 Probe the timeline reads (seconds; Kubernetes' defaults when absent). */
export interface Probe {
  initialDelaySeconds?: number
  periodSeconds?: number
  failureThreshold?: number
}

export interface PodShape {
  namespace: string
  name: string
  labels: Record<string, string>
  initContainers: Array<{ image: string; restartPolicy?: string }>
  containers: Array<{ image: string; readinessProbe?: Probe; livenessProbe?: Probe; startupProbe?: Probe }>
}

/** One node's image store and its single pull queue. Times are ms since the epoch. */
export class NodePulls {
  private readonly ready = new Map<string, number>()
  private queueEnd = 0

  private readonly mbPerS?: number

  constructor(mbPerS?: number) {
    this.mbPerS = mbPerS
  }

  /** When `image` is on the node: at once if it is, else after the pulls queued before it. */
  schedule(image: string, now: number): number {
    const known = this.ready.get(image)
    if (known !== undefined) return known
    const start = Math.max(now, this.queueEnd)
    const end = start + pullSeconds(image, this.mbPerS) * 1000
    this.queueEnd = end
    this.ready.set(image, end)
    return end
  }
}

/** When a pod scheduled at `now` on the node of `pulls` has its containers running (ms). */
export function startedAt(pod: PodShape, now: number, pulls: NodePulls): number {
  let t = now
  // The kubelet asks for the init containers' images first, then the app containers', in order.
  for (const c of [...pod.initContainers, ...pod.containers]) t = Math.max(t, pulls.schedule(c.image, now))
  return t + CONTAINER_START_S * 1000
}

/** Whether a pod is a Milvus component, which waits for its dependencies to be Ready before it is healthy. */
export function isMilvus(pod: PodShape): boolean {
  return pod.labels['app.kubernetes.io/name'] === 'milvus' && pod.labels['component'] !== undefined
}

/** Whether `other` is one of the dependencies of the Milvus pod `pod` (its release's etcd, MinIO, Pulsar). */
export function isDependency(pod: PodShape, other: { namespace: string; name: string }): boolean {
  const release = pod.labels['app.kubernetes.io/instance']
  if (!release || other.namespace !== pod.namespace) return false
  return ['etcd', 'minio', 'pulsar', 'pulsarv3'].some((d) => other.name.startsWith(`${release}-${d}-`) || other.name === `${release}-${d}`)
}

const delay = (p: Probe | undefined) => (p?.initialDelaySeconds ?? 0) * 1000
const period = (p: Probe | undefined) => (p?.periodSeconds ?? 10) * 1000

/**
 * When a pod whose containers started at `started` is Ready (ms): every container's first
 * readiness probe, after its startup probe's delay (a container without probes is Ready when
 * it runs). For a pod whose process only answers from `healthy` (ms), the first readiness probe
 * tick at or after it, unless the liveness probe restarts the container first: then the same
 * on the restarted container, `restarts` counting how often.
 */
export function readyAt(
  pod: PodShape,
  started: number,
  healthy?: (started: number) => number,
): { ready: number; restarts: number; startedAt: number } {
  let start = started
  let restarts = 0
  for (;;) {
    let ready = start
    let deadline = Infinity
    for (const c of pod.containers) {
      const first = start + delay(c.startupProbe) + delay(c.readinessProbe)
      let t = first
      if (healthy) {
        const h = healthy(start)
        if (h > first) t = first + Math.ceil((h - first) / period(c.readinessProbe)) * period(c.readinessProbe)
      }
      ready = Math.max(ready, t)
      if (healthy && c.livenessProbe) {
        // The kubelet restarts after failureThreshold failures in a row: probes at delay, delay + period, ...
        const l = c.livenessProbe
        deadline = Math.min(deadline, start + delay(c.startupProbe) + delay(l) + ((l.failureThreshold ?? 3) - 1) * period(l))
      }
    }
    if (!healthy || healthy(start) <= deadline || restarts >= 10) return { ready, restarts, startedAt: start }
    restarts++
    start = deadline + restartBackoffS(restarts) * 1000 + CONTAINER_START_S * 1000
  }
}

/** When a Milvus component started at `started` answers /healthz, its dependencies Ready at `depsReady` (ms). */
export function milvusHealthy(depsReady: number): (started: number) => number {
  return (started) => Math.max(started, depsReady) + MILVUS_STARTUP_S * 1000
}
