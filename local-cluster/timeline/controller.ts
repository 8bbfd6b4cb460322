// Puts pods on a runner's timeline (plan.ts): when a pod is scheduled it gets the annotations
// `local-cluster.milvus-monitoring-action/started-at` and `.../ready-at` (RFC 3339 times), which
// kwok's runner stages (kwok/runner-stages.yaml) wait for before making it Running and Ready.
// A Milvus component gets its ready-at only once its etcd, MinIO and Pulsar pods are Ready.
// With the `runner` profile every pod is on the timeline; with the instant one, only pods
// annotated `local-cluster.milvus-monitoring-action/timeline: runner` (for tests).
import * as k8s from '@kubernetes/client-node'
import { isDependency, isMilvus, milvusHealthy, NodePulls, readyAt, startedAt, type PodShape } from './plan.ts'

const A = 'local-cluster.milvus-monitoring-action/'
export const STARTED_AT = `${A}started-at`
export const READY_AT = `${A}ready-at`
export const RESTARTS = `${A}restarts`
export const TIMELINE = `${A}timeline`
/** Pods the other stages play (kwok/stages.yaml): never on the timeline. */
const SWITCHES = [`${A}never-ready`, `${A}crash-loop`]

export type Profile = 'instant' | 'runner'

function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString()}] timeline: ${msg}\n`)
}

export function shapeOf(pod: k8s.V1Pod): PodShape {
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    labels: pod.metadata?.labels ?? {},
    initContainers: (pod.spec?.initContainers ?? []).map((c) => ({ image: c.image ?? '', restartPolicy: c.restartPolicy })),
    containers: (pod.spec?.containers ?? []).map((c) => ({
      image: c.image ?? '',
      readinessProbe: c.readinessProbe,
      livenessProbe: c.livenessProbe,
      startupProbe: c.startupProbe,
    })),
  }
}

/** Whether the timeline plays this pod under `profile`. */
export function onTimeline(pod: k8s.V1Pod, profile: Profile): boolean {
  const annotations = pod.metadata?.annotations ?? {}
  if (SWITCHES.some((s) => annotations[s] === 'true')) return false
  if ((pod.spec?.containers ?? []).some((c) => c.image?.endsWith(':does-not-exist'))) return false
  return profile === 'runner' || annotations[TIMELINE] === 'runner'
}

const isReady = (pod: k8s.V1Pod) => pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')

export class TimelineController {
  private readonly pulls = new Map<string, NodePulls>()
  private readonly pods = new Map<string, k8s.V1Pod>() // namespace/name
  private readonly awaitingReady = new Set<string>() // Milvus pods started, their ready-at not planned yet
  private readonly core: k8s.CoreV1Api
  private abort?: { abort: () => void }
  private stopped = false
  private queue: Promise<void> = Promise.resolve()

  private readonly kc: k8s.KubeConfig
  private readonly profile: Profile
  private readonly mbPerS?: number

  /** `mbPerS`: the pull throughput, PULL_MB_PER_S (images.ts) when absent. */
  constructor(kc: k8s.KubeConfig, profile: Profile, mbPerS?: number) {
    this.kc = kc
    this.profile = profile
    this.mbPerS = mbPerS
    this.core = kc.makeApiClient(k8s.CoreV1Api)
  }

  async start(): Promise<void> {
    const w = new k8s.Watch(this.kc)
    const again = async (): Promise<void> => {
      this.abort = await w.watch(
        '/api/v1/pods',
        {},
        (type: string, pod: k8s.V1Pod) => {
          // One event at a time, in order: a pod is planned once, its node's pulls queue in arrival order.
          this.queue = this.queue.then(() => this.onPod(type, pod)).catch((e: unknown) => log(`error: ${String(e)}`))
        },
        () => {
          if (!this.stopped) setTimeout(() => void again().catch(() => undefined), 500)
        },
      )
    }
    await again()
    log(`profile ${this.profile}${this.mbPerS ? `, ${this.mbPerS} MB/s` : ''}`)
  }

  /** Every node's image store emptied: the next pods pull everything again. */
  forgetImages(): void {
    this.pulls.clear()
  }

  stop(): void {
    this.stopped = true
    this.abort?.abort()
  }

  private async onPod(type: string, pod: k8s.V1Pod): Promise<void> {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`
    if (type === 'DELETED') {
      this.pods.delete(key)
      this.awaitingReady.delete(key)
      return
    }
    this.pods.set(key, pod)
    const node = pod.spec?.nodeName
    if (node && !pod.metadata?.deletionTimestamp && onTimeline(pod, this.profile) && !pod.metadata?.annotations?.[STARTED_AT])
      await this.plan(pod, node)
    // A dependency's readiness may complete a Milvus pod's plan: only those pods are looked at,
    // not every pod of the cluster on every event (1000 node-exporters at 1000 nodes).
    const a = pod.metadata?.annotations ?? {}
    if (a[STARTED_AT] && !a[READY_AT] && isMilvus(shapeOf(pod))) this.awaitingReady.add(key)
    for (const k of this.awaitingReady) {
      const p = this.pods.get(k)
      if (p && !p.metadata?.annotations?.[READY_AT]) await this.planMilvusReady(p)
      if (!p || p.metadata?.annotations?.[READY_AT]) this.awaitingReady.delete(k)
    }
  }

  private async plan(pod: k8s.V1Pod, node: string): Promise<void> {
    let pulls = this.pulls.get(node)
    if (!pulls) this.pulls.set(node, (pulls = new NodePulls(this.mbPerS)))
    const shape = shapeOf(pod)
    const started = startedAt(shape, Date.now(), pulls)
    const annotations: Record<string, string> = { [STARTED_AT]: new Date(started).toISOString() }
    // A Job's pod completes instead (kwok/stages.yaml pod-complete); a Milvus component waits for its dependencies.
    const job = (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Job')
    if (!isMilvus(shape) && !job) annotations[READY_AT] = new Date(readyAt(shape, started).ready).toISOString()
    await this.annotate(pod, annotations)
  }

  private async planMilvusReady(pod: k8s.V1Pod): Promise<void> {
    const shape = shapeOf(pod)
    const deps = [...this.pods.values()].filter((p) =>
      isDependency(shape, { namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '' }),
    )
    if (!deps.length || !deps.every(isReady)) return
    const depsReady = Math.max(...deps.map((p) => Date.parse(String(isReady(p)!.lastTransitionTime ?? new Date()))))
    const started = Date.parse(pod.metadata!.annotations![STARTED_AT]!)
    const plan = readyAt(shape, started, milvusHealthy(depsReady))
    pod.metadata!.annotations![READY_AT] = new Date(plan.ready).toISOString() // planned once
    await this.annotate(pod, { [READY_AT]: new Date(plan.ready).toISOString(), [RESTARTS]: String(plan.restarts) })
  }

  private async annotate(pod: k8s.V1Pod, annotations: Record<string, string>): Promise<void> {
    await this.core.patchNamespacedPod(
      { name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { metadata: { annotations } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )
  }
}
