// The source that uses a Prometheus the cluster has (install-kube-prometheus: false): the
// `prometheus` input, or the only Prometheus resource there is. Everything that depends on it (its ServiceAccount for the discovery RBAC,
// the Service the API and the forwards go through, its route prefix, the labels its
// serviceMonitorSelector wants, its Grafana and Alertmanager) is read here, once, from the cluster.
import * as core from '@actions/core'
import { ApiError, type Kube, type KubeObject } from '../cluster/kube.ts'
import type { ClusterRun, Run, StackRun } from '../context.ts'
import type { Inputs, LabelSelector, Permission, PrometheusStack, StackService } from '../types.ts'
import { holderIdentity, holdStack } from '../holds.ts'
import { FIELD_MANAGER } from '../marks.ts'
import { fieldManagers } from './ownership.ts'
import type { PrometheusSource } from './source.ts'
import { refOf, waitPrometheus } from './stack.ts'

/**
 * The Prometheus to use among the cluster's (`found`, as `ns/name`) when install-kube-prometheus
 * is false: `wanted` (the `prometheus` input, '' when unset) if the cluster has it, else the only
 * one. Throws an Error naming what was found and the input to set when there is none, several,
 * or not the one asked for.
 */
export function choosePrometheus(found: string[], wanted: string): string {
  if (wanted) {
    if (found.includes(wanted)) return wanted
    throw new Error(
      `prometheus is ${wanted}, but the cluster has no such Prometheus resource (it has: ${found.length ? found.join(', ') : 'none'}); ` +
        'name one of those, or set install-kube-prometheus: true to install kube-prometheus',
    )
  }
  if (found.length === 1) return found[0]!
  if (found.length === 0) {
    throw new Error(
      'install-kube-prometheus is false, but the cluster has no Prometheus resource (monitoring.coreos.com/v1): ' +
        'install a Prometheus stack first, or set install-kube-prometheus: true',
    )
  }
  throw new Error(
    `install-kube-prometheus is false and the cluster has ${found.length} Prometheus resources (${found.join(', ')}): set the prometheus input to the one to use, as namespace/name`,
  )
}

/**
 * The path Prometheus serves under, without a trailing '/' ('' for the root): the
 * `--web.route-prefix` its pods run with, else spec.routePrefix. Never the path of
 * spec.externalUrl: prometheus-operator passes `--web.route-prefix` itself (spec.routePrefix,
 * else '/'), so an externalUrl path only names what a proxy in front adds, not what the pod serves.
 */
export function pathPrefixOf(spec: { routePrefix?: string } | undefined, podArgs: string[] = []): string {
  const arg = podArgs.find((a) => a.startsWith('--web.route-prefix='))
  const prefix = (arg ? arg.slice('--web.route-prefix='.length) : (spec?.routePrefix ?? '')).replace(/\/+$/, '')
  return prefix === '' ? '' : prefix.startsWith('/') ? prefix : `/${prefix}`
}

/** The args of a Prometheus pod's `prometheus` container; [] when there is none. */
export function prometheusArgs(pod: KubeObject | undefined): string[] {
  const containers = ((pod?.spec?.containers ?? []) as Array<{ name?: string; args?: string[] }>) ?? []
  return containers.find((c) => c.name === 'prometheus')?.args ?? []
}

/**
 * Labels that make a ServiceMonitor match `selector` (a Prometheus' serviceMonitorSelector):
 * its matchLabels, for an `In` requirement its first value, and for `Exists` the key with the
 * value "true" (any value meets it). `NotIn`/`DoesNotExist` are met by adding nothing, so those
 * add nothing; {} for a null selector.
 */
export function labelsForSelector(selector: LabelSelector | null | undefined): Record<string, string> {
  const labels: Record<string, string> = { ...(selector?.matchLabels ?? {}) }
  for (const r of selector?.matchExpressions ?? []) {
    if (labels[r.key] !== undefined) continue
    if (r.operator === 'In' && r.values?.[0] !== undefined) labels[r.key] = r.values[0]
    else if (r.operator === 'Exists') labels[r.key] = 'true'
  }
  return labels
}

/** The labels prometheus-operator puts on a Prometheus' pods (v0.60 on), plus spec.podMetadata.labels. */
export function prometheusPodLabels(name: string, spec?: { podMetadata?: { labels?: Record<string, string> } }): Record<string, string> {
  return {
    ...(spec?.podMetadata?.labels ?? {}),
    'app.kubernetes.io/name': 'prometheus',
    'app.kubernetes.io/instance': name,
    'operator.prometheus.io/name': name,
    prometheus: name,
  }
}

interface ServicePort {
  name?: string
  port: number
  targetPort?: string | number
}

/** A Service's port that reaches a container port named `name` or numbered `number`. */
function portTo(s: KubeObject, names: string[], numbers: number[]): ServicePort | undefined {
  const ports = (s.spec?.ports ?? []) as ServicePort[]
  return (
    ports.find((p) => p.name !== undefined && names.includes(p.name)) ??
    ports.find((p) => (typeof p.targetPort === 'string' ? names.includes(p.targetPort) : numbers.includes(Number(p.targetPort ?? p.port))))
  )
}

/**
 * The Service to reach a Prometheus through: among `services` (of its namespace), those whose
 * selector is non-empty and matches `podLabels` and that expose `web` (a port named `web`, or one
 * whose targetPort is `web` or 9090). A Service whose selector picks this Prometheus alone (it
 * names `operator.prometheus.io/name` or `prometheus`) wins over the governing `prometheus-operated`
 * (which selects every Prometheus of the namespace); a ClusterIP one wins over a headless one;
 * then by name. Undefined when none fits.
 */
export function pickPrometheusService(
  services: KubeObject[],
  podLabels: Record<string, string>,
  pathPrefix: string,
): StackService | undefined {
  const scored = services.flatMap((s) => {
    const selector = (s.spec?.selector ?? {}) as Record<string, string>
    const keys = Object.keys(selector)
    if (keys.length === 0 || !keys.every((k) => podLabels[k] === selector[k])) return []
    const port = portTo(s, ['web', 'http-web'], [9090])
    if (!port) return []
    const own = keys.some((k) => k === 'operator.prometheus.io/name' || k === 'prometheus' || k === 'app.kubernetes.io/instance') ? 2 : 0
    const clusterIp = s.spec?.clusterIP !== 'None' ? 1 : 0
    return [{ s, port, score: own + clusterIp }]
  })
  scored.sort((a, b) => b.score - a.score || a.s.metadata.name.localeCompare(b.s.metadata.name))
  const best = scored[0]
  if (!best) return undefined
  return {
    namespace: best.s.metadata.namespace ?? '',
    name: best.s.metadata.name,
    port: best.port.name ?? best.port.port,
    portNumber: best.port.port,
    pathPrefix,
  }
}

/** Grafana of the stack: a Service labelled app.kubernetes.io/name=grafana among `services`, on its http port. */
export function pickGrafanaService(services: KubeObject[]): StackService | undefined {
  const s = services
    .filter((x) => x.metadata.labels?.['app.kubernetes.io/name'] === 'grafana')
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[0]
  if (!s) return undefined
  const ports = (s.spec?.ports ?? []) as ServicePort[]
  const port = portTo(s, ['http', 'http-web', 'service', 'grafana'], [3000]) ?? ports[0]
  if (!port) return undefined
  return {
    namespace: s.metadata.namespace ?? '',
    name: s.metadata.name,
    port: port.name ?? port.port,
    portNumber: port.port,
    pathPrefix: '',
  }
}

/** The first Alertmanager of spec.alerting.alertmanagers, as {namespace, name, port, pathPrefix}; undefined when none. */
export function alertmanagerEndpoint(
  namespace: string,
  spec: Record<string, unknown> | undefined,
): { namespace: string; name: string; port: string | number; pathPrefix: string } | undefined {
  const first = ((spec?.alerting as { alertmanagers?: Array<Record<string, unknown>> } | undefined)?.alertmanagers ?? [])[0]
  if (!first || typeof first.name !== 'string') return undefined
  return {
    namespace: typeof first.namespace === 'string' ? first.namespace : namespace,
    name: first.name,
    port: typeof first.port === 'number' || typeof first.port === 'string' ? first.port : 'web',
    pathPrefix: typeof first.pathPrefix === 'string' ? first.pathPrefix.replace(/\/+$/, '') : '',
  }
}

/** The source for a Prometheus the cluster has: read, never changed. */
export class ExistingPrometheus implements PrometheusSource {
  readonly description: string
  readonly #inputs: Inputs

  constructor(inputs: Inputs) {
    this.#inputs = inputs
    this.description = inputs.prometheus ? `Prometheus ${inputs.prometheus}` : "the cluster's Prometheus"
  }

  /**
   * A named Prometheus is read in its namespace alone (docs/permissions.md): the resource and its
   * status, the Services and pods it is reached through, the namespace's labels (its selectors),
   * its HTTP API through the API server's proxy, and the port-forwards to it. Unnamed, it is
   * looked for among every namespace's Prometheuses.
   */
  permissions(): Permission[] {
    const namespace = this.#inputs.prometheus.split('/')[0]
    if (!namespace) return [{ verb: 'list', group: 'monitoring.coreos.com', resource: 'prometheuses' }]
    const monitoring = 'monitoring.coreos.com'
    return [
      { verb: 'get', group: monitoring, resource: 'prometheuses', namespace },
      { verb: 'list', group: monitoring, resource: 'prometheuses', namespace },
      { verb: 'watch', group: monitoring, resource: 'prometheuses', namespace },
      { verb: 'list', group: '', resource: 'services', namespace },
      { verb: 'list', group: '', resource: 'pods', namespace },
      { verb: 'get', group: '', resource: 'namespaces', namespace },
      { verb: 'get', group: '', resource: 'pods', subresource: 'proxy', namespace },
      { verb: 'get', group: '', resource: 'services', subresource: 'proxy', namespace },
      ...(this.#inputs.expose === 'port-forward'
        ? [{ verb: 'create', group: '', resource: 'pods', subresource: 'portforward', namespace }]
        : []),
    ]
  }

  compatibility(): string {
    return ''
  }

  async fetch(): Promise<void> {}

  resolve(run: ClusterRun): Promise<PrometheusStack> {
    return run.budget.phase('Find Prometheus', () => resolvePrometheus(this.#inputs, run.kube))
  }

  /**
   * A Prometheus the action installed (its field manager wrote it) is held as a run that
   * installs it holds it (src/holds.ts): the cleanup of the run that installed it then leaves it
   * while this run uses it. A run that may not create the Lease says so and goes on: holding
   * adds safety beside other jobs, and the run itself changes nothing of the stack.
   */
  async prepare(run: StackRun): Promise<void> {
    const { kube, stack, state } = run
    const p = await kube
      .find<{ metadata?: { managedFields?: Array<{ manager?: string }> } }>(
        `/apis/monitoring.coreos.com/v1/namespaces/${stack.namespace}/prometheuses/${stack.name}`,
      )
      .catch(() => undefined)
    if (!fieldManagers(p).includes(FIELD_MANAGER)) return
    try {
      const hold = await holdStack(kube, stack.namespace, state.state.holder ?? holderIdentity())
      state.record({ stackHold: { namespace: hold.namespace, name: hold.name } })
      core.info(
        `Prometheus ${refOf(stack)} was installed by this action: held by this run (Lease ${hold.namespace}/${hold.name}) until its post step`,
      )
    } catch (e) {
      core.info(
        `Prometheus ${refOf(stack)} was installed by this action, and this run could not hold it (${(e as Error).message.split('\n')[0]}): the cleanup of the run that installed it may remove it while this run uses it`,
      )
    }
  }

  async start(): Promise<void> {}

  /** Waits for a replica of the Prometheus to be available. */
  async ready(run: StackRun): Promise<void> {
    const prometheus = `Prometheus ${refOf(run.stack)}`
    await run.budget.phase('Prometheus ready', async () => {
      await run.budget.wait(`${prometheus} to have a replica available`, (signal) => waitPrometheus(run.kube, run.stack, signal))
      core.info(`${prometheus} has a replica available`)
    })
  }

  abandon(_run: Run): void {}
}

/**
 * The Prometheus resources to choose among: the named one alone, read in its namespace, when the
 * cluster has it (an identity that may read only that namespace needs nothing more); else every
 * namespace's, for choosePrometheus to choose or to name in its error (none when the identity
 * may not list them cluster-wide, or the CRD is missing).
 */
async function prometheusCandidates(kube: Kube, wanted: string): Promise<{ items: KubeObject[] }> {
  const [namespace, name] = wanted.split('/')
  if (namespace && name) {
    const one = await kube.find(`/apis/monitoring.coreos.com/v1/namespaces/${namespace}/prometheuses/${name}`)
    if (one) return { items: [one] }
  }
  return kube.get<{ items: KubeObject[] }>('/apis/monitoring.coreos.com/v1/prometheuses').catch((e: unknown) => {
    if (e instanceof ApiError && (e.status === 404 || (wanted && e.status === 403))) return { items: [] }
    throw e
  })
}

/**
 * Reads the Prometheus resources, the chosen one, its pods and the Services of its namespace
 * (and its Alertmanager's). Throws an Error when none can be chosen (see choosePrometheus) or no
 * Service exposes its `web` port.
 */
export async function resolvePrometheus(inputs: Inputs, kube: Kube): Promise<PrometheusStack> {
  const list = await prometheusCandidates(kube, inputs.prometheus)
  const chosen = choosePrometheus(list.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(), inputs.prometheus)
  const [namespace, name] = chosen.split('/') as [string, string]
  const prometheus = list.items.find((p) => p.metadata.namespace === namespace && p.metadata.name === name)!
  const spec = (prometheus.spec ?? {}) as Record<string, unknown> & {
    serviceAccountName?: string
    serviceMonitorSelector?: LabelSelector
    ruleSelector?: LabelSelector | null
    ruleNamespaceSelector?: LabelSelector | null
  }
  const [services, pods] = await Promise.all([
    kube.get<{ items: KubeObject[] }>(`/api/v1/namespaces/${namespace}/services`),
    kube.get<{ items: KubeObject[] }>(
      `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`operator.prometheus.io/name=${name}`)}`,
    ),
  ])
  const pathPrefix = pathPrefixOf(spec as { routePrefix?: string }, prometheusArgs(pods.items[0]))
  const podLabels =
    pods.items[0]?.metadata.labels ?? prometheusPodLabels(name, spec as { podMetadata?: { labels?: Record<string, string> } })
  const service = pickPrometheusService(services.items, podLabels, pathPrefix)
  if (!service) {
    throw new Error(
      `Prometheus ${chosen}: no Service in namespace ${namespace} selects its pods and exposes its web port (9090); prometheus-operator creates prometheus-operated when the Prometheus has pods`,
    )
  }
  const stack: PrometheusStack = {
    namespace,
    name,
    serviceAccount: spec.serviceAccountName || 'default',
    service,
    serviceMonitorLabels: labelsForSelector(spec.serviceMonitorSelector),
    ruleLabels: labelsForSelector(spec.ruleSelector),
    ruleSelector: spec.ruleSelector ?? null,
    ...(typeof spec.serviceDiscoveryRole === 'string' ? { serviceDiscoveryRole: spec.serviceDiscoveryRole } : {}),
    ruleNamespaceSelector: spec.ruleNamespaceSelector ?? null,
    kubePrometheus: false,
  }
  const grafana = pickGrafanaService(services.items)
  if (grafana) stack.grafana = grafana
  const am = alertmanagerEndpoint(namespace, spec)
  if (am) {
    const svc =
      am.namespace === namespace
        ? services.items.find((s) => s.metadata.name === am.name)
        : await kube.find(`/api/v1/namespaces/${am.namespace}/services/${am.name}`)
    const port = svc ? ((svc.spec?.ports ?? []) as ServicePort[]).find((p) => p.name === am.port || p.port === am.port) : undefined
    if (port)
      stack.alertmanager = {
        namespace: am.namespace,
        name: am.name,
        port: port.name ?? port.port,
        portNumber: port.port,
        pathPrefix: am.pathPrefix,
      }
  }
  core.info(
    `Using Prometheus ${chosen} (ServiceAccount ${stack.serviceAccount}, Service ${service.name}:${service.port}${pathPrefix ? `, route prefix ${pathPrefix}` : ''}); ` +
      `Grafana: ${stack.grafana ? `${stack.grafana.namespace}/${stack.grafana.name}` : 'none found'}, Alertmanager: ${stack.alertmanager ? `${stack.alertmanager.namespace}/${stack.alertmanager.name}` : 'none found'}`,
  )
  return stack
}
