import { describe, expect, it } from 'vitest'
import { ApiError } from '../../src/cluster/kube.ts'
import { mayDiscover } from '../../src/prometheus/discovery-rbac.ts'

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
