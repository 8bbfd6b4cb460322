// Objects the chart would create that exist already and are not the release's: helm refuses to
// adopt them ("invalid ownership metadata") only after the namespace, the holds and the RBAC are
// in place. Found before any change, each named with who owns it and the ways on.
import * as core from '@actions/core'
import { ApiError, type Kube, type KubeObject } from '../cluster/kube.ts'
import { collectionPath, resourceOf } from './admission.ts'

/** The fields of an existing object's metadata this module reads. */
export interface ExistingMetadata {
  name: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }>
  managedFields?: Array<{ manager?: string; operation?: string }>
}

/** Who an existing object belongs to, as far as its metadata says (for a message). */
export function ownerOf(m: ExistingMetadata): string {
  const helmRelease = m.annotations?.['meta.helm.sh/release-name']
  if (helmRelease) return `Helm release ${m.annotations?.['meta.helm.sh/release-namespace'] ?? '?'}/${helmRelease}`
  const controller = m.ownerReferences?.find((o) => o.controller) ?? m.ownerReferences?.[0]
  if (controller) return `${controller.kind} ${controller.name} (its owner reference)`
  const managedBy = m.labels?.['app.kubernetes.io/managed-by']
  if (managedBy) return `${managedBy} (its app.kubernetes.io/managed-by label)`
  const managers = [...new Set((m.managedFields ?? []).map((f) => f.manager).filter((x): x is string => !!x))]
  if (managers.length) return `no release; written by ${managers.join(', ')}`
  return 'no release'
}

/**
 * Whether helm would adopt an existing object into the release: its release annotations name
 * this release (helm 3 checks meta.helm.sh/release-name and release-namespace, and the
 * app.kubernetes.io/managed-by=Helm label). Pure: table-tested.
 */
export function ownedByRelease(m: ExistingMetadata, release: string, namespace: string): boolean {
  return (
    m.annotations?.['meta.helm.sh/release-name'] === release &&
    m.annotations?.['meta.helm.sh/release-namespace'] === namespace &&
    m.labels?.['app.kubernetes.io/managed-by'] === 'Helm'
  )
}

/** The line for an object the release would take from someone else: what, whose, and the fix. */
export function foreignObjectProblem(kind: string, namespace: string, m: ExistingMetadata, release: string): string {
  const cli = `${resourceOf(kind)} ${m.name} -n ${namespace}`
  return (
    `${kind} ${namespace}/${m.name} exists and is not release ${release}'s (owner: ${ownerOf(m)}); helm would refuse it (invalid ownership metadata). ` +
    `Use another release-name (the chart names its objects after it), or delete it (kubectl delete ${cli}) if nothing needs it, ` +
    `or, to hand it to this release, kubectl annotate ${cli} meta.helm.sh/release-name=${release} meta.helm.sh/release-namespace=${namespace} and kubectl label ${cli} app.kubernetes.io/managed-by=Helm.`
  )
}

/**
 * Reads each rendered namespaced object (when the namespace exists) and reports those that exist
 * and that helm would not adopt. A read the identity may not make (403) is skipped: helm's own
 * error still names it.
 */
export async function checkForeignObjects(kube: Kube, c: { release: string; namespace: string; objects: KubeObject[] }): Promise<void> {
  if (!(await kube.find(`/api/v1/namespaces/${c.namespace}`).catch(() => undefined))) return
  const problems: string[] = []
  for (const o of c.objects) {
    if (!o.apiVersion || !o.kind) continue
    const path = `${collectionPath(o.apiVersion, o.kind, c.namespace)}/${o.metadata.name}`
    const existing = await kube.find<{ metadata: ExistingMetadata }>(path).catch((e: unknown) => {
      if (e instanceof ApiError && (e.status === 403 || e.status === 404)) return undefined
      throw e
    })
    if (existing && !ownedByRelease(existing.metadata, c.release, c.namespace)) {
      problems.push(foreignObjectProblem(o.kind, c.namespace, existing.metadata, c.release))
    }
  }
  if (problems.length) {
    throw new Error(
      `The Milvus release ${c.release} would take objects that are someone else's; nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    )
  }
  core.info(`No object of release ${c.release} exists outside it`)
}
