// kube-prometheus lets Prometheus discover targets only in default, kube-system and monitoring.
// For a Milvus namespace elsewhere, the action grants the same read access there.
import * as core from '@actions/core'
import { ApiError, type Kube, type KubeObject } from '../cluster/kube.ts'
import type { StackRun } from '../context.ts'
import { MANAGED_BY } from '../marks.ts'
import type { MonitorKind } from '../types.ts'
import { refOf } from './stack.ts'

export const DISCOVERABLE_NAMESPACES = ['default', 'kube-system', 'monitoring']

/**
 * Whether the run adds the discovery Role and RoleBinding in `namespace`: when prometheus-rbac
 * is true, except, for kube-prometheus' Prometheus (`kubePrometheus`), in the namespaces its own
 * RBAC already covers. Another Prometheus' grants are unknown: it gets them everywhere.
 */
export function needsRbac(namespace: string, prometheusRbac: boolean, kubePrometheus = true): boolean {
  return prometheusRbac && !(kubePrometheus && DISCOVERABLE_NAMESPACES.includes(namespace))
}

export function discoveryRbac(namespace: string, sa: { namespace: string; name: string }): [KubeObject, KubeObject] {
  const name = `${sa.name}-milvus-discovery`
  const metadata = { name, namespace, labels: { ...MANAGED_BY } }
  const role: KubeObject = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata,
    rules: [
      { apiGroups: [''], resources: ['services', 'endpoints', 'pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
    ],
  }
  const binding: KubeObject = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace }],
  }
  return [role, binding]
}

/** What the discovery Role grants, as (group, resource) pairs; each needs list and watch. */
const DISCOVERED = [
  ['', 'services'],
  ['', 'endpoints'],
  ['', 'pods'],
  ['discovery.k8s.io', 'endpointslices'],
] as const

/**
 * What a Prometheus reads to discover a ServiceMonitor's targets: the Services and Pods, and the
 * Endpoints or, with spec.serviceDiscoveryRole EndpointSlice, the EndpointSlices.
 */
export function serviceMonitorDiscovery(serviceDiscoveryRole: string | undefined): ReadonlyArray<readonly [string, string]> {
  const endpoints =
    serviceDiscoveryRole === 'EndpointSlice' ? (['discovery.k8s.io', 'endpointslices'] as const) : (['', 'endpoints'] as const)
  return [['', 'services'], endpoints, ['', 'pods']]
}

/**
 * What ServiceAccount `sa` may not list or watch of `resources` (group, resource) in `namespace`,
 * asked of the API server (LocalSubjectAccessReview, no change), as 'list services' and the
 * like; undefined when the run may not ask (403).
 */
export async function deniedDiscovery(
  kube: Pick<Kube, 'request'>,
  namespace: string,
  sa: { namespace: string; name: string },
  resources: ReadonlyArray<readonly [string, string]> = DISCOVERED,
): Promise<string[] | undefined> {
  const user = `system:serviceaccount:${sa.namespace}:${sa.name}`
  const groups = ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated']
  try {
    const answers = await Promise.all(
      resources.flatMap(([group, resource]) =>
        ['list', 'watch'].map(async (verb) => {
          const answer = await kube.request<{ status?: { allowed?: boolean } }>(
            'POST',
            `/apis/authorization.k8s.io/v1/namespaces/${namespace}/localsubjectaccessreviews`,
            {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'LocalSubjectAccessReview',
              metadata: { namespace },
              spec: { user, groups, resourceAttributes: { namespace, verb, group, resource } },
            },
          )
          return answer.status?.allowed === true ? '' : `${verb} ${group ? `${resource}.${group}` : resource}`
        }),
      ),
    )
    return answers.filter(Boolean)
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return undefined
    throw e
  }
}

/**
 * Whether ServiceAccount `sa` may already list and watch what the discovery Role grants in
 * `namespace` (deniedDiscovery). False when any is denied, and when the run may not ask: then
 * the Role is added as without the question.
 */
export async function mayDiscover(
  kube: Pick<Kube, 'request'>,
  namespace: string,
  sa: { namespace: string; name: string },
): Promise<boolean> {
  return (await deniedDiscovery(kube, namespace, sa))?.length === 0
}

/**
 * With prometheus-rbac: false the action adds no Role, so a Prometheus whose ServiceAccount may
 * not list and watch what discovering the release's targets takes (a PodMonitor's: the Pods)
 * could never see them, and the target wait could only run out. Throws before any change,
 * naming what is missing and the two ways on. Skipped for kube-prometheus in the namespaces its
 * own RBAC covers (its Roles may not exist yet), and when the run may not ask (a log line).
 */
export async function refuseUndiscoverable(run: StackRun, kind: MonitorKind): Promise<void> {
  const { kube, stack, inputs } = run
  if (inputs.prometheusRbac || (stack.kubePrometheus && DISCOVERABLE_NAMESPACES.includes(inputs.namespace))) return
  const sa = { namespace: stack.namespace, name: stack.serviceAccount }
  const resources = kind === 'PodMonitor' ? ([['', 'pods']] as const) : serviceMonitorDiscovery(stack.serviceDiscoveryRole)
  const denied = await deniedDiscovery(kube, inputs.namespace, sa, resources)
  if (denied === undefined) {
    core.info(
      `Could not ask whether ServiceAccount ${sa.namespace}/${sa.name} may discover in namespace ${inputs.namespace} (creating a LocalSubjectAccessReview there is not allowed); prometheus-rbac is false, so that is left to you`,
    )
    return
  }
  if (denied.length === 0) return
  throw new Error(
    `Prometheus ${refOf(stack)} cannot discover the Milvus targets: its ServiceAccount ${sa.namespace}/${sa.name} may not ${denied.join(', ')} in namespace ${inputs.namespace}, ` +
      'and prometheus-rbac is false, so the action adds no Role there. Nothing was changed. ' +
      `Grant it the discovery Role (docs/permissions.md, "The Prometheus' discovery RBAC"), or set prometheus-rbac: true.`,
  )
}
