// What the API server's admission would refuse, found before any change: admission webhooks
// whose Service is gone (a stack uninstalled without its webhook configurations) that intercept
// what the run will create, and, where the release's namespace exists, a server-side dry run of
// the rendered objects and of a Pod from each pod template, which meets every webhook,
// ValidatingAdmissionPolicy, LimitRange, ResourceQuota and Pod Security admission as the real
// create would. Each refusal names the object, who refused it and the fix.
import * as core from '@actions/core'
import { ApiError, type Kube, type KubeObject } from '../cluster/kube.ts'
import { MANAGED_BY, milvusRuleName } from '../marks.ts'
import type { LabelSelector, PrometheusStack } from '../types.ts'
import { matchesSelector } from './wiring.ts'

/** A kind the run creates, as admission sees it: group, resource and the labels it carries. */
export interface AdmissionTarget {
  /** What a message calls it: 'Deployment my-release-milvus-standalone', 'Pod of Deployment ...'. */
  what: string
  group: string
  resource: string
  labels: Record<string, string>
}

/** The plural resource of the kinds a release and the action create (others: the lower-case kind plus 's'). */
const RESOURCES: Record<string, string> = {
  Endpoints: 'endpoints',
  Ingress: 'ingresses',
  NetworkPolicy: 'networkpolicies',
  PodDisruptionBudget: 'poddisruptionbudgets',
  StorageClass: 'storageclasses',
  Policy: 'policies',
}

/** The plural resource of a kind (Deployment → deployments, NetworkPolicy → networkpolicies). */
export function resourceOf(kind: string): string {
  const known = RESOURCES[kind]
  if (known) return known
  const lower = kind.toLowerCase()
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`
  if (/(s|x|ch|sh)$/.test(lower)) return `${lower}es`
  return `${lower}s`
}

const groupOf = (apiVersion: string | undefined) => (apiVersion?.includes('/') ? (apiVersion.split('/')[0] ?? '') : '')

/** The pod template of a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job), or undefined. */
export function podTemplate(o: KubeObject): { metadata?: { labels?: Record<string, string> }; spec?: Record<string, unknown> } | undefined {
  const spec = o.spec as { template?: { metadata?: { labels?: Record<string, string> }; spec?: Record<string, unknown> } } | undefined
  return ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind ?? '') ? spec?.template : undefined
}

/** What the rendered release creates (its objects and the pods its workloads create), plus `own`, as admission targets. */
export function admissionTargets(objects: KubeObject[], own: AdmissionTarget[] = []): AdmissionTarget[] {
  const targets: AdmissionTarget[] = []
  for (const o of objects) {
    const kind = o.kind ?? ''
    targets.push({
      what: `${kind} ${o.metadata.name}`,
      group: groupOf(o.apiVersion),
      resource: resourceOf(kind),
      labels: o.metadata.labels ?? {},
    })
    const template = podTemplate(o)
    if (template) {
      targets.push({ what: `the pods of ${kind} ${o.metadata.name}`, group: '', resource: 'pods', labels: template.metadata?.labels ?? {} })
    }
  }
  return [...targets, ...own]
}

/** The fields of an admissionregistration.k8s.io/v1 webhook this module reads. */
export interface WebhookSpec {
  name: string
  failurePolicy?: string
  clientConfig?: { service?: { namespace: string; name: string; port?: number }; url?: string }
  rules?: Array<{ apiGroups?: string[]; resources?: string[]; operations?: string[]; scope?: string }>
  namespaceSelector?: LabelSelector
  objectSelector?: LabelSelector
}

const matchesList = (list: string[] | undefined, value: string) => (list ?? []).some((v) => v === '*' || v === value)

/**
 * Whether a webhook intercepts the CREATE of `target` in a namespace labelled `namespaceLabels`:
 * a rule of its group and resource (a subresource rule does not count) with CREATE (or `*`), and
 * both selectors (an absent selector matches everything). Pure: table-tested.
 */
export function webhookIntercepts(w: WebhookSpec, target: AdmissionTarget, namespaceLabels: Record<string, string>): boolean {
  const ruled = (w.rules ?? []).some(
    (r) =>
      matchesList(r.apiGroups, target.group) &&
      (r.resources ?? []).some((res) => res === '*' || res === '*/*' || res === target.resource) &&
      matchesList(r.operations, 'CREATE') &&
      r.scope !== 'Cluster',
  )
  if (!ruled) return false
  if (w.namespaceSelector && !matchesSelector(w.namespaceSelector, namespaceLabels)) return false
  if (w.objectSelector && !matchesSelector(w.objectSelector, target.labels)) return false
  return true
}

/** A webhook configuration as listed: its kind ('ValidatingWebhookConfiguration') and name, and its webhooks. */
export interface WebhookConfiguration {
  kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration'
  name: string
  webhooks: WebhookSpec[]
}

/**
 * Each webhook with failurePolicy Fail (the default) that intercepts a target and whose Service
 * is not there to answer (`serviceState` says 'missing' or 'no endpoint'), as one line naming the
 * configuration, the webhook, what it intercepts, its Service and the fix. Pure: table-tested.
 */
export function deadWebhookProblems(
  configurations: WebhookConfiguration[],
  targets: AdmissionTarget[],
  namespaceLabels: Record<string, string>,
  serviceState: (ref: { namespace: string; name: string }) => 'ok' | 'missing' | 'no endpoint',
): string[] {
  const problems: string[] = []
  for (const c of configurations) {
    for (const w of c.webhooks) {
      if ((w.failurePolicy ?? 'Fail') !== 'Fail') continue
      const service = w.clientConfig?.service
      if (!service) continue
      const state = serviceState(service)
      if (state === 'ok') continue
      const hit = targets.filter((t) => webhookIntercepts(w, t, namespaceLabels))
      if (!hit.length) continue
      const what = hit
        .slice(0, 3)
        .map((t) => t.what)
        .join(', ')
      const more = hit.length > 3 ? ` and ${hit.length - 3} more` : ''
      const why =
        state === 'missing'
          ? `its Service ${service.namespace}/${service.name} does not exist`
          : `its Service ${service.namespace}/${service.name} has no ready endpoint`
      const cli = c.kind === 'ValidatingWebhookConfiguration' ? 'validatingwebhookconfiguration' : 'mutatingwebhookconfiguration'
      problems.push(
        `${c.kind} ${c.name}, webhook "${w.name}": intercepts the creation of ${what}${more} with failurePolicy Fail, and ${why}, so the API server refuses them. ` +
          `A stack uninstalled without its webhook configurations leaves this behind: delete it (kubectl delete ${cli} ${c.name}) or bring back what serves it.`,
      )
    }
  }
  return problems
}

/**
 * Whether each Service exists and has a ready endpoint (EndpointSlices labelled with its name).
 * A Service the identity may not read (403) counts as answering: only what is known to be gone is reported.
 */
async function serviceStates(kube: Kube, refs: Array<{ namespace: string; name: string }>) {
  const states = new Map<string, 'ok' | 'missing' | 'no endpoint'>()
  const forbidden = (e: unknown) => {
    if (e instanceof ApiError && e.status === 403) return 'forbidden' as const
    throw e
  }
  for (const ref of refs) {
    const key = `${ref.namespace}/${ref.name}`
    if (states.has(key)) continue
    const service = await kube.find(`/api/v1/namespaces/${ref.namespace}/services/${ref.name}`).catch(forbidden)
    if (service === 'forbidden') {
      states.set(key, 'ok')
      continue
    }
    if (!service) {
      states.set(key, 'missing')
      continue
    }
    if ((service.spec as { type?: string } | undefined)?.type === 'ExternalName') {
      states.set(key, 'ok')
      continue
    }
    const slices = await kube
      .get<{ items: Array<{ endpoints?: Array<{ conditions?: { ready?: boolean } }> }> }>(
        `/apis/discovery.k8s.io/v1/namespaces/${ref.namespace}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${ref.name}`)}`,
      )
      .catch(forbidden)
    const ready = slices === 'forbidden' || slices.items.some((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready !== false))
    states.set(key, ready ? 'ok' : 'no endpoint')
  }
  return states
}

/**
 * The webhook configurations on the cluster whose Service is gone and that would refuse a
 * target (deadWebhookProblems). Reading them needs cluster-wide list rights; without them
 * (403) nothing is reported and the dry run below still meets the webhooks.
 */
export async function deadWebhooks(kube: Kube, targets: AdmissionTarget[], namespaceLabels: Record<string, string>): Promise<string[]> {
  const configurations: WebhookConfiguration[] = []
  for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'] as const) {
    const plural = kind === 'ValidatingWebhookConfiguration' ? 'validatingwebhookconfigurations' : 'mutatingwebhookconfigurations'
    try {
      const list = await kube.get<{ items: Array<{ metadata: { name: string }; webhooks?: WebhookSpec[] }> }>(
        `/apis/admissionregistration.k8s.io/v1/${plural}`,
      )
      for (const item of list.items) configurations.push({ kind, name: item.metadata.name, webhooks: item.webhooks ?? [] })
    } catch (e) {
      if (e instanceof ApiError && (e.status === 403 || e.status === 404)) continue
      throw e
    }
  }
  const refs = configurations.flatMap((c) => c.webhooks.flatMap((w) => (w.clientConfig?.service ? [w.clientConfig.service] : [])))
  // Only the Services of webhooks that would intercept something are read.
  const relevant = refs.filter((ref) =>
    configurations.some((c) =>
      c.webhooks.some(
        (w) =>
          w.clientConfig?.service === ref &&
          (w.failurePolicy ?? 'Fail') === 'Fail' &&
          targets.some((t) => webhookIntercepts(w, t, namespaceLabels)),
      ),
    ),
  )
  const states = await serviceStates(kube, relevant)
  return deadWebhookProblems(configurations, targets, namespaceLabels, (ref) => states.get(`${ref.namespace}/${ref.name}`) ?? 'ok')
}

/**
 * What refused a dry-run create, from the API server's message, with the fix; undefined when the
 * failure says nothing about the objects (a webhook that cannot dry-run, a missing
 * ServiceAccount the release creates itself, a conflict). Pure: table-tested.
 */
export function dryRunRefusal(what: string, message: string): string | undefined {
  if (/does not support dry run|sideEffects|serviceaccount .* not found|already exists|the object has been modified/i.test(message)) {
    return undefined
  }
  let m = /admission webhook "([^"]+)" denied the request/.exec(message)
  if (m) {
    return `${what}: ${message}\n    The admission webhook "${m[1]}" refuses it: change the values so it admits them, or ask its owner (kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations names it).`
  }
  m = /failed calling webhook "([^"]+)"/.exec(message)
  if (m) {
    return `${what}: ${message}\n    The admission webhook "${m[1]}" does not answer: delete its configuration if what served it was uninstalled, or bring its Service back.`
  }
  m = /ValidatingAdmissionPolicy '([^']+)'(?: with binding '([^']+)')? denied request/.exec(message)
  if (m) {
    return `${what}: ${message}\n    The ValidatingAdmissionPolicy ${m[1]}${m[2] ? ` (binding ${m[2]})` : ''} refuses it: change the values so it admits them, or ask its owner to exempt the namespace.`
  }
  if (
    /(minimum|maximum) (cpu|memory|ephemeral-storage|storage) usage per (Container|Pod|PersistentVolumeClaim)|(min|max) limit to request ratio/i.test(
      message,
    )
  ) {
    return `${what}: ${message}\n    A LimitRange in the namespace refuses the requests (kubectl get limitrange -n <namespace>): set the release's resources in values within its minimum and maximum, or use another namespace.`
  }
  if (/exceeded quota|must specify (limits|requests)/i.test(message)) {
    return `${what}: ${message}\n    A ResourceQuota in the namespace refuses it (kubectl describe resourcequota -n <namespace>): raise the quota, set the requests and limits it requires in values, or use another namespace.`
  }
  if (/violates PodSecurity/.test(message)) {
    return `${what}: ${message}\n    The namespace's Pod Security admission refuses the pods: label the namespace to admit them (pod-security.kubernetes.io/enforce=privileged), or use another namespace.`
  }
  // Anything else (an immutable field an upgrade would change, a validation helm reports itself) is left to helm.
  return undefined
}

/** The API path of a namespaced object's collection (`/apis/apps/v1/namespaces/ns/deployments`). */
export function collectionPath(apiVersion: string, kind: string, namespace: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
  return `${base}/namespaces/${namespace}/${resourceOf(kind)}`
}

/** Kinds with no namespace: not dry-run (a namespace admin may not create them; helm reports them itself). */
const CLUSTER_KINDS = new Set([
  'ClusterRole',
  'ClusterRoleBinding',
  'Namespace',
  'StorageClass',
  'PriorityClass',
  'CustomResourceDefinition',
])

/**
 * A server-side dry run (dryRun=All: admission runs in full, nothing is stored) of each rendered
 * namespaced object, as a server-side apply, and of one Pod per pod template: the refusals found,
 * each naming the object, who refused it and the fix. 404s (a kind the cluster does not serve)
 * and RBAC's 403s (a create the identity may not dry-run) are left to the install.
 */
export async function dryRunRefusals(kube: Kube, namespace: string, objects: KubeObject[]): Promise<string[]> {
  const problems: string[] = []
  const attempt = async (what: string, call: () => Promise<unknown>) => {
    try {
      await call()
    } catch (e) {
      // 403 is also how admission says no (`pods "x" is forbidden: ...`): dryRunRefusal tells it from RBAC.
      if (!(e instanceof ApiError) || e.status === 404 || e.status === 409) return
      const message = (e.body as { message?: string } | undefined)?.message ?? e.message
      const problem = dryRunRefusal(what, message)
      if (problem) problems.push(problem)
    }
  }
  const releaseAccounts = new Set(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name))
  for (const o of objects) {
    const kind = o.kind ?? ''
    if (!o.apiVersion || CLUSTER_KINDS.has(kind)) continue
    const path = collectionPath(o.apiVersion, kind, namespace)
    const body = { ...o, metadata: { ...o.metadata, namespace } }
    await attempt(`${kind} ${namespace}/${o.metadata.name}`, () =>
      kube.request('PATCH', `${path}/${o.metadata.name}?fieldManager=helm&force=true&dryRun=All`, body, {
        contentType: 'application/apply-patch+yaml',
      }),
    )
    const template = podTemplate(o)
    if (template) {
      // A ServiceAccount the release creates does not exist yet: the ServiceAccount admission would
      // refuse the pod for that before LimitRanges, quotas or Pod Security look at it. The
      // namespace's default one stands in.
      const spec: Record<string, unknown> = { ...(template.spec ?? {}) }
      if (typeof spec.serviceAccountName === 'string' && releaseAccounts.has(spec.serviceAccountName)) {
        delete spec.serviceAccountName
        delete spec.serviceAccount
      }
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { generateName: `${o.metadata.name}-`, namespace, labels: template.metadata?.labels ?? {} },
        spec,
      }
      await attempt(`the pods of ${kind} ${namespace}/${o.metadata.name}`, () =>
        kube.request('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, pod),
      )
    }
  }
  return problems
}

/**
 * Before any change: the webhooks that would refuse the run's objects for want of their Service,
 * then, when the namespace exists, the dry run. Throws one message listing every refusal.
 * `own` are the action's own objects (its PrometheusRule, discovery Role, namespace).
 */
export async function checkAdmission(
  kube: Kube,
  c: { release: string; namespace: string; objects: KubeObject[]; own: AdmissionTarget[] },
): Promise<void> {
  const ns = await kube.find(`/api/v1/namespaces/${c.namespace}`).catch(() => undefined)
  const namespaceLabels = ns?.metadata.labels ?? { 'kubernetes.io/metadata.name': c.namespace }
  const targets = admissionTargets(c.objects, c.own)
  const problems = await deadWebhooks(kube, targets, namespaceLabels)
  if (!problems.length && ns && !ns.metadata.deletionTimestamp) problems.push(...(await dryRunRefusals(kube, c.namespace, c.objects)))
  if (problems.length) {
    throw new Error(
      `The cluster's admission would refuse the Milvus release ${c.release}; nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    )
  }
  core.info(`Admission: no webhook, policy or limit refuses the release${ns ? ' (dry run of every object and pod)' : ''}`)
}

/** The action's own objects of a run, as admission targets: its namespace, hold, discovery Role and binding, and alert rules. */
export function actionTargets(run: {
  inputs: { releaseName: string; namespace: string }
  stack: Pick<PrometheusStack, 'ruleLabels' | 'ruleNamespaceSelector' | 'namespace'>
}): AdmissionTarget[] {
  const { releaseName, namespace } = run.inputs
  // Rules go beside the release unless the Prometheus reads only its own namespace (ruleNamespace).
  const rules = milvusRuleName(releaseName, namespace, run.stack.ruleNamespaceSelector === null ? run.stack.namespace : namespace)
  const own = { ...MANAGED_BY }
  return [
    { what: 'the namespace', group: '', resource: 'namespaces', labels: own },
    { what: 'the release hold (a Lease)', group: 'coordination.k8s.io', resource: 'leases', labels: own },
    { what: 'the discovery Role', group: 'rbac.authorization.k8s.io', resource: 'roles', labels: own },
    { what: 'the discovery RoleBinding', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', labels: own },
    {
      what: `the alert rules (PrometheusRule ${rules})`,
      group: 'monitoring.coreos.com',
      resource: 'prometheusrules',
      labels: { ...own, ...run.stack.ruleLabels },
    },
  ]
}
