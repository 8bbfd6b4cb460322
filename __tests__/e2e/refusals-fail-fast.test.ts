// Fail fast: a run the cluster already said can never succeed ends within a minute of the
// cause, naming it, instead of waiting out its budget. Each case in a namespace of its own,
// removed at its end.
import { describe, expect, it } from 'vitest'
import { dropNamespace, E2E, e2e, inputs, MIN, sinceFirstEvent, useLocalCluster } from './support.ts'

describe.runIf(E2E)('refusals that end the run within a minute', () => {
  useLocalCluster()

  it(
    'a namespace whose Pod Security admission refuses the pods: named before any change by the dry run of the pods',
    async () => {
      const { cluster, runner } = e2e
      await cluster.kubectl(['create', 'namespace', 'milvus-psa']).catch(() => '')
      await cluster.kubectl(['label', 'namespace', 'milvus-psa', 'pod-security.kubernetes.io/enforce=restricted', '--overwrite'])
      const r = await runner.main(inputs({ namespace: 'milvus-psa', 'release-name': 'psa', timeout: '10m' }))
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(/::error::The cluster's admission would refuse the Milvus release psa; nothing was changed/)
      expect(r.stdout).toMatch(/the pods of (Deployment|StatefulSet) milvus-psa\/\S+: .*violates PodSecurity/)
      expect(r.stdout).toMatch(/pod-security\.kubernetes\.io\/enforce=privileged/)
      expect(r.ms).toBeLessThan(MIN)
      // Nothing was installed: no release to leave pending or failed.
      expect((await cluster.helm(['list', '-n', 'milvus-psa', '-q'])).trim()).toBe('')
      await runner.post(r.state)
      await dropNamespace('milvus-psa', 'psa')
    },
    10 * MIN,
  )

  it(
    'requests no node of the runner-sized cluster can hold: fails within a minute, naming the pod, its requests and the nodes',
    async () => {
      const { runner } = e2e
      const values = 'standalone:\n  resources:\n    requests:\n      cpu: "64"\n'
      const since = Date.now()
      const r = await runner.main(inputs({ namespace: 'milvus-sched', 'release-name': 'sched', values, timeout: '10m' }))
      const lag = await sinceFirstEvent('milvus-sched', 'FailedScheduling', since)
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(/FailedScheduling: 0\/1 nodes are available: 1 Insufficient cpu/)
      expect(r.stdout).toMatch(/The pod requests: standalone: cpu 64/)
      expect(r.stdout).toMatch(/The nodes can allocate: kwok-node-0: cpu 4, memory 16Gi/)
      expect(lag).toBeLessThan(MIN)
      await runner.post(r.state)
      await dropNamespace('milvus-sched', 'sched')
    },
    10 * MIN,
  )

  it(
    'a ResourceQuota the pods exceed: fails within a minute of the refusal, naming the quota',
    async () => {
      const { cluster, runner } = e2e
      await cluster.kubectl(['create', 'namespace', 'milvus-quota']).catch(() => '')
      await cluster.kubectl(['create', 'quota', 'tiny', '-n', 'milvus-quota', '--hard=pods=1'])
      const since = Date.now()
      const r = await runner.main(inputs({ namespace: 'milvus-quota', 'release-name': 'quota', timeout: '10m' }))
      const lag = await sinceFirstEvent('milvus-quota', 'FailedCreate', since)
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(/::error::The cluster refused the Milvus release quota: .*FailedCreate: .*exceeded quota: tiny/)
      expect(r.stdout).toMatch(/A ResourceQuota in the namespace forbids the pods/)
      expect(lag).toBeLessThan(MIN)
      await runner.post(r.state)
      await dropNamespace('milvus-quota', 'quota')
    },
    10 * MIN,
  )

  it(
    'a PersistentVolumeClaim no StorageClass will bind: fails within a minute, naming the claim',
    async () => {
      const { runner } = e2e
      const values = 'etcd:\n  persistence:\n    storageClass: no-such-class\n'
      const since = Date.now()
      const r = await runner.main(inputs({ namespace: 'milvus-pvc', 'release-name': 'pvc', values, timeout: '10m' }))
      const lag = await sinceFirstEvent('milvus-pvc', 'ProvisioningFailed', since)
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(
        /::error::The cluster refused the Milvus release pvc: PersistentVolumeClaim milvus-pvc\/\S+: ProvisioningFailed: .*no-such-class/,
      )
      expect(r.stdout).toMatch(/Nothing will bind this PersistentVolumeClaim/)
      expect(lag).toBeLessThan(MIN)
      await runner.post(r.state)
      await dropNamespace('milvus-pvc', 'pvc')
    },
    10 * MIN,
  )

  it(
    'an image tag the registry does not have: fails within a minute of the first failed pull, naming the image',
    async () => {
      const { runner } = e2e
      const values = 'image:\n  all:\n    tag: does-not-exist\n'
      const since = Date.now()
      const r = await runner.main(inputs({ namespace: 'milvus-image', 'release-name': 'image', values, timeout: '10m' }))
      const lag = await sinceFirstEvent('milvus-image', 'Failed', since)
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(
        /::error::The cluster refused the Milvus release image: Pod milvus-image\/image-milvus-standalone-\S+: (ErrImagePull|ImagePullBackOff): container standalone: .*milvusdb\/milvus:does-not-exist.*not found/,
      )
      expect(r.stdout).toMatch(/The registry says this image does not exist or may not be pulled/)
      expect(lag).toBeLessThan(MIN)
      await runner.post(r.state)
      await dropNamespace('milvus-image', 'image')
    },
    10 * MIN,
  )

  it(
    'a container crash-looping while etcd and MinIO are Ready: fails within a minute of the first crash, naming the restarts',
    async () => {
      const { runner } = e2e
      const values = 'annotations:\n  local-cluster.milvus-monitoring-action/crash-loop: "true"\n'
      const since = Date.now()
      const r = await runner.main(inputs({ namespace: 'milvus-crash', 'release-name': 'crash', values, timeout: '10m' }))
      const lag = await sinceFirstEvent('milvus-crash', 'BackOff', since)
      expect(r.code).not.toBe(0)
      expect(r.stdout).toMatch(
        /::error::The cluster refused the Milvus release crash: Pod milvus-crash\/crash-milvus-standalone-\S+: CrashLoopBackOff: container standalone: back-off \d+s restarting failed container=standalone .*\(\d+ restarts, 2 of them with every other pod of the release Ready\)/,
      )
      expect(r.stdout).toMatch(/kubectl logs --previous/)
      expect(lag).toBeLessThan(MIN)
      await runner.post(r.state)
      await dropNamespace('milvus-crash', 'crash')
    },
    10 * MIN,
  )
})
