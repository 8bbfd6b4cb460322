import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, type Kube, type KubeObject } from '../../src/cluster/kube.ts'
import {
  CRASH_LOOP_RESTARTS,
  CRASH_LOOP_RESTARTS_PEERS_READY,
  ClusterRefusal,
  belongsToRelease,
  SCHEDULING_GRACE_MS,
  watchRelease,
  withSchedulingDetail,
  IMAGE_PULL_GRACE_MS,
  podProgress,
  refusalInEvent,
  refusalInPod,
  selectorDetail,
  type KubeEvent,
  type PodObject,
} from '../../src/milvus/release-watch.ts'

const event = (reason: string, message: string, extra: Partial<KubeEvent> = {}): KubeEvent => ({
  metadata: { name: 'e', namespace: 'milvus' },
  type: 'Warning',
  reason,
  message,
  involvedObject: { kind: 'StatefulSet', name: 'r-etcd', namespace: 'milvus' },
  ...extra,
})

describe('refusals in Events', () => {
  it.each([
    [
      'PodSecurity',
      event(
        'FailedCreate',
        'create Pod r-etcd-0 in StatefulSet r-etcd failed error: pods "r-etcd-0" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false',
      ),
      /PodSecurity.*kubectl label namespace milvus pod-security/s,
    ],
    [
      'a label over 63 characters',
      event(
        'FailedCreate',
        'create Pod x-0 in StatefulSet x failed error: Pod "x-0" is invalid: metadata.labels: Invalid value: "x-7c9d8b": must be no more than 63 characters',
      ),
      /shorter release-name/,
    ],
    [
      'quota',
      event(
        'FailedCreate',
        'Error creating: pods "r-1" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=0, limited: cpu=1',
      ),
      /ResourceQuota/,
    ],
    [
      'a ServiceAccount missing for long',
      event(
        'FailedCreate',
        'Error creating: pods "r-" is forbidden: error looking up service account milvus/r: serviceaccount "r" not found',
        { count: 6 },
      ),
      /ServiceAccount/,
    ],
    [
      'resources on every node',
      event(
        'FailedScheduling',
        '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
        { involvedObject: { kind: 'Pod', name: 'r-0', namespace: 'milvus' } },
      ),
      /No node has room/,
    ],
    [
      'a nodeSelector no node matches',
      event(
        'FailedScheduling',
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
        { involvedObject: { kind: 'Pod', name: 'r-0', namespace: 'milvus' } },
      ),
      /No node matches the pod's nodeSelector/,
    ],
    [
      'a taint the pod does not tolerate',
      event('FailedScheduling', '0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}.', {
        involvedObject: { kind: 'Pod', name: 'r-0', namespace: 'milvus' },
      }),
      /tolerates the nodes' taints/,
    ],
    [
      'a taint, in the words of schedulers before v1.25',
      event('FailedScheduling', "0/3 nodes are available: 3 node(s) had taint {dedicated: infra}, that the pod didn't tolerate.", {
        involvedObject: { kind: 'Pod', name: 'r-0', namespace: 'milvus' },
      }),
      /tolerates the nodes' taints/,
    ],
    [
      'an admission webhook that denies the pods',
      event('FailedCreate', 'Error creating: admission webhook "deny.example.com" denied the request: no pods here'),
      /webhook "deny.example.com" refuses the pods/,
    ],
    [
      'an admission webhook that has not answered for long',
      event('FailedCreate', 'Error creating: Internal error occurred: failed calling webhook "gone.example.com": service "x/y" not found', {
        count: 3,
      }),
      /webhook "gone.example.com" does not answer/,
    ],
    [
      'a ValidatingAdmissionPolicy',
      event(
        'FailedCreate',
        "Error creating: pods \"p\" is forbidden: ValidatingAdmissionPolicy 'no-root' with binding 'b' denied request: x",
      ),
      /ValidatingAdmissionPolicy no-root \(binding b\)/,
    ],
    [
      'a LimitRange',
      event('FailedCreate', 'Error creating: pods "p" is forbidden: minimum cpu usage per Container is 2, but request is 100m'),
      /LimitRange/,
    ],
    [
      'a claim no StorageClass binds',
      event('FailedBinding', 'no persistent volumes available for this claim and no storage class is set', {
        involvedObject: { kind: 'PersistentVolumeClaim', name: 'data', namespace: 'milvus' },
      }),
      /default StorageClass/,
    ],
  ])('%s is fatal, naming the object and the fix', (_, e, fix) => {
    const r = refusalInEvent(e)
    expect(r).toBeDefined()
    expect(r!.object).toBe(`${e.involvedObject!.kind} milvus/${e.involvedObject!.name}`)
    expect(r!.clusterMessage).toBe(e.message)
    expect(r!.message).toMatch(fix)
  })

  it.each([
    ['a Normal event', event('FailedCreate', 'violates PodSecurity', { type: 'Normal' })],
    [
      'a ServiceAccount the chart creates a moment later',
      event('FailedCreate', 'error looking up service account milvus/r: serviceaccount "r" not found', { count: 1 }),
    ],
    [
      'a conflict the controller retries',
      event(
        'FailedCreate',
        'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again',
      ),
    ],
    [
      'a claim the controller created a moment ago (its cache is behind)',
      event(
        'FailedCreate',
        'create Pod r-etcd-0 in StatefulSet r-etcd failed error: failed to create PVC data-r-etcd-0: persistentvolumeclaims "data-r-etcd-0" already exists',
      ),
    ],
    [
      'an API server briefly unavailable',
      event('FailedCreate', 'Error creating: the server is currently unable to handle the request (post pods)'),
    ],
    [
      'an API server that timed out',
      event('FailedCreate', 'Error creating: Timeout: request did not complete within requested timeout - context deadline exceeded'),
    ],
    ['an internal error', event('FailedCreate', 'Error creating: Internal error occurred: resource quota evaluation timed out')],
    ['throttling', event('FailedCreate', 'Error creating: the server has received too many requests and has asked us to try again later')],
    [
      'an unbound claim the binder is still working on',
      event('FailedScheduling', '0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found'),
    ],
    ['an event of another kind', event('BackOff', 'Back-off restarting failed container')],
    [
      'an admission webhook that has just failed to answer',
      event('FailedCreate', 'Error creating: Internal error occurred: failed calling webhook "w": connection refused', { count: 1 }),
    ],
  ])('%s is not', (_, e) => {
    expect(refusalInEvent(e)).toBeUndefined()
  })
})

const pod = (waiting: string, restartCount = 0, message = 'details'): PodObject => ({
  metadata: { name: 'r-milvus-standalone-1', namespace: 'milvus' },
  spec: { containers: [{ name: 'standalone' }] },
  status: {
    phase: 'Pending',
    containerStatuses: [{ name: 'standalone', restartCount, ready: false, state: { waiting: { reason: waiting, message } } }],
  },
})

describe('refusals in Pods', () => {
  it('an image that cannot be pulled for a reason that may pass: waited on for the grace, then fatal', () => {
    expect(refusalInPod(pod('ImagePullBackOff'), () => IMAGE_PULL_GRACE_MS - 1)).toBeUndefined()
    const timeout =
      'rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/milvusdb/milvus:v2.6.15": dial tcp 104.16.0.1:443: i/o timeout'
    expect(refusalInPod(pod('ErrImagePull', 0, timeout), () => IMAGE_PULL_GRACE_MS - 1)).toBeUndefined()
    expect(refusalInPod(pod('ErrImagePull', 0, 'toomanyrequests: You have reached your pull rate limit'), () => 0)).toBeUndefined()
    const r = refusalInPod(pod('ImagePullBackOff', 0, 'Back-off pulling image "milvusdb/milvus:nope"'), () => IMAGE_PULL_GRACE_MS)
    expect(r?.message).toMatch(
      /Pod milvus\/r-milvus-standalone-1: ImagePullBackOff: container standalone: Back-off pulling image "milvusdb\/milvus:nope"/,
    )
  })

  it.each([
    [
      'containerd: the tag does not exist',
      'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/milvusdb/milvus:nope": failed to resolve reference "docker.io/milvusdb/milvus:nope": docker.io/milvusdb/milvus:nope: not found',
    ],
    [
      'a registry: manifest unknown',
      'failed to resolve reference "quay.io/x/y:z": unexpected status from HEAD request: 404 Not Found: manifest unknown',
    ],
    [
      'Docker Hub: no such repository',
      'pull access denied, repository does not exist or may require authorization: server message: insufficient_scope',
    ],
    ['a private registry without credentials', 'failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized'],
  ])('an image the registry refuses (%s) is fatal at once, in both pull states', (_, message) => {
    for (const state of ['ErrImagePull', 'ImagePullBackOff']) {
      const r = refusalInPod(pod(state, 0, message), () => 0)
      expect(r?.reason).toBe(state)
      expect(r?.fix).toMatch(/does not exist or may not be pulled: fix the image repository and tag/)
    }
  })

  it('a malformed image reference is fatal at once', () => {
    expect(refusalInPod(pod('InvalidImageName'), () => 0)?.reason).toBe('InvalidImageName')
  })

  it(`a crash loop: up to ${CRASH_LOOP_RESTARTS} restarts are waited on (Milvus restarts while etcd and MinIO start)`, () => {
    expect(refusalInPod(pod('CrashLoopBackOff', CRASH_LOOP_RESTARTS), () => 0)).toBeUndefined()
    expect(refusalInPod(pod('CrashLoopBackOff', CRASH_LOOP_RESTARTS + 1), () => 0)?.message).toMatch(/6 restarts/)
  })

  it(`a crash loop once every other pod is Ready: fatal at the ${CRASH_LOOP_RESTARTS_PEERS_READY}nd restart after that`, () => {
    const after = (n: number) => () => n
    expect(refusalInPod(pod('CrashLoopBackOff', 3), () => 0, after(CRASH_LOOP_RESTARTS_PEERS_READY - 1))).toBeUndefined()
    const r = refusalInPod(pod('CrashLoopBackOff', 3), () => 0, after(CRASH_LOOP_RESTARTS_PEERS_READY))
    expect(r?.message).toMatch(/\(3 restarts, 2 of them with every other pod of the release Ready\)/)
    // Running again between crashes is not a refusal, whatever the count.
    expect(refusalInPod(pod('ContainerCreating', 9), () => 0, after(9))).toBeUndefined()
  })

  it('a container still creating is progress, not a refusal', () => {
    expect(refusalInPod(pod('ContainerCreating'), () => 10 * 60_000)).toBeUndefined()
  })

  it('progress lines say phase, readiness and what a container waits on', () => {
    expect(podProgress(pod('ContainerCreating'))).toBe('Pending, 0/1 ready (ContainerCreating)')
    expect(
      podProgress({
        metadata: { name: 'p' },
        spec: { containers: [{ name: 'a' }] },
        status: { phase: 'Running', containerStatuses: [{ name: 'a', ready: true, state: { running: {} } }] },
      }),
    ).toBe('Running, 1/1 ready')
    expect(
      podProgress({
        metadata: { name: 'p' },
        spec: { containers: [{ name: 'a' }] },
        status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False' }] },
      }),
    ).toBe('Pending, 0/1 ready (unschedulable)')
  })
})

describe('whose Events end the run', () => {
  const objects: Record<string, { metadata: Record<string, unknown> }> = {
    '/apis/apps/v1/namespaces/milvus/statefulsets/r-etcd': { metadata: { annotations: { 'meta.helm.sh/release-name': 'r' } } },
    '/apis/apps/v1/namespaces/milvus/statefulsets/r-minio': { metadata: { labels: { release: 'r' } } },
    '/apis/apps/v1/namespaces/milvus/replicasets/r-milvus-standalone-5d8': {
      metadata: { ownerReferences: [{ kind: 'Deployment', name: 'r-milvus-standalone', controller: true }] },
    },
    '/apis/apps/v1/namespaces/milvus/deployments/r-milvus-standalone': { metadata: { annotations: { 'meta.helm.sh/release-name': 'r' } } },
    '/apis/apps/v1/namespaces/milvus/replicasets/web-7f9': {
      metadata: {
        labels: { 'app.kubernetes.io/instance': 'web' },
        ownerReferences: [{ kind: 'Deployment', name: 'web', controller: true }],
      },
    },
    '/apis/apps/v1/namespaces/milvus/deployments/web': { metadata: { annotations: { 'meta.helm.sh/release-name': 'web' } } },
    '/api/v1/namespaces/milvus/persistentvolumeclaims/data-r-etcd-0': { metadata: { labels: { 'app.kubernetes.io/instance': 'r' } } },
  }
  const kube = { find: async (path: string) => objects[path] } as unknown as Pick<Kube, 'find'>

  it.each([
    ["the release's StatefulSet (Helm's annotation)", 'StatefulSet', 'r-etcd', true],
    ["a subchart's StatefulSet labelled release=", 'StatefulSet', 'r-minio', true],
    ["a ReplicaSet of the release's Deployment (owner chain)", 'ReplicaSet', 'r-milvus-standalone-5d8', true],
    ["a claim from the release's claim template", 'PersistentVolumeClaim', 'data-r-etcd-0', true],
    ["another release's ReplicaSet in the same namespace", 'ReplicaSet', 'web-7f9', false],
    ['an object already gone', 'Pod', 'r-milvus-standalone-5d8-x', false],
    ['a kind no release makes', 'ConfigMap', 'r-config', false],
  ])('%s: %s/%s -> %s', async (_, kind, name, want) => {
    expect(await belongsToRelease(kube, 'milvus', 'r', { kind, name })).toBe(want)
  })

  it("another workload's quota refusal in the namespace does not end the run; the release's own does", async () => {
    let emit: (items: Map<string, KubeObject>) => boolean = () => false
    const fake = {
      waitFor: (path: string, _q: unknown, done: (items: Map<string, KubeObject>) => boolean, signal: AbortSignal) =>
        new Promise<Map<string, KubeObject>>((_resolve, reject) => {
          if (path.endsWith('/events')) emit = done
          signal.addEventListener('abort', () => reject(new Error('aborted')))
        }),
      get: () => Promise.reject(new Error('no detail in this test')),
      find: kube.find,
    } as unknown as Kube
    const quota = (name: string, kind: string, object: string): KubeObject =>
      ({
        ...event(
          'FailedCreate',
          'Error creating: pods "x" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=0, limited: cpu=1',
          { involvedObject: { kind, name: object, namespace: 'milvus' } },
        ),
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: 'milvus', resourceVersion: name },
      }) as unknown as KubeObject
    const w = watchRelease(fake, 'milvus', 'r', () => undefined)
    let refused: ClusterRefusal | undefined
    void w.refusal.then((r) => (refused = r))
    emit(new Map())
    const theirs = quota('e1', 'ReplicaSet', 'web-7f9')
    emit(new Map([['milvus/e1', theirs]]))
    await new Promise((r) => setTimeout(r, 20))
    expect(refused).toBeUndefined()
    const mine = quota('e2', 'ReplicaSet', 'r-milvus-standalone-5d8')
    emit(
      new Map([
        ['milvus/e1', theirs],
        ['milvus/e2', mine],
      ]),
    )
    await new Promise((r) => setTimeout(r, 20))
    expect(refused?.object).toBe('ReplicaSet milvus/r-milvus-standalone-5d8')
    w.stop()
  })
})

describe('watchRelease: unschedulable pods', () => {
  const scheduling = (pod: string, rv: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${pod}.1`, namespace: 'milvus', resourceVersion: rv },
    type: 'Warning',
    reason: 'FailedScheduling',
    message: '0/1 nodes are available: 1 Insufficient cpu.',
    involvedObject: { kind: 'Pod', name: pod, namespace: 'milvus' },
  })
  const scaleUp = (pod: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${pod}.2`, namespace: 'milvus', resourceVersion: '9' },
    type: 'Normal',
    reason: 'TriggeredScaleUp',
    message: 'pod triggered scale-up',
    involvedObject: { kind: 'Pod', name: pod, namespace: 'milvus' },
  })

  /** A Kube whose events collection goes through `steps` (the first is the baseline list); `objects` by path for find(). */
  function fakeKube(
    steps: KubeObject[][],
    objects: Record<string, unknown> = {
      '/api/v1/namespaces/milvus/pods/r-0': { metadata: { labels: { 'app.kubernetes.io/instance': 'r' } } },
    },
  ) {
    let emit: (items: Map<string, KubeObject>) => boolean = () => false
    let emitPods: (items: Map<string, KubeObject>) => boolean = () => false
    const kube = {
      waitFor: (path: string, _q: unknown, done: (items: Map<string, KubeObject>) => boolean, signal: AbortSignal) =>
        new Promise<Map<string, KubeObject>>((_resolve, reject) => {
          if (path.endsWith('/events')) emit = done
          else emitPods = done
          signal.addEventListener('abort', () => reject(new Error('aborted')))
        }),
      get: () => Promise.reject(new Error('no detail in this test')),
      find: async (path: string) => {
        const o = objects[path]
        if (o instanceof Error) throw o
        return o
      },
    }
    const step = (i: number) => emit(new Map(steps[i]!.map((e) => [`milvus/${e.metadata.name}`, e])))
    const podsAre = (...list: PodObject[]) => emitPods(new Map(list.map((p) => [`milvus/${p.metadata.name}`, p as unknown as KubeObject])))
    return { kube: kube as unknown as Kube, step, podsAre, objects }
  }
  const pending = (name: string, scheduled?: 'Unschedulable'): PodObject => ({
    metadata: { name, namespace: 'milvus' },
    spec: {},
    status: {
      phase: 'Pending',
      conditions: scheduled
        ? [{ type: 'PodScheduled', status: 'False', reason: scheduled, message: '0/1 nodes are available: 1 Insufficient cpu.' }]
        : [],
    },
  })
  const running = (name: string): PodObject => ({
    metadata: { name, namespace: 'milvus' },
    spec: { nodeName: 'node-0' },
    status: { phase: 'Running' },
  })

  /** The release watch on `kube`, with the refusal it reported so far. */
  function watching(kube: Kube) {
    const w = watchRelease(kube, 'milvus', 'r', () => undefined)
    let refused: ClusterRefusal | undefined
    void w.refusal.then((r) => (refused = r))
    return { refused: () => refused, stop: () => w.stop() }
  }

  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it(`fails after ${SCHEDULING_GRACE_MS} ms of FailedScheduling, not at the first one`, async () => {
    const { kube, step } = fakeKube([[], [scheduling('r-0', '1')]])
    const w = watching(kube)
    step(0)
    step(1)
    await vi.advanceTimersByTimeAsync(SCHEDULING_GRACE_MS - 5000)
    expect(w.refused()).toBeUndefined()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(w.refused()?.reason).toBe('FailedScheduling')
    w.stop()
  })

  it("counts the pod's own Unschedulable condition when no FailedScheduling Event is seen (a late list, a dropped watch)", async () => {
    const { kube, step, podsAre } = fakeKube([[]])
    const w = watching(kube)
    step(0)
    podsAre(pending('r-0'))
    podsAre(pending('r-0', 'Unschedulable'))
    await vi.advanceTimersByTimeAsync(SCHEDULING_GRACE_MS - 5000)
    expect(w.refused()).toBeUndefined()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(w.refused()?.reason).toBe('FailedScheduling')
    expect(w.refused()?.object).toBe('Pod milvus/r-0')
    expect(w.refused()?.clusterMessage).toMatch(/Insufficient cpu/)
    w.stop()
  })

  it('an old FailedScheduling does not bring back a pod scheduled since, when other events arrive', async () => {
    const other: KubeObject = { ...scheduling('r-1', '3'), reason: 'Pulled', type: 'Normal', message: 'pulled' }
    const { kube, step, podsAre } = fakeKube([
      [],
      [scheduling('r-0', '1')],
      [scheduling('r-0', '1'), { ...other, metadata: { ...other.metadata, name: 'x.1' } }],
    ])
    const w = watching(kube)
    step(0)
    step(1)
    await vi.advanceTimersByTimeAsync(1000)
    podsAre(running('r-0'))
    step(2)
    await vi.advanceTimersByTimeAsync(5 * SCHEDULING_GRACE_MS)
    expect(w.refused()).toBeUndefined()
    w.stop()
  })

  it('an ownership lookup that failed is asked again, not taken for "not ours"', async () => {
    const path = '/api/v1/namespaces/milvus/pods/r-0'
    const { kube, step, objects } = fakeKube([[], [scheduling('r-0', '1')]])
    const owner = objects[path]
    objects[path] = new Error('HTTP 503: the server is currently unable to handle the request')
    const w = watching(kube)
    step(0)
    step(1)
    await vi.advanceTimersByTimeAsync(1000)
    objects[path] = owner
    await vi.advanceTimersByTimeAsync(SCHEDULING_GRACE_MS + 10_000)
    expect(w.refused()?.object).toBe('Pod milvus/r-0')
    w.stop()
  })

  it('waits on a pod a cluster autoscaler scales up for', async () => {
    const { kube, step } = fakeKube([[], [scheduling('r-0', '1')], [scheduling('r-0', '1'), scaleUp('r-0')]])
    const w = watching(kube)
    step(0)
    step(1)
    step(2)
    await vi.advanceTimersByTimeAsync(5 * SCHEDULING_GRACE_MS)
    expect(w.refused()).toBeUndefined()
    w.stop()
  })
})

describe('withSchedulingDetail', () => {
  const refusal = new ClusterRefusal({
    object: 'Pod milvus/p',
    reason: 'FailedScheduling',
    message: '0/1 nodes are available',
    fix: 'Lower the requests.',
  })
  const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'milvus', resources: { requests: { cpu: '8', memory: '1Gi' } } }] } }

  it("names the nodes' allocatable where the identity may list nodes", async () => {
    const kube = {
      get: async (path: string) =>
        path.startsWith('/api/v1/nodes')
          ? { items: [{ metadata: { name: 'n1' }, status: { allocatable: { cpu: '4', memory: '8Gi', pods: '60' } } }] }
          : pod,
    } as unknown as Kube
    const r = await withSchedulingDetail(kube, refusal)
    expect(r.fix).toContain('The pod requests: milvus: cpu 8, memory 1Gi.')
    expect(r.fix).toContain('The nodes can allocate: n1: cpu 4, memory 8Gi, pods 60.')
  })

  it('keeps the pod requests and says why the nodes are missing when nodes may not be listed (403)', async () => {
    const kube = {
      get: async (path: string) => {
        if (path.startsWith('/api/v1/nodes')) throw new ApiError('GET', path, 403, { message: 'forbidden' })
        return pod
      },
    } as unknown as Kube
    const r = await withSchedulingDetail(kube, refusal)
    expect(r.fix).toContain('The pod requests: milvus: cpu 8, memory 1Gi.')
    expect(r.fix).toContain('the identity may not list nodes')
  })
})

describe('selectorDetail', () => {
  it("names the pod's selector and tolerations, and each node's labels for those keys and its taints", () => {
    const d = selectorDetail(
      {
        metadata: { name: 'p' },
        spec: {
          nodeSelector: { pool: 'gpu' },
          tolerations: [
            { key: 'node.kubernetes.io/not-ready', operator: 'Exists' },
            { key: 'team', value: 'ml', effect: 'NoSchedule' },
          ],
        },
      },
      [
        {
          metadata: { name: 'n0', labels: { pool: 'cpu' } },
          spec: { taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }] },
        },
      ],
    )
    expect(d).toBe(
      'The pod selects: nodeSelector pool=gpu; it tolerates: team=ml:NoSchedule.\nThe nodes: n0: pool=cpu; taints dedicated=infra:NoSchedule.',
    )
  })
})
