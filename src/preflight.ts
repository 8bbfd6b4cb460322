// The cluster preflight: reachable, its version, and allowed to create what follows. Nothing
// is changed yet, so a wrong kubeconfig or a missing permission fails before any apply.
import * as core from '@actions/core'
import { Kube, ApiError, NoClusterError } from './cluster/kube.ts'
import { retryTransient } from './cluster/retry.ts'
import { describeProxy } from './cluster/proxy.ts'
import type { Inputs, Permission } from './types.ts'
import type { PrometheusSource } from './prometheus/source.ts'
import type { StackRun } from './context.ts'
import { appliesRules, mixinAccess } from './mixin/access.ts'
import { needsRbac } from './prometheus/discovery-rbac.ts'

/** How long an API server that refuses connections gets to start answering, in ms. */
const PREFLIGHT_MS = 20_000

/**
 * Loads the kubeconfig and checks the cluster. Throws NoClusterError when the API server does
 * not answer within PREFLIGHT_MS (naming the proxy it was asked through, or why none: see
 * Kube.proxy), ApiError for an HTTP error, and an Error listing every permission the identity
 * lacks (SelfSubjectAccessReview).
 */
export async function preflight(inputs: Inputs, source: PrometheusSource, signal: AbortSignal): Promise<Kube> {
  const kube = await Kube.load()
  let version: { gitVersion: string; minor: string }
  let lastRefusal: Error | undefined
  try {
    // A moment's grace for an API server still starting, not the whole budget: a cluster that
    // never answers is a configuration problem to report now.
    const reachable = AbortSignal.any([signal, AbortSignal.timeout(PREFLIGHT_MS)])
    version = await retryTransient(
      () => kube.get('/version', { signal: reachable }) as unknown as Promise<{ gitVersion: string; minor: string }>,
      {
        signal: reachable,
        initialMs: 500,
        maxMs: 2000,
        onRetry: (_attempt, error) => (lastRefusal = error),
      },
    )
  } catch (e) {
    if (e instanceof ApiError) throw e
    const why = (lastRefusal ?? (e as Error)).message
    throw new NoClusterError(
      `the API server ${kube.server} (context ${kube.context}) did not answer within ${PREFLIGHT_MS / 1000} s, asked ${describeProxy(kube.proxy)}: ${why}`,
    )
  }
  kube.serverVersion = version.gitVersion
  core.info(`Cluster: ${kube.server} (context ${kube.context}, reached ${describeProxy(kube.proxy)}), Kubernetes ${version.gitVersion}`)
  if (kube.inClusterKubeconfig)
    core.info(
      `No kubeconfig file: using the pod's ServiceAccount credentials; kubectl and helm use them through ${kube.inClusterKubeconfig}`,
    )
  const warning = source.compatibility(parseInt(version.minor, 10))
  if (warning) core.warning(warning)

  // Whether the namespace exists decides whether the run creates it (cluster-wide) or only works in it.
  const namespace = await kube
    .find(`/api/v1/namespaces/${inputs.namespace}`)
    .then((ns) => (ns && !ns.metadata.deletionTimestamp ? 'exists' : 'missing'))
    .catch((): NamespaceState => 'unknown')
  const checks = neededPermissions(inputs, source, namespace)
  // Who the cluster is, beside the access review: the post step compares it before any delete.
  const identity = kube
    .find<{ metadata: { uid?: string } }>('/api/v1/namespaces/kube-system')
    .then((ns) => ns?.metadata.uid && (kube.clusterId = ns.metadata.uid))
    .catch((e: unknown) =>
      core.info(
        `Namespace kube-system is not readable (${e instanceof ApiError ? e.status : (e as Error).message}): the post step checks the API server's URL, not the cluster's identity, before it deletes`,
      ),
    )
  await Promise.all([identity, review(kube, checks)])
  return kube
}

/** Throws, listing every permission of `checks` the identity lacks (a SelfSubjectAccessReview each). */
async function review(kube: Kube, checks: Permission[]): Promise<void> {
  const denied: string[] = []
  await Promise.all(
    checks.map(async (c) => {
      const answer = await kube.request<{ status?: { allowed?: boolean } }>(
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb: c.verb,
              group: c.group,
              resource: c.resource,
              ...(c.subresource ? { subresource: c.subresource } : {}),
              ...(c.namespace ? { namespace: c.namespace } : {}),
            },
          },
        },
      )
      if (!answer.status?.allowed) denied.push(describePermission(c))
    }),
  )
  if (denied.length) {
    throw new Error(
      `The kubeconfig's identity may not do what the action needs with these inputs; nothing was changed:\n${[...new Set(denied)]
        .sort()
        .map((d) => `  - ${d}`)
        .join('\n')}\n` +
        `Grant them (the action's docs/permissions.md has the Roles to apply for each combination of inputs), or use a cluster-admin kubeconfig (kind's default is one).`,
    )
  }
}

/**
 * The second half of the preflight, once the Prometheus is resolved and still before any change:
 * where the alert rules go and which Alertmanager the drill reaches are known only from it (see
 * mixinAccess), and so is what the identity must be allowed there.
 */
export async function preflightStack(run: StackRun): Promise<void> {
  const { inputs, budget, kube } = run
  if (!appliesRules(inputs) && !inputs.alertDrill) return
  await budget.phase('Check the rules and the drill', async () => review(kube, await mixinAccess(run)))
}

/** The release's namespace before the run: there (and not terminating), absent (or terminating), or not readable. */
export type NamespaceState = 'exists' | 'missing' | 'unknown'

/**
 * What the run will do with these inputs, as the access review asks it: only that, so an
 * identity bound to its namespaces passes when it may do what the run does. Cluster-wide
 * permissions appear only for what the run does cluster-wide: create the release's namespace
 * (when it is not there), install kube-prometheus, or find an unnamed Prometheus.
 */
export function neededPermissions(inputs: Inputs, source: PrometheusSource, namespace: NamespaceState): Permission[] {
  const checks: Permission[] = [
    // A release that is there (install-milvus false) is read, never installed nor held.
    ...(inputs.installMilvus === false
      ? [{ verb: 'list', group: 'monitoring.coreos.com', resource: 'servicemonitors', namespace: inputs.namespace }]
      : [
          ...(namespace === 'exists' ? [] : [{ verb: 'create', group: '', resource: 'namespaces' }]),
          { verb: 'create', group: 'apps', resource: 'deployments', namespace: inputs.namespace },
          { verb: 'create', group: 'apps', resource: 'statefulsets', namespace: inputs.namespace },
          { verb: 'create', group: '', resource: 'services', namespace: inputs.namespace },
          { verb: 'create', group: 'monitoring.coreos.com', resource: 'servicemonitors', namespace: inputs.namespace },
          // The release's hold (src/holds.ts).
          { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: inputs.namespace },
        ]),
    // The release watch, and the checks through the API server (a 403 there is no wait to run out).
    { verb: 'watch', group: '', resource: 'events', namespace: inputs.namespace },
    ...(inputs.expose === 'port-forward'
      ? [{ verb: 'create', group: '', resource: 'pods', subresource: 'portforward', namespace: inputs.namespace }]
      : []),
    // The alert rules and the drill are asked where they go, once the Prometheus is known (preflightStack).
  ]
  // What the Prometheus source will do: install a stack, or ask one through the API server.
  checks.push(...source.permissions())
  if (needsRbac(inputs.namespace, inputs.prometheusRbac, inputs.installKubePrometheus)) {
    checks.push({ verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: inputs.namespace })
  }
  return checks
}

/** A permission as the preflight names a missing one: verb, resource, and the namespace or cluster-wide. */
export function describePermission(c: Permission): string {
  const what = `${c.group ? `${c.resource}.${c.group}` : c.resource}${c.subresource ? `/${c.subresource}` : ''}`
  return `${c.verb} ${what}${c.namespace ? ` in namespace ${c.namespace}` : ' (cluster-wide)'}`
}

/**
 * The cluster check beside the downloads, its failure first: a cluster that does not answer is
 * the cause to name, even when a download (which may need the same network) failed a moment before.
 */
export async function clusterFirst<C, T>(checked: Promise<C>, others: [Promise<T>, Promise<void>]): Promise<[T, C]> {
  const all = Promise.all([others[0], checked, others[1]])
  try {
    const [tools, cluster] = await all
    return [tools, cluster]
  } catch (e) {
    await checked // bounded by the preflight's own wait; rejects with the cluster's cause
    throw e
  }
}
