import { describe, expect, it } from 'vitest'
import { ApiError } from '../../src/cluster/kube.ts'
import { deniedDiscovery, mayDiscover, refuseUndiscoverable, serviceMonitorDiscovery } from '../../src/prometheus/discovery-rbac.ts'
import type { StackRun } from '../../src/context.ts'
import { serviceDiscoveryRoleIn } from '../../src/prometheus/kube-prometheus.ts'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

type Review = {
  metadata: { namespace: string }
  spec: { user: string; resourceAttributes: { verb: string; group: string; resource: string; namespace: string } }
}

/** A kube whose LocalSubjectAccessReviews answer `allowed(review)`, recording each. */
function fakeKube(allowed: (r: Review) => boolean | 'forbidden') {
  const asked: Array<{ path: string; review: Review }> = []
  return {
    asked,
    kube: {
      request: async <T>(_method: string, path: string, body?: unknown): Promise<T> => {
        const review = body as Review
        asked.push({ path, review })
        const answer = allowed(review)
        if (answer === 'forbidden') throw new ApiError('POST', path, 403, { message: 'forbidden' })
        return { status: { allowed: answer } } as T
      },
    },
  }
}

const sa = { namespace: 'kps', name: 'kps-prometheus' }

describe('whether the Prometheus may already discover in the namespace', () => {
  it('yes when every list and watch is allowed, asked for its ServiceAccount in that namespace', async () => {
    const { kube, asked } = fakeKube(() => true)
    expect(await mayDiscover(kube, 'milvus', sa)).toBe(true)
    expect(new Set(asked.map((a) => a.path))).toEqual(
      new Set(['/apis/authorization.k8s.io/v1/namespaces/milvus/localsubjectaccessreviews']),
    )
    expect(asked.map((a) => `${a.review.spec.resourceAttributes.verb} ${a.review.spec.resourceAttributes.resource}`).sort()).toEqual([
      'list endpoints',
      'list endpointslices',
      'list pods',
      'list services',
      'watch endpoints',
      'watch endpointslices',
      'watch pods',
      'watch services',
    ])
    expect(
      asked.every(
        (a) => a.review.spec.user === 'system:serviceaccount:kps:kps-prometheus' && a.review.spec.resourceAttributes.namespace === 'milvus',
      ),
    ).toBe(true)
  })

  it('no when one is denied', async () => {
    const { kube } = fakeKube((r) => r.spec.resourceAttributes.resource !== 'endpointslices')
    expect(await mayDiscover(kube, 'milvus', sa)).toBe(false)
  })

  it('no when the run may not ask (403): the Role is added as without the question', async () => {
    const { kube } = fakeKube(() => 'forbidden')
    expect(await mayDiscover(kube, 'milvus', sa)).toBe(false)
  })
})

describe('what discovering a ServiceMonitor takes', () => {
  it('Services, Pods and Endpoints; EndpointSlices instead with serviceDiscoveryRole EndpointSlice', () => {
    expect(serviceMonitorDiscovery(undefined).map(([, r]) => r)).toEqual(['services', 'endpoints', 'pods'])
    expect(serviceMonitorDiscovery('Endpoints').map(([, r]) => r)).toEqual(['services', 'endpoints', 'pods'])
    expect(serviceMonitorDiscovery('EndpointSlice')).toEqual([
      ['', 'services'],
      ['discovery.k8s.io', 'endpointslices'],
      ['', 'pods'],
    ])
  })

  it('names what is denied, in the order asked; undefined when the run may not ask', async () => {
    const { kube } = fakeKube((r) => r.spec.resourceAttributes.resource !== 'endpointslices' && r.spec.resourceAttributes.verb !== 'watch')
    expect(await deniedDiscovery(kube, 'milvus', sa, serviceMonitorDiscovery('EndpointSlice'))).toEqual([
      'watch services',
      'list endpointslices.discovery.k8s.io',
      'watch endpointslices.discovery.k8s.io',
      'watch pods',
    ])
    expect(await deniedDiscovery(fakeKube(() => 'forbidden').kube, 'milvus', sa)).toBeUndefined()
  })

  it("reads kube-prometheus' serviceDiscoveryRole from its Prometheus manifest", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kp-manifests-'))
    expect(serviceDiscoveryRoleIn(dir)).toBeUndefined()
    writeFileSync(join(dir, 'prometheus-prometheus.yaml'), 'apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nspec:\n  replicas: 2\n')
    expect(serviceDiscoveryRoleIn(dir)).toBeUndefined()
    writeFileSync(join(dir, 'prometheus-prometheus.yaml'), 'kind: Prometheus\nspec:\n  serviceDiscoveryRole: EndpointSlice\n')
    expect(serviceDiscoveryRoleIn(dir)).toBe('EndpointSlice')
  })
})

describe('prometheus-rbac false: a Prometheus that may not discover is refused before any change', () => {
  const run = (kube: unknown, inputs: { namespace: string; prometheusRbac: boolean }, kubePrometheus = false) =>
    ({ kube, inputs, stack: { namespace: 'kps', name: 'kps', serviceAccount: 'kps-prometheus', kubePrometheus } }) as unknown as StackRun

  it('names what its ServiceAccount may not read, and the two ways on', async () => {
    const { kube } = fakeKube((r) => r.spec.resourceAttributes.resource === 'pods')
    await expect(refuseUndiscoverable(run(kube, { namespace: 'milvus', prometheusRbac: false }), 'ServiceMonitor')).rejects.toThrow(
      /^Prometheus kps\/kps cannot discover the Milvus targets: its ServiceAccount kps\/kps-prometheus may not list services, watch services, list endpoints, watch endpoints in namespace milvus.*Nothing was changed.*or set prometheus-rbac: true\.$/,
    )
  })

  it('a PodMonitor needs the Pods alone', async () => {
    const { kube, asked } = fakeKube((r) => r.spec.resourceAttributes.resource === 'pods')
    await refuseUndiscoverable(run(kube, { namespace: 'milvus', prometheusRbac: false }), 'PodMonitor')
    expect(asked.map((a) => a.review.spec.resourceAttributes.resource)).toEqual(['pods', 'pods'])
  })

  it('asks nothing with prometheus-rbac true, nor for kube-prometheus in the namespaces its own Roles cover', async () => {
    const { kube, asked } = fakeKube(() => false)
    await refuseUndiscoverable(run(kube, { namespace: 'milvus', prometheusRbac: true }), 'ServiceMonitor')
    await refuseUndiscoverable(run(kube, { namespace: 'monitoring', prometheusRbac: false }, true), 'ServiceMonitor')
    expect(asked).toEqual([])
  })

  it('goes on when the run may not ask', async () => {
    const { kube } = fakeKube(() => 'forbidden')
    await expect(refuseUndiscoverable(run(kube, { namespace: 'milvus', prometheusRbac: false }), 'ServiceMonitor')).resolves.toBeUndefined()
  })
})
