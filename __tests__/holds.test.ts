import { describe, expect, it } from 'vitest'
import { ApiError, type Kube } from '../src/cluster/kube.ts'
import {
  deleteHold,
  endReleaseHolds,
  holdRelease,
  leaseObject,
  live,
  otherHolders,
  releaseHoldName,
  renewPatch,
  type LeaseObject,
} from '../src/holds.ts'

/** An API server's leases collection, in memory: create is atomic (409 on a name taken), PUT checks resourceVersion. */
function fakeLeases(initial: Array<LeaseObject & { metadata: { resourceVersion?: string } }> = []) {
  const store = new Map(
    initial.map((l) => [l.metadata.name, { ...l, metadata: { ...l.metadata, resourceVersion: l.metadata.resourceVersion ?? '1' } }]),
  )
  let version = 10
  return {
    store,
    kube: {
      request: async (method: string, path: string, body?: unknown) => {
        const obj = body as LeaseObject & { metadata: { resourceVersion?: string } }
        if (method === 'POST') {
          if (store.has(obj.metadata.name))
            throw new ApiError('POST', path, 409, { message: `leases "${obj.metadata.name}" already exists` })
          store.set(obj.metadata.name, { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++version) } })
          return obj
        }
        if (method === 'PUT') {
          const name = path.split('/').at(-1)!
          if (store.get(name)?.metadata.resourceVersion !== obj.metadata.resourceVersion)
            throw new ApiError('PUT', path, 409, { message: 'the object has been modified' })
          store.set(name, { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++version) } })
          return obj
        }
        const name = path.split('/').at(-1)!
        const stored = store.get(name)
        if (method === 'GET') {
          if (!stored) throw new ApiError('GET', path, 404, { message: `leases "${name}" not found` })
          return stored
        }
        if (method === 'DELETE') {
          // DeleteOptions' preconditions, as the API server checks them.
          const pre = (body as { preconditions?: { uid?: string; resourceVersion?: string } } | undefined)?.preconditions
          if (stored && pre?.resourceVersion !== undefined && pre.resourceVersion !== stored.metadata.resourceVersion)
            throw new ApiError('DELETE', path, 409, { message: 'Precondition failed: ResourceVersion' })
          return void store.delete(name)
        }
        if (method === 'PATCH') {
          // A JSON patch: 'test' ops refuse it (422) unless they hold; 'replace' of /spec/renewTime.
          if (!stored) throw new ApiError('PATCH', path, 404, { message: `leases "${name}" not found` })
          const ops = body as Array<{ op: string; path: string; value: string }>
          for (const o of ops.filter((x) => x.op === 'test'))
            if (o.path !== '/spec/holderIdentity' || stored.spec?.holderIdentity !== o.value)
              throw new ApiError('PATCH', path, 422, { message: `the test for ${o.path} failed` })
          const renew = ops.find((x) => x.op === 'replace' && x.path === '/spec/renewTime')
          if (renew) stored.spec = { ...stored.spec, renewTime: renew.value }
          stored.metadata.resourceVersion = String(++version)
          return stored
        }
        throw new Error(`unexpected ${method}`)
      },
      find: async (path: string) => store.get(path.split('/').at(-1)!) as never,
    } as unknown as Pick<Kube, 'request' | 'find'>,
  }
}

describe('holds', () => {
  const now = Date.parse('2026-12-04T12:00:00Z')
  const lease = (renewTime: string, seconds: number): LeaseObject => ({
    metadata: { name: 'x' },
    spec: { holderIdentity: 'h', renewTime, leaseDurationSeconds: seconds },
  })

  it('a Lease is held while renewed within its duration', () => {
    expect(live(lease('2026-12-04T11:30:00.000000Z', 3600), now)).toBe(true)
    expect(live(lease('2026-12-04T10:00:00.000000Z', 3600), now)).toBe(false)
    expect(live({ metadata: { name: 'x' } }, now)).toBe(false)
  })

  it('other live holders are named, by holder: this run and the expired ones are not', () => {
    const leases = [
      {
        ...lease('2026-12-04T11:59:00Z', 60),
        metadata: { name: 'mine', namespace: 'monitoring' },
        spec: { holderIdentity: 'me (00000000)', renewTime: '2026-12-04T11:59:00Z', leaseDurationSeconds: 60 },
      },
      // Another run holding the same release: a Lease of this run's name, another holder.
      {
        ...lease('2026-12-04T11:59:00Z', 120),
        metadata: { name: 'mine', namespace: 'milvus' },
        spec: { holderIdentity: 'org/repo run 2 job c (ef56ab78)', renewTime: '2026-12-04T11:59:00Z', leaseDurationSeconds: 120 },
      },
      {
        ...lease('2026-12-04T11:59:00Z', 600),
        metadata: { name: 'theirs', namespace: 'monitoring' },
        spec: { holderIdentity: 'org/repo run 1 job b (ab12cd34)', renewTime: '2026-12-04T11:59:00Z', leaseDurationSeconds: 600 },
      },
      { ...lease('2026-12-03T11:59:00Z', 600), metadata: { name: 'dead', namespace: 'monitoring' } },
    ]
    expect(otherHolders(leases, 'me (00000000)', now)).toEqual([
      'org/repo run 2 job c (ef56ab78) (Lease milvus/mine)',
      'org/repo run 1 job b (ab12cd34) (Lease monitoring/theirs)',
    ])
  })

  it('writes a Lease the API accepts: MicroTime, the duration, the labels', () => {
    const l = leaseObject({ namespace: 'ns', name: 'n', holder: 'me' }, { a: 'b' }, 6 * 3600, new Date('2026-12-04T12:00:00.123Z'))
    expect(l.spec).toEqual({
      holderIdentity: 'me',
      leaseDurationSeconds: 6 * 3600,
      acquireTime: '2026-12-04T12:00:00.123000Z',
      renewTime: '2026-12-04T12:00:00.123000Z',
    })
    expect(l.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'milvus-monitoring-action', a: 'b' })
  })

  it('the release: the first run holds it, a second live run is refused naming the first, an expired hold is taken over', async () => {
    const api = fakeLeases()
    await expect(holdRelease(api.kube, 'ns', 'r', 'job a')).resolves.toMatchObject({ name: releaseHoldName('r') })
    await expect(holdRelease(api.kube, 'ns', 'r', 'job b')).rejects.toThrow(
      /held by another run of this action that is still going: job a[\s\S]*its own release-name/,
    )

    await endReleaseHolds()
    const stale = fakeLeases([
      {
        metadata: { name: releaseHoldName('r'), namespace: 'ns' },
        spec: { holderIdentity: 'a dead runner', renewTime: '2020-01-01T00:00:00.000000Z', leaseDurationSeconds: 60 },
      },
    ])
    await expect(holdRelease(stale.kube, 'ns', 'r', 'job c')).resolves.toMatchObject({ holder: 'job c' })
    expect(stale.store.get(releaseHoldName('r'))?.spec?.holderIdentity).toBe('job c')
    await endReleaseHolds()
    expect(stale.store.has(releaseHoldName('r'))).toBe(false)
  })

  it("a hold that lapsed and was taken over: its renewal and its end leave the other run's Lease as it is", async () => {
    const api = fakeLeases()
    const a = await holdRelease(api.kube, 'ns', 'r', 'job a')
    // a's renewals failed past the Lease's duration (an API server away); job b took the release over.
    const lease = api.store.get(a.name)!
    lease.spec = { ...lease.spec, renewTime: '2020-01-01T00:00:00.000000Z' }
    await holdRelease(api.kube, 'ns', 'r', 'job b')
    const b = structuredClone(api.store.get(a.name)!)
    expect(b.spec?.holderIdentity).toBe('job b')
    // a's renewal, as its timer sends it, is refused: the Lease stays b's.
    await expect(api.kube.request('PATCH', `/apis/coordination.k8s.io/v1/namespaces/ns/leases/${a.name}`, renewPatch(a))).rejects.toThrow(
      /test for \/spec\/holderIdentity failed/,
    )
    expect(api.store.get(a.name)).toEqual(b)
    // a's main step ends: b's Lease stays; b's end deletes it.
    await deleteHold(api.kube, a)
    expect(api.store.get(a.name)?.spec?.holderIdentity).toBe('job b')
    await endReleaseHolds()
    expect(api.store.has(a.name)).toBe(false)
  })

  it('renews its own hold: the patch tests the holder, then moves renewTime', () => {
    const hold = { namespace: 'ns', name: 'l', holder: 'job a' }
    expect(renewPatch(hold, new Date('2026-12-04T12:00:00Z'))).toEqual([
      { op: 'test', path: '/spec/holderIdentity', value: 'job a' },
      { op: 'replace', path: '/spec/renewTime', value: '2026-12-04T12:00:00.000000Z' },
    ])
  })
})
