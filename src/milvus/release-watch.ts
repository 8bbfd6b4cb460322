// Watching the release while the run waits on it: the Events of its namespace and the status
// of its Pods. A wait ends as soon as the cluster says it can never succeed (a pod refused at
// admission, a pod that fits no node, a claim no StorageClass will bind, an image that cannot be
// pulled, a container crash-looping), with the cluster's own words and the fix, instead of
// running out the budget. Pod phase and readiness changes are logged as progress.
import * as core from '@actions/core'
import type { Kube, KubeObject } from '../cluster/kube.ts'

/** How long an image may fail to pull (ErrImagePull, ImagePullBackOff) before the run gives up, in ms. */
export const IMAGE_PULL_GRACE_MS = 3 * 60_000
/**
 * The registry's own answer that an image does not exist or may not be pulled (containerd's
 * NotFound, a registry's `manifest unknown`, Docker Hub's `pull access denied`): no retry will
 * change it, so it is fatal at once. Other pull errors (timeouts, TLS, rate limits) get the grace.
 */
export const IMAGE_REFUSED =
  /code = NotFound|: not found|manifest unknown|name unknown|repository does not exist|pull access denied|unauthorized|insufficient_scope/i
/** Restarts of one container in CrashLoopBackOff that are still waited on: Milvus restarts a few times while etcd and MinIO start. */
export const CRASH_LOOP_RESTARTS = 5
/**
 * Restarts of one container in CrashLoopBackOff that are waited on once every other pod of the
 * release is Ready: what it waited for is there, so crashing again is its own fault. At the
 * kubelet's back-off (10 s, then doubling) the second comes about 30 s after the first crash.
 */
export const CRASH_LOOP_RESTARTS_PEERS_READY = 2
/** FailedCreate messages of a controller that retries and will succeed: never a refusal. */
export const TRANSIENT_FAILED_CREATE =
  /object has been modified|try again|etcdserver|timeout|timed out|already exists|unable to handle the request|connection refused|deadline exceeded|internal error occurred|too many requests/i
/** How long a container may wait on a missing ConfigMap or Secret (CreateContainerConfigError), in ms. */
export const CONFIG_ERROR_GRACE_MS = 60_000
/** How long a missing ServiceAccount may keep a controller from creating pods (the chart may create it a moment later), in ms. */
export const MISSING_ACCOUNT_GRACE_MS = 20_000
/**
 * How long a pod may stay unschedulable for resources before the run gives up, in ms: time for
 * a cluster autoscaler to answer; one that reports TriggeredScaleUp for the pod is waited on.
 */
export const SCHEDULING_GRACE_MS = 15_000

/** How long an admission webhook may fail to answer a controller's pod creates before the run gives up, in ms. */
export const WEBHOOK_GRACE_MS = 15_000
/**
 * The scheduler's words for a pod no node will take whatever frees up: a nodeSelector or node
 * affinity no node's labels match, a taint the pod does not tolerate, a volume bound to a zone
 * without a node. Fatal after SCHEDULING_GRACE_MS like a lack of room (an autoscaler may add a node).
 */
export const NO_NODE_MATCHES =
  /didn't match (Pod's )?node (affinity\/selector|selector|affinity)|had untolerated taint|that the pod didn't tolerate|had volume node affinity conflict/

/** A reason the release can never become ready, in the cluster's own words. */
export class ClusterRefusal extends Error {
  readonly object: string // 'Pod milvus/my-release-milvus-standalone-7d9c'
  readonly reason: string // the Event reason or container state ('FailedCreate', 'ImagePullBackOff')
  readonly clusterMessage: string
  readonly fix: string

  constructor(f: { object: string; reason: string; message: string; fix: string }) {
    super(`${f.object}: ${f.reason}: ${f.message}\n${f.fix}`)
    this.name = 'ClusterRefusal'
    this.object = f.object
    this.reason = f.reason
    this.clusterMessage = f.message
    this.fix = f.fix
  }
}

/** The fields of a core/v1 Event this module reads. */
export interface KubeEvent {
  metadata: { name: string; namespace?: string; resourceVersion?: string }
  type?: string // 'Normal' | 'Warning'
  reason?: string
  message?: string
  count?: number
  firstTimestamp?: string | null
  lastTimestamp?: string | null
  eventTime?: string | null
  involvedObject?: { kind?: string; name?: string; namespace?: string }
}

interface ContainerStatus {
  name: string
  restartCount?: number
  ready?: boolean
  state?: { waiting?: { reason?: string; message?: string }; running?: object; terminated?: { reason?: string; exitCode?: number } }
}

/** The fields of a core/v1 Pod this module reads. */
export interface PodObject {
  metadata: { name: string; namespace?: string }
  spec?: {
    nodeName?: string
    containers?: Array<{ name: string; image?: string; resources?: { requests?: Record<string, string> } }>
    nodeSelector?: Record<string, string>
    tolerations?: Array<{ key?: string; operator?: string; value?: string; effect?: string }>
    affinity?: { nodeAffinity?: unknown }
  }
  status?: {
    phase?: string
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>
    containerStatuses?: ContainerStatus[]
    initContainerStatuses?: ContainerStatus[]
  }
}

const ref = (e: KubeEvent) =>
  `${e.involvedObject?.kind ?? 'Object'} ${e.involvedObject?.namespace ?? e.metadata.namespace ?? ''}/${e.involvedObject?.name ?? '?'}`

function spanMs(e: KubeEvent): number {
  const first = Date.parse(e.firstTimestamp ?? e.eventTime ?? '')
  const last = Date.parse(e.lastTimestamp ?? e.eventTime ?? '')
  return Number.isFinite(first) && Number.isFinite(last) ? last - first : 0
}

/**
 * The refusal a Warning Event states, or undefined when it is not (or not yet) fatal. Pure:
 * table-tested. Covers controllers that cannot create pods (FailedCreate: PodSecurity, invalid
 * names or labels, quota, a missing ServiceAccount that stays missing), the scheduler finding
 * no node with room (FailedScheduling for resources), and claims nothing will bind.
 */
export function refusalInEvent(e: KubeEvent): ClusterRefusal | undefined {
  if (e.type !== 'Warning') return undefined
  const message = (e.message ?? '').trim()
  const object = ref(e)
  switch (e.reason) {
    case 'FailedCreate': {
      if (/serviceaccount .* not found/i.test(message)) {
        if (spanMs(e) < MISSING_ACCOUNT_GRACE_MS && (e.count ?? 1) < 5) return undefined
        return new ClusterRefusal({
          object,
          reason: 'FailedCreate',
          message,
          fix: "The ServiceAccount the pods use does not exist and nothing creates it: create it, or set the chart's serviceAccount values so the release creates it.",
        })
      }
      // An admission webhook's own "no" is final; one that does not answer (its Service gone with
      // an uninstalled stack) is retried by the controller but named once it has lasted.
      const denied = /admission webhook "([^"]+)" denied the request/.exec(message)
      if (denied) {
        return new ClusterRefusal({
          object,
          reason: 'FailedCreate',
          message,
          fix: `The admission webhook "${denied[1]}" refuses the pods: change the values so it admits them, or ask its owner (kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations names it).`,
        })
      }
      const unanswered = /failed calling webhook "([^"]+)"/.exec(message)
      if (unanswered) {
        if (spanMs(e) < WEBHOOK_GRACE_MS && (e.count ?? 1) < 3) return undefined
        return new ClusterRefusal({
          object,
          reason: 'FailedCreate',
          message,
          fix: `The admission webhook "${unanswered[1]}" does not answer, and intercepts the pods with failurePolicy Fail: delete its webhook configuration if what served it was uninstalled, or bring its Service back.`,
        })
      }
      const policy = /ValidatingAdmissionPolicy '([^']+)'(?: with binding '([^']+)')? denied request/.exec(message)
      if (policy) {
        return new ClusterRefusal({
          object,
          reason: 'FailedCreate',
          message,
          fix: `The ValidatingAdmissionPolicy ${policy[1]}${policy[2] ? ` (binding ${policy[2]})` : ''} refuses the pods: change the values so it admits them, or ask its owner to exempt the namespace.`,
        })
      }
      // What the controller retries on its own: conflicts, its own stale cache (a claim or pod it
      // created a moment ago "already exists"), an API server that is briefly unavailable.
      if (TRANSIENT_FAILED_CREATE.test(message)) return undefined
      let fix = "The controller cannot create the release's pods; fix what the message names."
      if (/PodSecurity/.test(message)) {
        fix = `The namespace's Pod Security admission refuses the pods. Label the namespace to admit them (e.g. kubectl label namespace ${e.involvedObject?.namespace ?? e.metadata.namespace} pod-security.kubernetes.io/enforce=privileged --overwrite), or install into a namespace without that label.`
      } else if (/must be no more than 63 characters|must be 63 characters or less/.test(message)) {
        fix =
          'A name or label the chart derives from the release name is too long: use a shorter release-name (or set fullnameOverride in values).'
      } else if (/exceeded quota|must specify (limits|requests)/i.test(message)) {
        fix = 'A ResourceQuota in the namespace forbids the pods: raise the quota, lower the requests in values, or use another namespace.'
      } else if (/(minimum|maximum) (cpu|memory|ephemeral-storage) usage per (Container|Pod)|limit to request ratio/i.test(message)) {
        fix =
          "A LimitRange in the namespace refuses the pods' requests or limits (kubectl get limitrange -n <namespace> -o yaml): set the resources in values within its minimum and maximum, or use another namespace."
      }
      return new ClusterRefusal({ object, reason: 'FailedCreate', message, fix })
    }
    case 'FailedScheduling': {
      // Fatal once it has lasted SCHEDULING_GRACE_MS with no scale-up (watchRelease keeps time).
      if (NO_NODE_MATCHES.test(message)) {
        return new ClusterRefusal({
          object,
          reason: 'FailedScheduling',
          message,
          fix: "No node matches the pod's nodeSelector or node affinity, or tolerates the nodes' taints. Fix nodeSelector, affinity and tolerations in values (the chart's and each component's), or label or untaint a node.",
        })
      }
      if (!/Insufficient (cpu|memory|pods|ephemeral-storage|[\w./-]+)|Too many pods/.test(message)) return undefined
      return new ClusterRefusal({
        object,
        reason: 'FailedScheduling',
        message,
        fix: "No node has room for the pod's requests. Lower the requests in values, use fewer replicas (milvus-mode: standalone), or give the cluster a bigger node.",
      })
    }
    case 'ProvisioningFailed':
    case 'FailedBinding': {
      if (!/no persistent volumes available.*no storage class is set|storageclass.* not found/i.test(message)) return undefined
      return new ClusterRefusal({
        object,
        reason: e.reason,
        message,
        fix: "Nothing will bind this PersistentVolumeClaim: set a default StorageClass on the cluster, or set the chart's persistence storageClass values to one that exists (or persistence.enabled: false).",
      })
    }
    default:
      return undefined
  }
}

/**
 * The refusal a Pod's container states show, or undefined. `since(key)` gives how long (ms) the
 * caller has seen the state named by key: image pulls and config errors get a grace, a crash
 * loop its restarts. `restartsWhilePeersReady(container, restartCount)` gives how many of the
 * container's restarts came after every other pod of the release was Ready (0 when unknown).
 */
export function refusalInPod(
  pod: PodObject,
  since: (key: string) => number,
  restartsWhilePeersReady: (container: string, restartCount: number) => number = () => 0,
): ClusterRefusal | undefined {
  const object = `Pod ${pod.metadata.namespace ?? ''}/${pod.metadata.name}`
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
  for (const c of statuses) {
    const waiting = c.state?.waiting
    if (!waiting?.reason) continue
    const message = `container ${c.name}: ${waiting.message ?? waiting.reason}`
    const key = `${pod.metadata.name}/${c.name}/${waiting.reason}`
    switch (waiting.reason) {
      case 'InvalidImageName':
        return new ClusterRefusal({
          object,
          reason: waiting.reason,
          message,
          fix: 'The image reference is malformed: fix the image values.',
        })
      case 'ErrImagePull':
      case 'ImagePullBackOff': {
        if (IMAGE_REFUSED.test(waiting.message ?? '')) {
          return new ClusterRefusal({
            object,
            reason: waiting.reason,
            message,
            fix: "The registry says this image does not exist or may not be pulled: fix the image repository and tag in values (the chart's image.all.repository and image.all.tag for Milvus), or add imagePullSecrets for a private registry.",
          })
        }
        if (since(`${pod.metadata.name}/${c.name}/pull`) < IMAGE_PULL_GRACE_MS) break
        return new ClusterRefusal({
          object,
          reason: waiting.reason,
          message,
          fix: `The image could not be pulled for ${Math.round(IMAGE_PULL_GRACE_MS / 60_000)} minutes: check the image name and tag in values, the registry's reachability from the nodes, and imagePullSecrets.`,
        })
      }
      case 'CrashLoopBackOff': {
        const restarts = c.restartCount ?? 0
        const afterPeers = restartsWhilePeersReady(c.name, restarts)
        if (restarts <= CRASH_LOOP_RESTARTS && afterPeers < CRASH_LOOP_RESTARTS_PEERS_READY) break
        const why =
          restarts > CRASH_LOOP_RESTARTS
            ? `${restarts} restarts`
            : `${restarts} restarts, ${afterPeers} of them with every other pod of the release Ready`
        return new ClusterRefusal({
          object,
          reason: waiting.reason,
          message: `${message} (${why})`,
          fix: 'The container keeps crashing: read its log (kubectl logs --previous) in the diagnostics below.',
        })
      }
      case 'CreateContainerConfigError':
        if (since(key) < CONFIG_ERROR_GRACE_MS) break
        return new ClusterRefusal({
          object,
          reason: waiting.reason,
          message,
          fix: 'A ConfigMap or Secret the container needs does not exist: create it, or fix the values that name it.',
        })
    }
  }
  return undefined
}

/** One line for a pod's progress: phase, ready containers, and what a waiting container waits on. */
export function podProgress(pod: PodObject): string {
  const statuses = pod.status?.containerStatuses ?? []
  const ready = statuses.filter((c) => c.ready).length
  const waiting = [...(pod.status?.initContainerStatuses ?? []), ...statuses].map((c) => c.state?.waiting?.reason).find((r) => r)
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
  const phase = pod.status?.phase ?? 'Pending'
  const detail = waiting ?? (unscheduled ? `unschedulable` : '')
  return `${phase}, ${ready}/${pod.spec?.containers?.length ?? statuses.length} ready${detail ? ` (${detail})` : ''}`
}

/** Where the API serves each kind a release's Events can be about. */
const KIND_PATHS: Record<string, string> = {
  Pod: '/api/v1/namespaces/{ns}/pods',
  PersistentVolumeClaim: '/api/v1/namespaces/{ns}/persistentvolumeclaims',
  ReplicaSet: '/apis/apps/v1/namespaces/{ns}/replicasets',
  Deployment: '/apis/apps/v1/namespaces/{ns}/deployments',
  StatefulSet: '/apis/apps/v1/namespaces/{ns}/statefulsets',
  DaemonSet: '/apis/apps/v1/namespaces/{ns}/daemonsets',
  Job: '/apis/batch/v1/namespaces/{ns}/jobs',
}

interface OwnedMetadata {
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }>
}

/**
 * Whether an object's own marks name the release: Helm's release annotation (on every object
 * Helm creates), or the instance label (`app.kubernetes.io/instance`, or `release` as older
 * subcharts such as MinIO's write it) that the chart puts on pod templates and claim templates.
 */
export function markedForRelease(metadata: OwnedMetadata | undefined, release: string): boolean {
  return (
    metadata?.annotations?.['meta.helm.sh/release-name'] === release ||
    metadata?.labels?.['app.kubernetes.io/instance'] === release ||
    metadata?.labels?.release === release
  )
}

/**
 * Whether the object an Event is about belongs to the release: it, or a controller up its
 * owner chain (at most 4 objects read: Pod, ReplicaSet, Deployment), is marked for it. An
 * object that is gone, or of a kind a release does not make, does not.
 */
export async function belongsToRelease(
  kube: Pick<Kube, 'find'>,
  namespace: string,
  release: string,
  object: { kind?: string; name?: string },
): Promise<boolean> {
  let next: { kind?: string; name?: string } | undefined = object
  for (let depth = 0; next?.kind && next.name && depth < 4; depth++) {
    const path: string | undefined = KIND_PATHS[next.kind]
    if (!path) return false
    // Gone (404) is a definite no; any other error rejects, so the caller can ask again.
    const found: { metadata: OwnedMetadata } | undefined = await kube.find<{ metadata: OwnedMetadata }>(
      `${path.replace('{ns}', namespace)}/${next.name}`,
    )
    if (!found) return false
    if (markedForRelease(found.metadata, release)) return true
    next = found.metadata.ownerReferences?.find((o: { controller?: boolean }) => o.controller)
  }
  return false
}

export interface ReleaseWatch {
  /** Resolves with the first refusal; never resolves when there is none. */
  refusal: Promise<ClusterRefusal>
  stop(): void
}

/**
 * Watches the Events of `namespace` (those already there when the watch starts are the
 * baseline, only changes count) and the Pods labelled `app.kubernetes.io/instance=<release>`,
 * and logs each pod's progress once per change. A pod the scheduler marks Unschedulable counts
 * from its own condition as from its FailedScheduling Event, whichever is seen first. Only
 * Events about the release's own objects (see belongsToRelease) can end the run: another
 * workload's refusal in a shared namespace is not this release's. Namespace-scoped and label-selected, so its cost does not grow with the
 * cluster. Stop it with stop(); errors of the watch itself end it quietly.
 */
export function watchRelease(kube: Kube, namespace: string, release: string, log: (line: string) => void = core.info): ReleaseWatch {
  const controller = new AbortController()
  let found: (r: ClusterRefusal) => void = () => undefined
  const refusal = new Promise<ClusterRefusal>((resolve) => (found = resolve))
  const report = (r: ClusterRefusal | undefined) => {
    if (!r || controller.signal.aborted) return false
    controller.abort()
    void withSchedulingDetail(kube, r).then(found)
    return true
  }

  let baseline: Map<string, string> | undefined
  let events = new Map<string, KubeObject>()
  let pods = new Map<string, KubeObject>()
  // The resourceVersion each event was last considered at: an event counts once per change, so an
  // old FailedScheduling cannot put a pod scheduled since back among the unschedulable.
  const considered = new Map<string, string>()
  // Unschedulable pods, by name: fatal after SCHEDULING_GRACE_MS unless an autoscaler scales up for them.
  const unschedulable = new Map<string, { refusal: ClusterRefusal; since: number }>()
  const markUnschedulable = (pod: string, refusal: ClusterRefusal) => {
    if (!unschedulable.has(pod)) unschedulable.set(pod, { refusal, since: Date.now() })
  }
  const scalingUp = (pod: string) =>
    [...events.values()].some((e) => {
      const ev = e as unknown as KubeEvent
      return ev.reason === 'TriggeredScaleUp' && ev.involvedObject?.name === pod
    })
  // Whose each refusing object is, asked once per object (refusals are rare; the answer stays).
  // A lookup that failed is forgotten, so the next look asks again instead of answering "not ours".
  const owners = new Map<string, Promise<boolean>>()
  const ours = (e: KubeEvent) => {
    const key = `${e.involvedObject?.kind}/${e.involvedObject?.name}`
    let owned = owners.get(key)
    if (!owned) {
      owned = belongsToRelease(kube, namespace, release, e.involvedObject ?? {})
      owners.set(key, owned)
      owned.catch(() => owners.delete(key))
    }
    return owned
  }
  const rv = (e: KubeObject) => (e.metadata as { resourceVersion?: string }).resourceVersion ?? ''
  const consider = () => {
    for (const [k, e] of events) {
      if (baseline?.get(k) === rv(e) || considered.get(k) === rv(e)) continue
      considered.set(k, rv(e))
      const ev = e as unknown as KubeEvent
      const refusal = refusalInEvent(ev)
      if (!refusal) continue
      const decide = (owned: boolean) => {
        if (!owned) return
        if (ev.reason !== 'FailedScheduling') return report(refusal)
        const pod = ev.involvedObject?.name ?? ''
        const known = pods.get(`${namespace}/${pod}`) as unknown as PodObject | undefined
        if (!known?.spec?.nodeName) markUnschedulable(pod, refusal)
      }
      // A failed lookup leaves the event unconsidered: the timer's next look asks again.
      void ours(ev).then(decide, () => considered.delete(k))
    }
  }
  const checkScheduling = () => {
    for (const [pod, u] of unschedulable) {
      if (scalingUp(pod)) continue
      if (Date.now() - u.since >= SCHEDULING_GRACE_MS && report(u.refusal)) return true
    }
    return false
  }
  void kube
    .waitFor(
      `/api/v1/namespaces/${namespace}/events`,
      {},
      (items) => {
        events = items
        if (!baseline) {
          baseline = new Map([...items].map(([k, e]) => [k, rv(e)]))
          return false
        }
        consider()
        return checkScheduling()
      },
      controller.signal,
    )
    .catch(() => undefined)

  const firstSeen = new Map<string, number>()
  const since = (key: string) => {
    const t = firstSeen.get(key)
    if (t === undefined) {
      firstSeen.set(key, Date.now())
      return 0
    }
    return Date.now() - t
  }
  const progress = new Map<string, string>()
  // A container's restart count when every other pod of the release was first seen Ready.
  const peersReadyAt = new Map<string, number>()
  const isReady = (p: PodObject) =>
    p.status?.phase === 'Succeeded' || (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false)
  const check = () => {
    const live = new Set<string>()
    const all = [...pods.values()] as unknown as PodObject[]
    for (const p of pods.values()) {
      const pod = p as unknown as PodObject
      const peersReady = all.every((o) => o.metadata.name === pod.metadata.name || isReady(o))
      const restartsWhilePeersReady = (container: string, restarts: number) => {
        const key = `${pod.metadata.name}/${container}`
        if (!peersReady) return restarts - (peersReadyAt.get(key) ?? restarts)
        if (!peersReadyAt.has(key)) peersReadyAt.set(key, restarts)
        return restarts - peersReadyAt.get(key)!
      }
      for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
        const w = c.state?.waiting?.reason
        if (!w) continue
        const keys = [
          `${pod.metadata.name}/${c.name}/${w}`,
          ...(/ErrImagePull|ImagePullBackOff/.test(w) ? [`${pod.metadata.name}/${c.name}/pull`] : []),
        ]
        for (const key of keys) {
          live.add(key)
          since(key)
        }
      }
      if (report(refusalInPod(pod, since, restartsWhilePeersReady))) return true
    }
    // A state that went away starts its grace over when it comes back.
    for (const key of firstSeen.keys()) if (!live.has(key)) firstSeen.delete(key)
    return false
  }
  void kube
    .waitFor(
      `/api/v1/namespaces/${namespace}/pods`,
      { labelSelector: `app.kubernetes.io/instance=${release}` },
      (items) => {
        pods = items
        for (const p of items.values()) {
          const pod = p as unknown as PodObject
          if (pod.spec?.nodeName) {
            unschedulable.delete(pod.metadata.name)
            continue
          }
          // The scheduler's verdict is on the pod too: the release's own pods need no Event,
          // which a late events list or a dropped watch could hide until its next repeat.
          const verdict = pod.status?.conditions?.find(
            (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
          )
          if (!verdict?.message) continue
          const refusal = refusalInEvent({
            metadata: { name: pod.metadata.name, namespace },
            type: 'Warning',
            reason: 'FailedScheduling',
            message: verdict.message,
            involvedObject: { kind: 'Pod', name: pod.metadata.name, namespace },
          })
          if (refusal) markUnschedulable(pod.metadata.name, refusal)
        }
        for (const p of items.values()) {
          const line = podProgress(p as unknown as PodObject)
          if (progress.get(p.metadata.name) !== line) {
            progress.set(p.metadata.name, line)
            log(`Pod ${namespace}/${p.metadata.name}: ${line}`)
          }
        }
        return check()
      },
      controller.signal,
    )
    .catch(() => undefined)
  // Graces run out without any change to watch: look again on a timer.
  const timer = setInterval(() => {
    consider()
    if (!check()) checkScheduling()
  }, 5000)
  controller.signal.addEventListener('abort', () => clearInterval(timer), { once: true })

  return { refusal, stop: () => controller.abort() }
}

const quantity = (r: Record<string, string> | undefined, k: string) => r?.[k] ?? '-'

interface NodeObject {
  metadata: { name: string; labels?: Record<string, string> }
  spec?: { taints?: Array<{ key: string; value?: string; effect: string }> }
  status?: { allocatable?: Record<string, string> }
}

const taintText = (t: { key?: string; value?: string; effect?: string; operator?: string }) =>
  `${t.key ?? '*'}${t.operator === 'Exists' ? ' (any value)' : t.value ? `=${t.value}` : ''}${t.effect ? `:${t.effect}` : ''}`

/**
 * The lines that say why no node matches a pod: its nodeSelector (and whether it has node
 * affinity) and tolerations, then each node's labels for the selected keys and its taints (at
 * most 5 nodes). Pure: table-tested.
 */
export function selectorDetail(pod: PodObject, nodes: NodeObject[] | undefined): string {
  const selector = Object.entries(pod.spec?.nodeSelector ?? {})
  const selects = selector.length ? `nodeSelector ${selector.map(([k, v]) => `${k}=${v}`).join(', ')}` : 'no nodeSelector'
  const affinity = pod.spec?.affinity?.nodeAffinity ? ', and a node affinity' : ''
  const tolerations = (pod.spec?.tolerations ?? []).filter((t) => !t.key?.startsWith('node.kubernetes.io/'))
  const tolerates = tolerations.length ? tolerations.map(taintText).join(', ') : 'no taint'
  const pods = `The pod selects: ${selects}${affinity}; it tolerates: ${tolerates}.`
  if (!nodes) return `${pods}\n(The nodes' labels and taints are not shown: the identity may not list nodes.)`
  const lines = nodes.slice(0, 5).map((n) => {
    const labels = selector.map(([k]) => `${k}=${n.metadata.labels?.[k] ?? '(none)'}`)
    const taints = (n.spec?.taints ?? []).map(taintText)
    return `${n.metadata.name}: ${labels.length ? `${labels.join(', ')}; ` : ''}taints ${taints.length ? taints.join(', ') : 'none'}`
  })
  const more = nodes.length > 5 ? ` (and ${nodes.length - 5} more)` : ''
  return `${pods}\nThe nodes: ${lines.join('; ')}${more}.`
}

/**
 * For FailedScheduling, the pod's requests and the nodes' allocatable appended to the fix (at
 * most 5 nodes listed, out of at most 100 read), or, when no node matches its selector or
 * tolerations, selectorDetail; other refusals unchanged.
 */
export async function withSchedulingDetail(kube: Kube, r: ClusterRefusal): Promise<ClusterRefusal> {
  const m = /^Pod (\S+)\/(\S+)$/.exec(r.object)
  if (r.reason !== 'FailedScheduling' || !m) return r
  try {
    const [pod, nodes] = await Promise.all([
      kube.get<PodObject>(`/api/v1/namespaces/${m[1]}/pods/${m[2]}`),
      // Nodes are cluster-wide: an identity of the release's namespace may not list them.
      kube.get<{ items: NodeObject[] }>('/api/v1/nodes?limit=100').catch(() => undefined),
    ])
    if (NO_NODE_MATCHES.test(r.clusterMessage)) {
      return new ClusterRefusal({
        object: r.object,
        reason: r.reason,
        message: r.clusterMessage,
        fix: `${r.fix}\n${selectorDetail(pod, nodes?.items)}`,
      })
    }
    const requests = (pod.spec?.containers ?? []).map(
      (c) => `${c.name}: cpu ${quantity(c.resources?.requests, 'cpu')}, memory ${quantity(c.resources?.requests, 'memory')}`,
    )
    if (!nodes)
      return new ClusterRefusal({
        object: r.object,
        reason: r.reason,
        message: r.clusterMessage,
        fix: `${r.fix}\nThe pod requests: ${requests.join('; ')}.\n(The nodes' allocatable is not shown: the identity may not list nodes.)`,
      })
    const allocatable = nodes.items
      .slice(0, 5)
      .map(
        (n) =>
          `${n.metadata.name}: cpu ${quantity(n.status?.allocatable, 'cpu')}, memory ${quantity(n.status?.allocatable, 'memory')}, pods ${quantity(n.status?.allocatable, 'pods')}`,
      )
    const more = nodes.items.length > 5 ? ` (and ${nodes.items.length - 5} more)` : ''
    return new ClusterRefusal({
      object: r.object,
      reason: r.reason,
      message: r.clusterMessage,
      fix: `${r.fix}\nThe pod requests: ${requests.join('; ')}.\nThe nodes can allocate: ${allocatable.join('; ')}${more}.`,
    })
  } catch {
    return r
  }
}
