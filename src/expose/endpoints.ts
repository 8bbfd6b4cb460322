// Exposing what the run deployed: the in-cluster addresses, and the port-forwards that make
// them reachable from the runner for later steps (`expose: port-forward`).
import * as core from '@actions/core'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackRun } from '../context.ts'
import type { Endpoints, Inputs, PrometheusStack } from '../types.ts'
import { inClusterUrl, refOf } from '../prometheus/stack.ts'
import { readForwardStatus, startForwards, type ForwardSpec, type StartedForwards, type SupervisorStatus } from './supervisor.ts'

/** The chart's default name, which its helpers put into every object name. */
const CHART_NAME = 'milvus'

// Go templates' `trunc 63 | trimSuffix "-"`: one trailing '-' at most is removed.
function dnsTrunc(name: string): string {
  const cut = name.slice(0, 63)
  return cut.endsWith('-') ? cut.slice(0, -1) : cut
}

function stringValue(values: Record<string, unknown> | undefined, key: string): string {
  const v = values?.[key]
  return typeof v === 'string' ? v : ''
}

/**
 * Name of the Milvus Service, as the chart's `milvus.fullname` helper makes it (the same in
 * standalone and cluster mode): `<release>-milvus`, or just `<release>` when the release name
 * already contains `milvus`, or `fullnameOverride` / `nameOverride` from the values.
 */
export function milvusServiceName(releaseName: string, values?: Record<string, unknown>): string {
  const fullnameOverride = stringValue(values, 'fullnameOverride')
  if (fullnameOverride !== '') return dnsTrunc(fullnameOverride)
  const name = stringValue(values, 'nameOverride') || CHART_NAME
  return dnsTrunc(releaseName.includes(name) ? releaseName : `${releaseName}-${name}`)
}

/**
 * Service addresses inside the cluster: the stack's (default kube-prometheus' Services in
 * `monitoring`; '' for a Grafana or Alertmanager the stack does not have, and with the
 * Prometheus route prefix), Milvus' in its namespace.
 */
export function inClusterEndpoints(
  namespace: string,
  releaseName: string,
  values: Record<string, unknown> | undefined,
  stack: PrometheusStack,
): Endpoints {
  const milvusHost = `${milvusServiceName(releaseName, values)}.${namespace}.svc`
  return {
    prometheusUrl: inClusterUrl(stack.service),
    grafanaUrl: inClusterUrl(stack.grafana),
    alertmanagerUrl: inClusterUrl(stack.alertmanager),
    milvusEndpoint: `${milvusHost}:19530`,
    milvusMetricsUrl: `http://${milvusHost}:9091/metrics`,
  }
}

/** The Milvus Service's gRPC and metrics ports, as the wiring phase read them. */
export interface MilvusPorts {
  grpc: number
  metrics: number
}
export const DEFAULT_PORTS: MilvusPorts = { grpc: 19530, metrics: 9091 }

/**
 * The forwards of `expose: port-forward` (five with kube-prometheus; no Grafana or Alertmanager
 * forward for a stack without one), the stack's through its Services (`stack`, default
 * kube-prometheus), Milvus' through its main Service, each with the path its probe GETs where the
 * remote speaks HTTP, under the server's route prefix (Milvus' gRPC port is probed by TCP connect).
 */
export function forwardsFor(inputs: Inputs, milvusService: string, ports: MilvusPorts, stack: PrometheusStack): ForwardSpec[] {
  const milvus = `svc/${milvusService}`
  const p = stack.service
  return [
    {
      name: 'prometheus',
      namespace: p.namespace,
      resource: `svc/${p.name}`,
      remotePort: p.portNumber,
      httpPath: `${p.pathPrefix}/-/ready`,
    },
    ...(stack.grafana
      ? [
          {
            name: 'grafana',
            namespace: stack.grafana.namespace,
            resource: `svc/${stack.grafana.name}`,
            remotePort: stack.grafana.portNumber,
            httpPath: '/api/health',
          },
        ]
      : []),
    ...(stack.alertmanager
      ? [
          {
            name: 'alertmanager',
            namespace: stack.alertmanager.namespace,
            resource: `svc/${stack.alertmanager.name}`,
            remotePort: stack.alertmanager.portNumber,
            httpPath: `${stack.alertmanager.pathPrefix}/-/ready`,
          },
        ]
      : []),
    { name: 'milvus', namespace: inputs.namespace, resource: milvus, remotePort: ports.grpc },
    { name: 'milvus-metrics', namespace: inputs.namespace, resource: milvus, remotePort: ports.metrics, httpPath: '/healthz' },
  ]
}

/** The forwards the run waits for; the others (Grafana, Alertmanager) come up in the background. */
export const GATING_FORWARDS: readonly string[] = ['prometheus', 'milvus', 'milvus-metrics']

/** How forwards appear in the log. */
const TITLES: Record<string, string> = {
  prometheus: 'Prometheus',
  grafana: 'Grafana',
  alertmanager: 'Alertmanager',
  milvus: 'Milvus gRPC',
  'milvus-metrics': 'Milvus metrics',
}

/**
 * Which forwards the run starts and which of them it waits for: with `expose: port-forward` all
 * five, waiting for GATING_FORWARDS; with `none`, none (the target wait goes through the API
 * server, not a forward).
 */
export function forwardPlan(
  inputs: Inputs,
  milvusService: string,
  ports: MilvusPorts,
  stack: PrometheusStack,
): { forwards: ForwardSpec[]; waitFor: string[] } {
  const forwards = inputs.expose === 'port-forward' ? forwardsFor(inputs, milvusService, ports, stack) : []
  return { forwards, waitFor: forwards.map((f) => f.name).filter((n) => GATING_FORWARDS.includes(n)) }
}

/**
 * Starts the supervised forwards of forwardPlan and records the supervisor's pid for the post
 * step. Resolves once the waited-for forwards answer a probe (at most 60 s, within the budget);
 * Grafana's and Alertmanager's may still be coming up (see backgroundForwardNotices).
 */
export async function startRunForwards(
  run: StackRun,
  milvus: { service: string; ports: MilvusPorts },
): Promise<StartedForwards | undefined> {
  const { budget, state, inputs, kubectl } = run
  const { forwards, waitFor } = forwardPlan(inputs, milvus.service, milvus.ports, run.stack)
  if (forwards.length === 0) return undefined
  return budget.wait('the port-forwards to become ready', async (signal) => {
    const started = await startForwards({
      kubectlPath: kubectl.path,
      ...(kubectl.conn?.kubeconfig ? { kubeconfig: kubectl.conn.kubeconfig } : {}),
      ...(kubectl.conn?.context ? { context: kubectl.conn.context } : {}),
      forwards,
      waitFor,
      stateDir: mkdtempSync(join(process.env.RUNNER_TEMP ?? tmpdir(), 'milvus-monitoring-forwards-')),
      readyTimeoutMs: Math.min(budget.remainingMs(), 60_000),
      signal,
      onSpawn: (pid) => state.record({ supervisorPid: pid }),
    })
    return started
  })
}

/**
 * One message per started forward outside GATING_FORWARDS that does not answer per the
 * supervisor's status (undefined: nothing written yet, so none answers), naming its local URL,
 * what to check and the last restart reason; e.g. `Grafana is not answering yet at
 * http://127.0.0.1:40124 (svc/grafana in monitoring has no ready pod?); the supervisor keeps
 * retrying. Last restart: exited with code 1: ...`. Never throws: these forwards do not gate the run.
 */
export function backgroundForwardNotices(forwards: StartedForwards, status: SupervisorStatus | undefined): string[] {
  return forwards.forwards.flatMap((f) => {
    if (GATING_FORWARDS.includes(f.name)) return []
    const s = status?.forwards.find((x) => x.name === f.name)
    if (s?.state === 'ready') return []
    const where = s ? ` (${s.resource} in ${s.namespace} has no ready pod?)` : ''
    const last = s?.lastRestart
      ? ` Last restart: ${s.lastRestart.reason}.`
      : s?.lastProbe && !s.lastProbe.ok
        ? ` Last probe: ${s.lastProbe.detail}.`
        : ''
    return [
      `${TITLES[f.name] ?? f.name} is not answering yet at ${f.url}${where}; the supervisor keeps retrying.${last} Its log: ${forwards.logFile}`,
    ]
  })
}

/** The local URL of a started forward, '' when it was not started. */
export function forwardUrl(forwards: StartedForwards, name: string): string {
  return forwards.forwards.find((f) => f.name === name)?.url ?? ''
}

/**
 * A notice for each of Grafana and Alertmanager the stack does not have, e.g. `The stack of
 * Prometheus kps/kps has no Grafana the action could find (a Service labelled
 * app.kubernetes.io/name=grafana in kps): grafana-url is empty.`
 */
export function absentNotices(stack: PrometheusStack): string[] {
  const out: string[] = []
  if (!stack.grafana)
    out.push(
      `The stack of Prometheus ${refOf(stack)} has no Grafana the action could find (a Service labelled app.kubernetes.io/name=grafana in ${stack.namespace}): grafana-url is empty.`,
    )
  if (!stack.alertmanager)
    out.push(
      `The stack of Prometheus ${refOf(stack)} has no Alertmanager the action could find (spec.alerting.alertmanagers names none that exists): alertmanager-url is empty.`,
    )
  return out
}

/**
 * The endpoints handed to later steps: the forwards' local addresses with `expose:
 * port-forward` (a `core.notice` for each background forward not answering yet, see
 * backgroundForwardNotices), the Prometheus one with its route prefix; with `none` (no
 * forwards), the in-cluster ones. A `core.notice` for a Grafana or Alertmanager the stack lacks.
 */
export function exposedEndpoints(forwards: StartedForwards | undefined, inCluster: Endpoints, stack: PrometheusStack): Endpoints {
  for (const notice of absentNotices(stack)) core.notice(notice)
  if (forwards) {
    const url = (name: string) => forwardUrl(forwards, name)
    const hostPort = (u: string) => u.replace(/^https?:\/\//, '')
    for (const notice of backgroundForwardNotices(forwards, readForwardStatus(forwards.stateDir))) core.notice(notice)
    return {
      prometheusUrl: `${url('prometheus')}${stack.service.pathPrefix}`,
      grafanaUrl: url('grafana'),
      alertmanagerUrl: url('alertmanager') && `${url('alertmanager')}${stack.alertmanager?.pathPrefix ?? ''}`,
      milvusEndpoint: hostPort(url('milvus')),
      milvusMetricsUrl: `${url('milvus-metrics')}/metrics`,
    }
  }
  return inCluster
}
