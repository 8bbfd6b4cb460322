// kube-prometheus lets Prometheus discover targets only in default, kube-system and monitoring.
// For a Milvus namespace elsewhere, the action grants the same read access there.
import { ApiError, type Kube, type KubeObject } from '../cluster/kube.ts'
import { MANAGED_BY } from '../marks.ts'

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
 * Whether ServiceAccount `sa` may already list and watch what the discovery Role grants in
 * `namespace`, asked of the API server (LocalSubjectAccessReview, no change). False when any is
 * denied, and when the run may not ask (403): then the Role is added as without the question.
 */
export async function mayDiscover(
  kube: Pick<Kube, 'request'>,
  namespace: string,
  sa: { namespace: string; name: string },
): Promise<boolean> {
  const user = `system:serviceaccount:${sa.namespace}:${sa.name}`
  const groups = ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated']
  try {
    const answers = await Promise.all(
      DISCOVERED.flatMap(([group, resource]) =>
        ['list', 'watch'].map((verb) =>
          kube.request<{ status?: { allowed?: boolean } }>(
            'POST',
            `/apis/authorization.k8s.io/v1/namespaces/${namespace}/localsubjectaccessreviews`,
            {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'LocalSubjectAccessReview',
              metadata: { namespace },
              spec: { user, groups, resourceAttributes: { namespace, verb, group, resource } },
            },
          ),
        ),
      ),
    )
    return answers.every((a) => a.status?.allowed === true)
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return false
    throw e
  }
}
