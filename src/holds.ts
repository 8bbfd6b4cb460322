// Holds: what tells a live run from a dead one on a shared cluster. A run holds what it uses
// with a coordination.k8s.io Lease the API server keeps for it:
//
// - the release: one Lease per release, named for it, in the release's namespace, while the main
//   step installs it. Its create is atomic, so two jobs with the same release-name are told apart
//   in seconds, and a release left `pending-*` is recovered only when no live run holds it. It
//   lasts RELEASE_HOLD_SECONDS and the main step renews it while it runs, so a runner that died
//   stops holding it within two minutes; the main step deletes it when it ends.
// - the stack: one Lease per run in kube-prometheus' namespace, while the job uses a
//   kube-prometheus the action installs (until its post step). Another run's cleanup removes the
//   stack only when no other run holds it. It lasts STACK_HOLD_SECONDS, the longest a job runs
//   on a GitHub-hosted runner: a runner that died leaves the stack in place, never removed early.
//
// The post step deletes the run's own Leases, with or without cleanup.
import { randomUUID } from 'node:crypto'
// Type-only: the post step reads Leases with kubectl and must not load the API client.
import type { Kube } from './cluster/kube.ts'
import { HOLD_LABEL, HOLD_RELEASE_LABEL, MANAGED_BY } from './marks.ts'

export const STACK_HOLD_SECONDS = 6 * 60 * 60
export const RELEASE_HOLD_SECONDS = 120
const RENEW_MS = 30_000

export interface Hold {
  namespace: string
  name: string
  /** What holds it: the repository, workflow run and job, and a unique suffix. */
  holder: string
}

/** The fields of a Lease this module reads. */
export interface LeaseObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> }
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string }
}

/** This run's identity as a holder: what a person reading the Lease recognises. */
export function holderIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const job = [env.GITHUB_REPOSITORY, env.GITHUB_RUN_ID && `run ${env.GITHUB_RUN_ID}`, env.GITHUB_JOB && `job ${env.GITHUB_JOB}`]
    .filter(Boolean)
    .join(' ')
  return `${job || 'milvus-monitoring-action'} (${randomUUID().slice(0, 8)})`
}

/** The release's Lease name (a DNS subdomain: release names are DNS labels). */
export const releaseHoldName = (release: string): string => `milvus-monitoring-action-release-${release}`.slice(0, 253)

/** Whether a Lease is held at `now` (ms): renewed within its duration. */
export function live(lease: LeaseObject, now = Date.now()): boolean {
  const renewed = Date.parse(lease.spec?.renewTime ?? lease.spec?.acquireTime ?? '')
  const seconds = lease.spec?.leaseDurationSeconds ?? 0
  return Number.isFinite(renewed) && renewed + seconds * 1000 > now
}

/** MicroTime, as the API writes Lease times: microseconds. */
const microTime = (d: Date) => d.toISOString().replace('Z', '000Z')

export function leaseObject(
  h: Hold,
  labels: Record<string, string>,
  seconds: number,
  now = new Date(),
): LeaseObject & { apiVersion: string; kind: string } {
  const time = microTime(now)
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: h.name, namespace: h.namespace, labels: { ...MANAGED_BY, ...labels } },
    spec: { holderIdentity: h.holder, leaseDurationSeconds: seconds, acquireTime: time, renewTime: time },
  }
}

/** The API's 409 Conflict (ApiError's status). */
const conflict = (e: unknown): boolean => (e as { status?: unknown } | undefined)?.status === 409

const leasesPath = (namespace: string) => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`

/**
 * Holds the release: creates its Lease, or takes over one whose holder stopped holding it (a run
 * that died). Throws, naming the holder, when another live run holds it.
 */
export async function holdRelease(kube: Pick<Kube, 'request' | 'find'>, namespace: string, release: string, holder: string): Promise<Hold> {
  const hold: Hold = { namespace, name: releaseHoldName(release), holder }
  const body = leaseObject(hold, { [HOLD_LABEL]: 'release', [HOLD_RELEASE_LABEL]: release }, RELEASE_HOLD_SECONDS)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await kube.request('POST', leasesPath(namespace), body)
      return renewed(kube, hold)
    } catch (e) {
      if (!conflict(e)) throw e
    }
    const other = await kube.find<LeaseObject & { metadata: { resourceVersion?: string } }>(`${leasesPath(namespace)}/${hold.name}`)
    if (!other) continue // released meanwhile: create again
    if (live(other)) {
      throw new Error(
        `Helm release ${namespace}/${release} is held by another run of this action that is still going: ${other.spec?.holderIdentity ?? 'unknown'} ` +
          `(Lease ${namespace}/${hold.name}, renewed ${other.spec?.renewTime ?? '?'}). Two jobs cannot install one release at once: give each job its own release-name, or run them one after the other.`,
      )
    }
    // Expired: the run that held it is gone. Replace it, guarded by its resourceVersion (a 409:
    // another run replaced it first, so look again).
    const replaced = await kube
      .request('PUT', `${leasesPath(namespace)}/${hold.name}`, {
        ...body,
        metadata: { ...body.metadata, resourceVersion: other.metadata.resourceVersion },
      })
      .then(
        () => true,
        (e: unknown) => {
          if (conflict(e)) return false
          throw e
        },
      )
    if (replaced) return renewed(kube, hold)
  }
  throw new Error(
    `Could not hold Helm release ${namespace}/${release}: its Lease ${namespace}/${hold.name} kept changing; another run is starting with the same release-name`,
  )
}

/** Holds the stack in `namespace`: a Lease of this run's own, beside any other run's. */
export async function holdStack(kube: Pick<Kube, 'request'>, namespace: string, holder: string): Promise<Hold> {
  const hold: Hold = { namespace, name: `milvus-monitoring-action-stack-${randomUUID().slice(0, 8)}`, holder }
  await kube.request('POST', leasesPath(namespace), leaseObject(hold, { [HOLD_LABEL]: 'stack' }, STACK_HOLD_SECONDS))
  return hold
}

/** The release holds this process renews, and how to stop each. */
const renewing = new Map<Hold, { kube: Pick<Kube, 'request'>; timer: NodeJS.Timeout }>()

/**
 * A JSON patch that applies only while `hold.holder` holds the Lease: a run whose renewals failed
 * for longer than the Lease lasts may find another run holding it, and must not renew that one.
 */
export function renewPatch(hold: Hold, now = new Date()): unknown[] {
  return [
    { op: 'test', path: '/spec/holderIdentity', value: hold.holder },
    { op: 'replace', path: '/spec/renewTime', value: microTime(now) },
  ]
}

function renewed(kube: Pick<Kube, 'request'>, hold: Hold): Hold {
  const renew = () =>
    kube
      .request('PATCH', `${leasesPath(hold.namespace)}/${hold.name}`, renewPatch(hold), { contentType: 'application/json-patch+json' })
      .catch(() => undefined) // a missed renewal is retried at the next; the hold lasts four of them
  const timer = setInterval(renew, RENEW_MS)
  timer.unref()
  renewing.set(hold, { kube, timer })
  return hold
}

/**
 * Deletes the Lease of `hold` while this run holds it: read, then deleted with its UID and
 * resourceVersion as preconditions, so a Lease another run took over (this run's hold had
 * lapsed) stays with that run. Never throws.
 */
export async function deleteHold(kube: Pick<Kube, 'request'>, hold: Hold): Promise<void> {
  const path = `${leasesPath(hold.namespace)}/${hold.name}`
  const lease = await kube
    .request<LeaseObject & { metadata: { uid?: string; resourceVersion?: string } }>('GET', path)
    .catch(() => undefined)
  if (!lease || lease.spec?.holderIdentity !== hold.holder) return
  const preconditions = { uid: lease.metadata.uid, resourceVersion: lease.metadata.resourceVersion }
  await kube.request('DELETE', path, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions }).catch(() => undefined)
}

/** At the end of the main step: the release holds stop being renewed and are deleted. */
export async function endReleaseHolds(): Promise<void> {
  await Promise.all(
    [...renewing].map(async ([hold, { kube, timer }]) => {
      clearInterval(timer)
      renewing.delete(hold)
      await deleteHold(kube, hold)
    }),
  )
}

/**
 * The live holders among `leases` other than this run (`own`, its holder identity): their holder
 * identities. By holder, not by Lease name: another run holding the same release holds a Lease of
 * the same name.
 */
export function otherHolders(leases: LeaseObject[], own: string | undefined, now = Date.now()): string[] {
  return leases
    .filter((l) => (own === undefined || l.spec?.holderIdentity !== own) && live(l, now))
    .map((l) => `${l.spec?.holderIdentity ?? 'unknown'} (Lease ${l.metadata.namespace ?? ''}/${l.metadata.name})`)
}
