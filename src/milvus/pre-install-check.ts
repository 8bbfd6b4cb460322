// Checking the release before installing it: `helm template` with the merged values, then the
// rendered objects, for what the cluster would refuse only after minutes of waiting. All
// problems are reported in one message, before anything is changed.
import * as core from '@actions/core'
import YAML from 'yaml'
import type { ChartRef, Helm } from '../cluster/helm.ts'
import { ApiError, type Kube, type KubeObject } from '../cluster/kube.ts'
import type { Inputs } from '../types.ts'
import { parseDuration } from '../prometheus/api.ts'

/** The StatefulSet controller labels each pod `controller-revision-hash: <name>-<10-char hash>`, a label value of at most 63 characters. */
/** The chart the inputs name. */
export function chartRef(inputs: Inputs): ChartRef {
  return { chart: inputs.milvusChart, repo: inputs.milvusChartRepo, version: inputs.milvusChartVersion }
}

export const MAX_STATEFULSET_NAME = 52
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/

/** The objects of a rendered YAML stream (empty documents and Helm's comments dropped). */
export function renderedObjects(stream: string): KubeObject[] {
  return YAML.parseAllDocuments(stream)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => !!o && typeof o === 'object' && typeof o.kind === 'string')
}

export interface RenderContext {
  /** Whether something on the cluster gives Services of type LoadBalancer an address. */
  loadBalancers: boolean
}

/**
 * Problems in the rendered release that would keep it from ever becoming ready or scraped, each
 * naming the object, what is wrong and the fix. Pure: table-tested.
 */
export function checkRendered(objects: KubeObject[], ctx: RenderContext): string[] {
  const problems: string[] = []
  for (const o of objects) {
    const name = o.metadata?.name ?? ''
    const id = `${o.kind} ${name}`
    if (o.kind === 'StatefulSet' && name.length > MAX_STATEFULSET_NAME) {
      problems.push(
        `${id}: the name has ${name.length} characters; the StatefulSet controller could create no pod (its controller-revision-hash label would exceed 63 characters). ` +
          `Shorten release-name by ${name.length - MAX_STATEFULSET_NAME} or more characters, or set fullnameOverride in values.`,
      )
    }
    if (o.kind === 'Service') {
      if (!DNS_1035.test(name) || name.length > 63) {
        problems.push(
          `${id}: not a valid Service name (a DNS-1035 label: at most 63 characters, lower-case letters, digits and '-', starting with a letter). Change release-name or fullnameOverride.`,
        )
      }
      if ((o.spec as { type?: string } | undefined)?.type === 'LoadBalancer' && !ctx.loadBalancers) {
        problems.push(
          `${id}: type LoadBalancer, but nothing on this cluster gives LoadBalancer Services an address (none has one), so the release would never be ready. ` +
            "Set the chart's service.type to ClusterIP (the action reaches Milvus through port-forwards), or install a load-balancer provider first.",
        )
      }
    }
    if (o.kind === 'ServiceMonitor') {
      const endpoints = (o.spec as { endpoints?: Array<{ interval?: string; scrapeTimeout?: string }> } | undefined)?.endpoints ?? []
      endpoints.forEach((e, i) => {
        const interval = e.interval ? parseDuration(e.interval) : undefined
        const timeout = e.scrapeTimeout ? parseDuration(e.scrapeTimeout) : undefined
        if (interval !== undefined && timeout !== undefined && timeout > interval) {
          problems.push(
            `${id}: endpoint ${i} has scrapeTimeout ${e.scrapeTimeout} longer than its interval ${e.interval}; prometheus-operator rejects it and Prometheus never scrapes Milvus. ` +
              'Set metrics.serviceMonitor.scrapeTimeout at most metrics.serviceMonitor.interval in values.',
          )
        }
      })
    }
  }
  return problems
}

/** The name of the one Service with both Milvus ports (gRPC `milvus`, `metrics`), with those ports' numbers; undefined when none. */
export function mainService(objects: KubeObject[]): { name: string; grpcPort: number; metricsPort: number } | undefined {
  for (const o of objects) {
    if (o.kind !== 'Service') continue
    const ports = (o.spec as { ports?: Array<{ name?: string; port?: number }> } | undefined)?.ports ?? []
    const grpc = ports.find((p) => p.name === 'milvus')
    const metrics = ports.find((p) => p.name === 'metrics')
    if (grpc?.port && metrics?.port) return { name: o.metadata.name, grpcPort: grpc.port, metricsPort: metrics.port }
  }
  return undefined
}

/**
 * Whether any Service on the cluster has a LoadBalancer address: the sign that something gives
 * them one. Reads at most 500 Services; an identity that may not list them cluster-wide is
 * told so once, and the check is skipped (true).
 */
async function loadBalancersServed(kube: Kube): Promise<boolean> {
  const list = await kube.get<{ items: KubeObject[] }>('/api/v1/services?limit=500').catch((e: unknown) => {
    if (!(e instanceof ApiError && e.status === 403)) throw e
    core.info('The identity may not list Services cluster-wide: whether anything gives LoadBalancer Services an address is not checked')
    return undefined
  })
  if (!list) return true
  return list.items.some(
    (s) => ((s.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress ?? []).length > 0,
  )
}

/**
 * Renders the release as it would be installed (`helm template`, the same chart, version and
 * values file) and throws one error listing every problem checkRendered finds. Changes nothing.
 * A chart that cannot be rendered (bad values, unreachable repository) fails here with helm's
 * message.
 */
export async function checkRelease(
  inputs: Inputs,
  c: { helm: Helm; kube: Kube; valuesFile: string; signal?: AbortSignal },
): Promise<KubeObject[]> {
  const stream = await c.helm.template(
    {
      release: inputs.releaseName,
      namespace: inputs.namespace,
      chart: chartRef(inputs),
      valuesFiles: [c.valuesFile],
      ...(c.kube.serverVersion ? { kubeVersion: c.kube.serverVersion } : {}),
    },
    c.signal,
  )
  const objects = renderedObjects(stream)
  const wantsLoadBalancer = objects.some((o) => o.kind === 'Service' && (o.spec as { type?: string } | undefined)?.type === 'LoadBalancer')
  const problems = checkRendered(objects, { loadBalancers: wantsLoadBalancer ? await loadBalancersServed(c.kube) : true })
  if (problems.length) {
    throw new Error(
      `The Milvus release ${inputs.releaseName} would never become ready or be scraped; nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    )
  }
  core.info(`Rendered release ${inputs.releaseName}: ${objects.length} objects, no problem found`)
  return objects
}
