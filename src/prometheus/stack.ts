// Reading a resolved PrometheusStack, whichever source (src/prometheus/) provided it.
import { conditionTrue, type Kube, type KubeObject } from '../cluster/kube.ts'
import type { PrometheusRequest } from './api.ts'
import type { PrometheusStack, StackService } from '../types.ts'

/** `ns/name` of a Prometheus. */
export const refOf = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`

/** `http://<svc>.<ns>.svc:<port><prefix>`, or '' for an absent service. */
export function inClusterUrl(s: StackService | undefined): string {
  return s ? `http://${s.name}.${s.namespace}.svc:${s.portNumber}${s.pathPrefix}` : ''
}

/**
 * Requests to the stack's Prometheus through the API server's service proxy, under its route
 * prefix: the one way every phase asks it (the target wait asks each replica instead). With
 * `pod` (a replica of the shard that scrapes the target, when there are several shards), through
 * that pod's proxy: the Service would pick any shard, most of which never saw the target.
 */
export function prometheusRequest(
  kube: Pick<Kube, 'serviceProxyGet'>,
  stack: PrometheusStack,
  opts: { timeoutMs?: number; pod?: string | undefined } = {},
): PrometheusRequest {
  const { namespace, name, port } = stack.service
  const prefix = stack.service.pathPrefix
  const ref = opts.pod ? { namespace: stack.namespace, name: opts.pod, port: 9090, resource: 'pods' as const } : { namespace, name, port }
  return (pathAndQuery, signal) =>
    kube.serviceProxyGet(ref, prefix + pathAndQuery, {
      signal,
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    })
}

/**
 * A Prometheus can scrape once one replica is available: waiting for all of them (the
 * `Available` condition) only adds the slowest pod's start to the run, which on big clusters
 * is most of it.
 */
export function prometheusServing(p: KubeObject | undefined): boolean {
  return conditionTrue(p, 'Available') || (((p?.status ?? {}) as { availableReplicas?: number }).availableReplicas ?? 0) >= 1
}

export async function waitPrometheus(kube: Kube, p: { namespace: string; name: string }, signal: AbortSignal): Promise<void> {
  await kube.waitFor(
    `/apis/monitoring.coreos.com/v1/namespaces/${p.namespace}/prometheuses`,
    { fieldSelector: `metadata.name=${p.name}` },
    (items) => prometheusServing(items.get(`${p.namespace}/${p.name}`)),
    signal,
  )
}
