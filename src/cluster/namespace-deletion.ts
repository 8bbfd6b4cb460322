// A namespace being deleted: when its deletion is stuck (the conditions the namespace controller
// writes), and a wait until it is gone that ends as soon as it is stuck. Both the release's
// namespace and kube-prometheus' (another run's cleanup removing it) are waited on this way.
import { setTimeout as delay } from 'node:timers/promises'
import type { Kube, KubeObject } from './kube.ts'

/**
 * How long each condition of a namespace deletion may hold before the run takes the deletion as
 * stuck: a discovery failure passes while an aggregated API starts; content and finalizers remain
 * while pods end gracefully and claims lose their protection.
 */
export const TERMINATION_GRACE_MS: Record<string, number> = {
  NamespaceDeletionDiscoveryFailure: 30_000,
  NamespaceDeletionContentFailure: 30_000,
  NamespaceFinalizersRemaining: 180_000,
  NamespaceContentRemaining: 180_000,
}

/**
 * Whether a terminating namespace's deletion is stuck, from the conditions the namespace
 * controller writes: a discovery failure (an aggregated APIService that does not answer blocks
 * every namespace deletion), content it cannot delete, or finalizers nobody removes, each true for
 * its TERMINATION_GRACE_MS. `stuck` says why and what to do; `recheckInMs` when to look again while a
 * failing condition is younger than the grace (undefined when none is failing).
 */
export function stuckTermination(ns: KubeObject, now: number): { stuck?: string; recheckInMs?: number } {
  const conditions =
    ((ns.status ?? {}) as { conditions?: Array<{ type: string; status: string; message?: string; lastTransitionTime?: string }> })
      .conditions ?? []
  const fixes: Record<string, string> = {
    NamespaceDeletionDiscoveryFailure:
      'an APIService that does not answer blocks every namespace deletion: find it with kubectl get apiservices (AVAILABLE False), then repair or delete it',
    NamespaceDeletionContentFailure: 'some content cannot be deleted: read the message, or use another namespace',
    NamespaceFinalizersRemaining:
      'a finalizer is not being removed (its controller is gone?): remove it from the objects named, or use another namespace',
    NamespaceContentRemaining: 'objects with finalizers remain: remove the finalizers from the objects named, or use another namespace',
  }
  let recheck: number | undefined
  // Every condition past its grace, each with its fix: content remaining and the finalizers that
  // hold it come together, and only the second names the finalizer.
  const stuck: string[] = []
  for (const c of conditions) {
    const fix = fixes[c.type]
    const grace = TERMINATION_GRACE_MS[c.type] ?? 0
    if (!fix || c.status !== 'True') continue
    const age = now - Date.parse(c.lastTransitionTime ?? '')
    if (!(age < grace))
      stuck.push(`${c.message ?? c.type} (${c.type} for ${Number.isFinite(age) ? Math.round(age / 1000) : '?'} s); ${fix}`)
    else recheck = Math.min(recheck ?? Infinity, grace - age + 100)
  }
  if (stuck.length) return { stuck: stuck.join('\n') }
  return recheck === undefined ? {} : { recheckInMs: recheck }
}

export function namespaceStuckError(namespace: string, stuck: string, said?: string): Error {
  return new Error(`Namespace ${namespace} is being deleted, but the deletion cannot finish${said ? `; ${said}` : ''}:\n${stuck}`)
}

/**
 * Resolves once namespace `name` (terminating) is gone, watching it. Rejects, naming the
 * conditions and the fix, once its deletion is stuck (stuckTermination: a failing condition past
 * its grace, looked at again when the grace ends), and when `signal` aborts.
 */
export async function namespaceGone(kube: Pick<Kube, 'waitFor'>, name: string, signal: AbortSignal): Promise<void> {
  const query = { fieldSelector: `metadata.name=${name}` }
  const key = `/${name}` // waitFor's key: namespace/name, no namespace for a Namespace
  const failingOrGone = (items: Map<string, KubeObject>) => {
    const ns = items.get(key)
    const check = ns && stuckTermination(ns, Date.now())
    return !check || check.stuck !== undefined || check.recheckInMs !== undefined
  }
  for (;;) {
    const ns = (await kube.waitFor('/api/v1/namespaces', query, failingOrGone, signal)).get(key)
    if (!ns) return
    const check = stuckTermination(ns, Date.now())
    if (check.stuck) throw namespaceStuckError(name, check.stuck)
    // A failing condition within its grace: gone meanwhile, or looked at again once the grace ends.
    const stop = new AbortController()
    const gone = kube.waitFor('/api/v1/namespaces', query, (items) => !items.has(key), AbortSignal.any([signal, stop.signal]))
    const ended = await Promise.race([gone.then(() => true), delay(check.recheckInMs!, false, { signal })]).finally(() => stop.abort())
    gone.catch(() => undefined)
    if (ended) return
  }
}
