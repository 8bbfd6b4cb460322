// Checking the wiring before waiting on it: whether Prometheus will pick up the ServiceMonitor,
// and whether the ServiceMonitor points at the Milvus Service, follows from a handful of
// selectors. When one does not match, waiting for a scrape can only time out, so we say which
// label, namespace or port is wrong instead.
import * as core from '@actions/core'
import type { Kube, KubeObject } from '../cluster/kube.ts'
import type { Endpoints, Inputs, LabelSelectorRequirement, LabelSelector, MonitorKind, MonitorRef, PrometheusStack } from '../types.ts'
import { inClusterEndpoints } from '../expose/endpoints.ts'
import { refOf } from '../prometheus/stack.ts'
export type { LabelSelectorRequirement, LabelSelector }

type Labels = Record<string, string>

interface Metadata {
  name?: string
  namespace?: string
  labels?: Labels | null
}

/** The fields of a monitoring.coreos.com/v1 Prometheus this check reads. */
export interface PrometheusObject {
  metadata?: Metadata
  spec?: {
    serviceMonitorSelector?: LabelSelector | null
    serviceMonitorNamespaceSelector?: LabelSelector | null
    podMonitorSelector?: LabelSelector | null
    podMonitorNamespaceSelector?: LabelSelector | null
    ignoreNamespaceSelectors?: boolean | null
  }
}

export interface ServiceMonitorEndpoint {
  port?: string | null
  targetPort?: string | number | null
  path?: string | null
}

/** The fields of a monitoring.coreos.com/v1 ServiceMonitor this check reads. */
export interface ServiceMonitorObject {
  metadata?: Metadata
  spec?: {
    selector?: LabelSelector | null
    namespaceSelector?: { any?: boolean | null; matchNames?: string[] | null } | null
    endpoints?: ServiceMonitorEndpoint[] | null
  }
}

export interface ServicePort {
  name?: string
  port?: number
  targetPort?: string | number
}

/** The fields of a v1 Service this check reads; a V1Service from the client fits. */
export interface ServiceObject {
  metadata?: Metadata
  spec?: { ports?: ServicePort[] | null }
}

export interface WiringInput {
  prometheus: PrometheusObject
  serviceMonitor: ServiceMonitorObject
  /**
   * Labels of the namespaces involved, by name. A namespace missing here is assumed to
   * carry only `kubernetes.io/metadata.name`, which Kubernetes sets on every namespace.
   */
  namespaceLabels: Record<string, Labels | null | undefined>
  /** The Milvus release's Services (the chart renders several in cluster mode). */
  services: ServiceObject[]
}

// --- label selectors --------------------------------------------------------------------

/**
 * Kubernetes LabelSelector semantics: every matchLabels entry and every matchExpressions
 * requirement must hold. An empty selector (`{}`) matches everything; a null or absent
 * selector matches nothing, as for Prometheus' serviceMonitorSelector. An unknown operator,
 * or In/NotIn without values, makes the selector invalid and it matches nothing (the API
 * server would have rejected it).
 */
export function matchesSelector(selector: LabelSelector | null | undefined, labels: Labels | null | undefined): boolean {
  if (selector === null || selector === undefined) return false
  return selectorInvalid(selector) === undefined && unmet(selector, labels ?? {}).length === 0
}

/** Why a selector is invalid, or undefined when it is valid. */
export function selectorInvalid(selector: LabelSelector): string | undefined {
  for (const r of selector.matchExpressions ?? []) {
    const values = r.values ?? []
    switch (r.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) return `${r.operator} on ${r.key} needs at least one value`
        break
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) return `${r.operator} on ${r.key} takes no values`
        break
      default:
        return `unknown operator ${JSON.stringify(r.operator)} on ${r.key} (use In, NotIn, Exists or DoesNotExist)`
    }
  }
  return undefined
}

/** The selector in kubectl's `-l` syntax, e.g. `release=kube-prom,env in (a,b),!legacy`. */
export function describeSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`)
  for (const r of selector.matchExpressions ?? []) {
    const values = (r.values ?? []).join(',')
    if (r.operator === 'In') parts.push(`${r.key} in (${values})`)
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${values})`)
    else if (r.operator === 'Exists') parts.push(r.key)
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`)
    else parts.push(`${r.key} ${r.operator} (${values})`)
  }
  return parts.length === 0 ? 'any labels' : parts.join(',')
}

/** One phrase per requirement the labels fail, e.g. `has no label release`. */
function unmet(selector: LabelSelector, labels: Labels): string[] {
  const reasons: string[] = []
  for (const [key, want] of Object.entries(selector.matchLabels ?? {})) {
    const have = labels[key]
    if (have === undefined) reasons.push(`has no label ${key}`)
    else if (have !== want) reasons.push(`has ${key}=${have}, not ${key}=${want}`)
  }
  for (const r of selector.matchExpressions ?? []) {
    const have = labels[r.key]
    const values = r.values ?? []
    switch (r.operator) {
      case 'In':
        if (have === undefined) reasons.push(`has no label ${r.key}`)
        else if (!values.includes(have)) reasons.push(`has ${r.key}=${have}, not one of ${values.join(', ')}`)
        break
      case 'NotIn':
        // As in Kubernetes, a missing key satisfies NotIn.
        if (have !== undefined && values.includes(have)) reasons.push(`has ${r.key}=${have}, which is excluded`)
        break
      case 'Exists':
        if (have === undefined) reasons.push(`has no label ${r.key}`)
        break
      case 'DoesNotExist':
        if (have !== undefined) reasons.push(`has label ${r.key}, which must be absent`)
        break
      default:
        reasons.push(`cannot be matched by operator ${JSON.stringify(r.operator)}`)
    }
  }
  return reasons
}

// --- the wiring check -------------------------------------------------------------------

const NAME_LABEL = 'kubernetes.io/metadata.name'

function ref(obj: { metadata?: Metadata } | undefined, fallbackNamespace = ''): string {
  const ns = obj?.metadata?.namespace ?? fallbackNamespace
  const name = obj?.metadata?.name ?? '<unnamed>'
  return ns === '' ? name : `${ns}/${name}`
}

function namespaceLabelsOf(input: Pick<WiringInput, 'namespaceLabels'>, namespace: string): Labels {
  return { ...(input.namespaceLabels[namespace] ?? {}), [NAME_LABEL]: namespace }
}

function list(items: string[]): string {
  return items.length === 0 ? '(none)' : items.join(', ')
}

/** Does Prometheus select the ServiceMonitor (or PodMonitor, by its pod monitor selectors), and its namespace? */
function checkPrometheus(
  input: Pick<WiringInput, 'prometheus' | 'namespaceLabels'>,
  sm: { metadata?: Metadata },
  kind: MonitorKind = 'ServiceMonitor',
): string[] {
  const problems: string[] = []
  const prom = input.prometheus
  const promRef = `Prometheus ${ref(prom)}`
  const promNs = prom.metadata?.namespace ?? ''
  const smRef = ref(sm)
  const smNs = sm.metadata?.namespace ?? ''
  const smLabels = sm.metadata?.labels ?? {}
  const field = kind === 'PodMonitor' ? 'podMonitor' : 'serviceMonitor'
  const kinds = `${kind}s`
  const addLabels =
    kind === 'PodMonitor' ? 'the PodMonitor' : "the ServiceMonitor (the Milvus chart's metrics.serviceMonitor.additionalLabels value)"

  const selector = kind === 'PodMonitor' ? prom.spec?.podMonitorSelector : prom.spec?.serviceMonitorSelector
  if (selector === null || selector === undefined) {
    problems.push(
      `${promRef} has no spec.${field}Selector, so it selects no ${kinds} and will never ` +
        `scrape ${smRef}; set spec.${field}Selector (e.g. {} for all, as kube-prometheus does)`,
    )
  } else if (selectorInvalid(selector) !== undefined) {
    problems.push(`${promRef} has an invalid spec.${field}Selector: ${selectorInvalid(selector)}`)
  } else {
    const reasons = unmet(selector, smLabels)
    if (reasons.length > 0) {
      problems.push(
        `${promRef} selects ${kinds} with ${describeSelector(selector)}, but ${smRef} ${reasons.join(' and ')}; ` +
          `add the labels to ${addLabels} ` +
          `or widen the Prometheus spec.${field}Selector`,
      )
    }
  }

  const nsSelector = kind === 'PodMonitor' ? prom.spec?.podMonitorNamespaceSelector : prom.spec?.serviceMonitorNamespaceSelector
  if (nsSelector === null || nsSelector === undefined) {
    // Unset means Prometheus' own namespace only.
    if (smNs !== promNs) {
      problems.push(
        `${promRef} has no spec.${field}NamespaceSelector, so it only reads ${kinds} in ` +
          `namespace ${promNs}, but ${smRef} is in namespace ${smNs}; set ` +
          `spec.${field}NamespaceSelector (e.g. {} for all namespaces)`,
      )
    }
  } else if (selectorInvalid(nsSelector) !== undefined) {
    problems.push(`${promRef} has an invalid spec.${field}NamespaceSelector: ${selectorInvalid(nsSelector)}`)
  } else {
    const reasons = unmet(nsSelector, namespaceLabelsOf(input, smNs))
    if (reasons.length > 0) {
      problems.push(
        `${promRef} reads ${kinds} in namespaces with ${describeSelector(nsSelector)}, but namespace ` +
          `${smNs} (of ${smRef}) ${reasons.join(' and ')}; label the namespace ` +
          `(kubectl label namespace ${smNs} ...) or widen the Prometheus spec.${field}NamespaceSelector`,
      )
    }
  }
  return problems
}

/** The namespaces the ServiceMonitor looks for Services in: a list, or 'any'. */
function serviceNamespaces(input: WiringInput): string[] | 'any' {
  const sm = input.serviceMonitor
  const own = sm.metadata?.namespace ?? ''
  // ignoreNamespaceSelectors makes Prometheus use the ServiceMonitor's own namespace.
  if (input.prometheus.spec?.ignoreNamespaceSelectors === true) return [own]
  const nsSel = sm.spec?.namespaceSelector
  if (nsSel?.any === true) return 'any'
  const names = nsSel?.matchNames ?? []
  return names.length > 0 ? names : [own]
}

function portNames(service: ServiceObject): string[] {
  return (service.spec?.ports ?? []).map((p) => p.name ?? '').filter((n) => n !== '')
}

// targetPort names a container port; statically the closest we can see is a Service port
// forwarding to it (its targetPort, or its port when targetPort is unset).
function servesTargetPort(service: ServiceObject, target: string | number): boolean {
  return (service.spec?.ports ?? []).some((p) => String(p.targetPort ?? p.port) === String(target))
}

function endpointTargets(service: ServiceObject, endpoint: ServiceMonitorEndpoint): boolean {
  if (endpoint.port) return portNames(service).includes(endpoint.port)
  if (endpoint.targetPort !== undefined && endpoint.targetPort !== null && endpoint.targetPort !== '') {
    return servesTargetPort(service, endpoint.targetPort)
  }
  return (service.spec?.ports ?? []).length > 0 // neither set: every port is scraped
}

/** Does the ServiceMonitor select the Milvus Service, in its namespace, on an existing port? */
function checkServiceMonitor(input: WiringInput): string[] {
  const problems: string[] = []
  const sm = input.serviceMonitor
  const smRef = `ServiceMonitor ${ref(sm)}`
  // The operator reads spec.selector as a value, so an absent one is {} and selects every Service.
  const selector: LabelSelector = sm.spec?.selector ?? {}
  const invalid = selectorInvalid(selector)
  if (invalid !== undefined) return [`${smRef} has an invalid spec.selector: ${invalid}`]
  const endpoints = sm.spec?.endpoints ?? []
  if (endpoints.length === 0) {
    problems.push(`${smRef} has no spec.endpoints, so it scrapes nothing; add one with port: metrics and path: /metrics`)
  }
  if (input.services.length === 0) {
    problems.push(`${smRef} has no Milvus Service to select: no Service of the release was found`)
    return problems
  }

  const namespaces = serviceNamespaces(input)
  const inScope = (s: ServiceObject): boolean =>
    namespaces === 'any' || namespaces.includes(s.metadata?.namespace ?? sm.metadata?.namespace ?? '')
  const selected = input.services.filter((s) => unmet(selector, s.metadata?.labels ?? {}).length === 0)
  const selectedInScope = selected.filter(inScope)

  if (selected.length === 0) {
    for (const s of input.services) {
      problems.push(
        `${smRef} selects Services with ${describeSelector(selector)}, but Service ${ref(s)} ` +
          `${unmet(selector, s.metadata?.labels ?? {}).join(' and ')}; fix the ServiceMonitor's spec.selector ` +
          `or the Service's labels`,
      )
    }
    return problems
  }
  if (selectedInScope.length === 0 && namespaces !== 'any') {
    for (const s of selected) {
      const ns = s.metadata?.namespace ?? ''
      problems.push(
        `${smRef} looks for Services only in namespace(s) ${list(namespaces)}, but Service ${ref(s)} is in ` +
          `namespace ${ns}; add ${ns} to the ServiceMonitor's spec.namespaceSelector.matchNames`,
      )
    }
    return problems
  }

  endpoints.forEach((endpoint, i) => {
    if (selectedInScope.some((s) => endpointTargets(s, endpoint))) return
    const services = selectedInScope.map((s) => `${ref(s)} (ports: ${list(portNames(s))})`).join('; ')
    if (endpoint.port) {
      problems.push(
        `${smRef} spec.endpoints[${i}] scrapes port ${endpoint.port}, but no selected Service has a port named ` +
          `${endpoint.port}: ${services}; set spec.endpoints[${i}].port to one of those names ` +
          `(it is the Service port's name, not its number)`,
      )
    } else {
      problems.push(
        `${smRef} spec.endpoints[${i}] scrapes targetPort ${String(endpoint.targetPort)}, but no selected ` +
          `Service forwards to it: ${services}; use port with a Service port name instead`,
      )
    }
  })
  return problems
}

/**
 * Problems that would keep Prometheus from ever scraping Milvus through this ServiceMonitor;
 * an empty list means the wiring is right. Each problem names the label, namespace or port
 * that does not match and what to change.
 */
export function checkWiring(input: WiringInput): string[] {
  return [...checkPrometheus(input, input.serviceMonitor), ...checkServiceMonitor(input)]
}

export interface PodMetricsEndpoint {
  port?: string | null
  portNumber?: number | null
  targetPort?: string | number | null
  path?: string | null
}

/** The fields of a monitoring.coreos.com/v1 PodMonitor this check reads. */
export interface PodMonitorObject {
  metadata?: Metadata
  spec?: {
    selector?: LabelSelector | null
    namespaceSelector?: { any?: boolean | null; matchNames?: string[] | null } | null
    podMetricsEndpoints?: PodMetricsEndpoint[] | null
  }
}

/** The fields of a v1 Pod this check reads. */
export interface PodObject {
  metadata?: Metadata
  spec?: { containers?: Array<{ name?: string; ports?: Array<{ name?: string; containerPort?: number }> | null }> | null }
}

export interface PodMonitorWiringInput {
  prometheus: PrometheusObject
  podMonitor: PodMonitorObject
  namespaceLabels: WiringInput['namespaceLabels']
  /** The pods its selector selects in the namespaces it looks in; undefined when those could not be listed (namespaceSelector any). */
  pods: PodObject[] | undefined
}

/** The namespaces a PodMonitor looks for pods in: a list, or 'any'. */
export function podMonitorNamespaces(pm: PodMonitorObject, prometheus: PrometheusObject): string[] | 'any' {
  const own = pm.metadata?.namespace ?? ''
  if (prometheus.spec?.ignoreNamespaceSelectors === true) return [own]
  if (pm.spec?.namespaceSelector?.any === true) return 'any'
  const names = pm.spec?.namespaceSelector?.matchNames ?? []
  return names.length > 0 ? names : [own]
}

/**
 * The checkWiring of a PodMonitor (Milvus Operator creates one): Prometheus selects it and its
 * namespace, and it selects pods with a container port each of its podMetricsEndpoints names.
 * A PodMonitor selects pods, not Services, so there is no Service check.
 */
export function checkPodMonitorWiring(input: PodMonitorWiringInput): string[] {
  const pm = input.podMonitor
  const pmRef = `PodMonitor ${ref(pm)}`
  const problems = checkPrometheus(input, pm, 'PodMonitor')
  const selector: LabelSelector = pm.spec?.selector ?? {}
  const invalid = selectorInvalid(selector)
  if (invalid !== undefined) return [...problems, `${pmRef} has an invalid spec.selector: ${invalid}`]
  const endpoints = pm.spec?.podMetricsEndpoints ?? []
  if (endpoints.length === 0)
    problems.push(`${pmRef} has no spec.podMetricsEndpoints, so it scrapes nothing; add one with the metrics port's name`)
  if (input.pods === undefined) return problems
  const pods = input.pods.filter((p) => unmet(selector, p.metadata?.labels ?? {}).length === 0)
  if (pods.length === 0) {
    const namespaces = podMonitorNamespaces(pm, input.prometheus)
    problems.push(
      `${pmRef} selects pods with ${describeSelector(selector)} in namespace(s) ${namespaces === 'any' ? 'any' : list(namespaces)}, but there is none; fix the PodMonitor's spec.selector or its spec.namespaceSelector`,
    )
    return problems
  }
  const containerPorts = (p: PodObject) => (p.spec?.containers ?? []).flatMap((c) => c.ports ?? [])
  endpoints.forEach((e, i) => {
    if (!e.port) return // a port number, or every port: nothing to match by name
    if (pods.some((p) => containerPorts(p).some((cp) => cp.name === e.port))) return
    const names = [
      ...new Set(
        pods.flatMap((p) =>
          containerPorts(p)
            .map((cp) => cp.name ?? '')
            .filter((n) => n),
        ),
      ),
    ]
    problems.push(
      `${pmRef} spec.podMetricsEndpoints[${i}] scrapes port ${e.port}, but no selected pod has a container port named ${e.port} (ports: ${list(names)}); set it to one of those names`,
    )
  })
  return problems
}

/** What the release created that later phases use, read from the cluster rather than assumed. */
export interface Wiring {
  monitor: MonitorRef // the ServiceMonitor (or PodMonitor) Prometheus scrapes Milvus through
  milvusService: string // the main Service (gRPC and metrics ports)
  ports: { grpc: number; metrics: number } // its gRPC and metrics ports
  endpoints: Endpoints // in-cluster addresses
}

/** The API path of a ServiceMonitor or PodMonitor. */
export function monitorPath(m: MonitorRef): string {
  return `/apis/monitoring.coreos.com/v1/namespaces/${m.namespace}/${m.kind === 'PodMonitor' ? 'podmonitors' : 'servicemonitors'}/${m.name}`
}

/** A label selector in the API's `labelSelector` syntax ('' for everything). */
function selectorQuery(selector: LabelSelector): string {
  const s = describeSelector(selector)
  return s === 'any labels' ? '' : s
}

/**
 * Reads the monitor (`known`, or the release's ServiceMonitor found by its
 * app.kubernetes.io/instance label), the release's Services and the run's Prometheus (`stack`),
 * and throws one error listing every reason Prometheus would never scrape Milvus (see
 * checkWiring, checkPodMonitorWiring).
 */
export async function discoverWiring(inputs: Inputs, kube: Kube, stack: PrometheusStack, known?: MonitorRef): Promise<Wiring> {
  const instance = encodeURIComponent(`app.kubernetes.io/instance=${inputs.releaseName}`)
  const [found, prometheus, services] = await Promise.all([
    known
      ? kube.get(monitorPath(known))
      : kube
          .get<{ items: KubeObject[] }>(
            `/apis/monitoring.coreos.com/v1/namespaces/${inputs.namespace}/servicemonitors?labelSelector=${instance}`,
          )
          .then((l) => l.items[0]),
    kube.get(`/apis/monitoring.coreos.com/v1/namespaces/${stack.namespace}/prometheuses/${stack.name}`),
    kube.get<{ items: KubeObject[] }>(`/api/v1/namespaces/${inputs.namespace}/services?labelSelector=${instance}`),
  ])
  if (!found) {
    throw new Error(
      `The Milvus release ${inputs.releaseName} rendered no ServiceMonitor in namespace ${inputs.namespace}: ` +
        'check that the values do not disable metrics, and that the chart is the Milvus chart (it renders one when metrics.serviceMonitor.enabled is true).',
    )
  }
  const monitor: MonitorRef = known ?? {
    kind: 'ServiceMonitor',
    namespace: found.metadata.namespace ?? inputs.namespace,
    name: found.metadata.name,
  }
  const subject = `${monitor.kind} ${monitor.namespace}/${monitor.name}`
  const labelsOf = async (names: string[]) =>
    Object.fromEntries(
      (await Promise.all([...new Set(names)].map((n) => kube.get(`/api/v1/namespaces/${n}`)))).map((n) => [
        n.metadata.name,
        n.metadata.labels,
      ]),
    )
  let problems: string[]
  if (monitor.kind === 'PodMonitor') {
    const pm = found as PodMonitorObject
    const scope = podMonitorNamespaces(pm, prometheus as PrometheusObject)
    const selector = pm.spec?.selector ?? {}
    let pods: PodObject[] | undefined
    if (scope === 'any' || selectorInvalid(selector) !== undefined) {
      core.info(`${subject} selects pods in any namespace: its pods and ports are not checked, only whether Prometheus selects it`)
    } else {
      const q = selectorQuery(selector)
      pods = (
        await Promise.all(
          scope.map((n) =>
            kube.get<{ items: KubeObject[] }>(`/api/v1/namespaces/${n}/pods${q ? `?labelSelector=${encodeURIComponent(q)}` : ''}`),
          ),
        )
      ).flatMap((l) => l.items as PodObject[])
    }
    problems = checkPodMonitorWiring({
      prometheus: prometheus as PrometheusObject,
      podMonitor: pm,
      namespaceLabels: await labelsOf([monitor.namespace, stack.namespace]),
      pods,
    })
  } else {
    problems = checkWiring({
      prometheus: prometheus as PrometheusObject,
      serviceMonitor: found as ServiceMonitorObject,
      namespaceLabels: await labelsOf([monitor.namespace, inputs.namespace, stack.namespace]),
      services: services.items as ServiceObject[],
    })
  }
  if (problems.length) {
    throw new Error(`Prometheus would never scrape Milvus through ${subject}:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  }
  core.info(
    monitor.kind === 'PodMonitor'
      ? `${subject} is selected by Prometheus ${refOf(stack)} and selects the Milvus pods (a PodMonitor selects pods: no Service is checked)`
      : `${subject} is selected by Prometheus ${refOf(stack)} and matches the Milvus Service`,
  )
  // The Service with the gRPC port carries the client endpoint (the chart's main Service).
  // Values may rename it or move its ports: both are read from the Service itself.
  const servicePorts = (s: KubeObject) => (s.spec?.ports ?? []) as Array<{ name?: string; port?: number }>
  const port = (s: KubeObject | undefined, name: string) => (s ? servicePorts(s).find((p) => p.name === name)?.port : undefined)
  const main = services.items.find((s) => port(s, 'milvus') && port(s, 'metrics'))
  const defaults = inClusterEndpoints(inputs.namespace, inputs.releaseName, inputs.values, stack)
  const milvusService = main?.metadata.name ?? defaults.milvusEndpoint.split('.')[0]!
  const ports = { grpc: port(main, 'milvus') ?? 19530, metrics: port(main, 'metrics') ?? 9091 }
  return {
    monitor,
    milvusService,
    ports,
    endpoints: {
      ...defaults,
      milvusEndpoint: `${milvusService}.${inputs.namespace}.svc:${ports.grpc}`,
      milvusMetricsUrl: `http://${milvusService}.${inputs.namespace}.svc:${ports.metrics}/metrics`,
    },
  }
}
