// Milvus through its Helm chart: the mode's values, the user's values over them, and the
// ServiceMonitor always on; its namespace and Prometheus' discovery RBAC there, then the release.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as core from '@actions/core'
import YAML from 'yaml'
import type { Budget } from '../budget.ts'
import type { ChartRef, Helm } from '../cluster/helm.ts'
import { CommandError } from '../cluster/kubectl.ts'
import { ApiError, type Kube } from '../cluster/kube.ts'
import { saveRunState, type RunState } from '../state.ts'
import type { Inputs, MilvusMode } from '../types.ts'
import { MONITORING_NAMESPACE } from './kube-prometheus.ts'
import { discoveryRbac, MANAGED_BY, needsRbac } from './rbac.ts'

export type Values = Record<string, unknown>

/** A Pulsar component's requests and JVM heap, small enough for a CI runner. */
const pulsarComponent = (cpu: string, memory: string, mem: string, extra: Values = {}): Values => ({
  replicaCount: 1,
  resources: { requests: { cpu, memory } },
  configData: { PULSAR_MEM: mem, ...extra },
})

/**
 * The mode's values. `standalone` is CI-sized: one Milvus pod, one etcd, standalone MinIO, no
 * Pulsar. `cluster` keeps one Deployment (and one scrape target) per Milvus component, but
 * sized to schedule on one GitHub-hosted runner (4 CPU, 16 GB) beside kube-prometheus: one
 * etcd, standalone MinIO, one ZooKeeper, bookie, broker and proxy with small requests and heaps
 * (the broker writes to one bookie). The chart's own defaults (3 etcd, 4-node MinIO, replicated
 * Pulsar) need several nodes; `values` can restore them.
 */
export function modeValues(mode: MilvusMode): Values {
  if (mode === 'cluster') {
    return {
      cluster: { enabled: true },
      etcd: { replicaCount: 1 },
      minio: { mode: 'standalone', resources: { requests: { memory: '256Mi' } } },
      pulsarv3: {
        enabled: true,
        zookeeper: pulsarComponent('50m', '128Mi', '-Xms64m -Xmx256m'),
        bookkeeper: pulsarComponent('50m', '256Mi', '-Xms128m -Xmx512m -XX:MaxDirectMemorySize=512m'),
        broker: pulsarComponent('50m', '256Mi', '-Xms128m -Xmx512m -XX:MaxDirectMemorySize=512m', {
          managedLedgerDefaultEnsembleSize: '1',
          managedLedgerDefaultWriteQuorum: '1',
          managedLedgerDefaultAckQuorum: '1',
        }),
        proxy: pulsarComponent('50m', '128Mi', '-Xms64m -Xmx256m'),
        autorecovery: { resources: { requests: { cpu: '10m', memory: '64Mi' } } },
      },
    }
  }
  return {
    cluster: { enabled: false },
    etcd: { replicaCount: 1 },
    minio: { mode: 'standalone' },
    pulsarv3: { enabled: false },
    ...CI_TIMING,
  }
}

/**
 * What only costs time in CI, shortened for standalone (see the README's "CI timing" table):
 * readiness checked from 5 s, every 5 s, instead of from 90 s, every 10 s, so the pod is Ready
 * within 5 s of Milvus answering /healthz, which still gates it; liveness checked from 30 s,
 * with the chart's total grace before a restart kept (30 s + 7 x 30 s = 240 s = 90 s + 5 x 30 s);
 * the ServiceMonitor scraping every 10 s instead of 30 s (its 10 s scrapeTimeout still fits),
 * so the first scrape after discovery comes within 10 s. Any of them set in `values` wins.
 */
export const CI_TIMING: Values = {
  readinessProbe: { initialDelaySeconds: 5, periodSeconds: 5 },
  livenessProbe: { initialDelaySeconds: 30, periodSeconds: 30, failureThreshold: 7 },
  metrics: { serviceMonitor: { interval: '10s' } },
}

function isPlainObject(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Helm's own rule: maps merge key by key, anything else is replaced by the later value. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const b = out[k]
    out[k] = isPlainObject(b) && isPlainObject(v) ? mergeValues(b, v) : v
  }
  return out
}

/** The values the action installs with: mode, then the user's, then the ServiceMonitor switch. */
export function releaseValues(mode: MilvusMode, user: Values): Values {
  return mergeValues(mergeValues(modeValues(mode), user), { metrics: { enabled: true, serviceMonitor: { enabled: true } } })
}

const SECRET_KEY = /pass(word)?|secret|token|credential|access_?key|private_?key|api_?key/i

/** String leaves of the values under secret-looking keys: masked in the log before anything runs. */
export function secretValues(values: Values, underSecret = false): string[] {
  const out: string[] = []
  for (const [k, v] of Object.entries(values)) {
    const secret = underSecret || SECRET_KEY.test(k)
    if (isPlainObject(v)) out.push(...secretValues(v, secret))
    else if (Array.isArray(v)) out.push(...secretValues(Object.fromEntries(v.map((x, i) => [String(i), x])), secret))
    else if (secret && (typeof v === 'string' || typeof v === 'number') && String(v).length > 0) out.push(String(v))
  }
  return out
}

/** The release's values (mode, user's, ServiceMonitor on) in a file readable only by the runner's user: its path. */
export function writeValuesFile(inputs: Inputs): string {
  const dir = mkdtempSync(join(process.env.RUNNER_TEMP ?? tmpdir(), 'milvus-values-'))
  const valuesFile = join(dir, 'values.yaml')
  writeFileSync(valuesFile, YAML.stringify(releaseValues(inputs.milvusMode, inputs.values)), { mode: 0o600 })
  return valuesFile
}

export function chartRef(inputs: Inputs): ChartRef {
  return { chart: inputs.milvusChart, repo: inputs.milvusChartRepo, version: inputs.milvusChartVersion }
}

/**
 * Creates the release's namespace when missing (after waiting out a deletion still under way)
 * and adds the discovery RBAC when needed. Runs early, while the CRDs apply: prometheus-operator
 * must know the namespace before the chart's ServiceMonitor arrives there. Records each step
 * in the run state as it happens, for the post step.
 */
export async function prepareNamespace(inputs: Inputs, budget: Budget, c: { kube: Kube; state: RunState }): Promise<void> {
  const { kube, state } = c
  const nsPath = `/api/v1/namespaces/${inputs.namespace}`
  let ns = await kube.find(nsPath)
  if (ns?.metadata.deletionTimestamp) {
    // A re-run right after a cleanup: nothing can be created there until the deletion is done.
    core.info(`Namespace ${inputs.namespace} is being deleted; waiting until it is gone`)
    await budget.wait(`namespace ${inputs.namespace} to finish terminating`, (signal) =>
      kube.waitFor('/api/v1/namespaces', { fieldSelector: `metadata.name=${inputs.namespace}` }, (items) => items.size === 0, signal),
    )
    ns = undefined
  }
  if (!ns) {
    await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: inputs.namespace, labels: { ...MANAGED_BY } } }).catch((e: unknown) => {
      if (!(e instanceof ApiError && e.status === 409)) throw e
    })
    state.createdNamespace = true
    saveRunState(state)
    core.info(`Created namespace ${inputs.namespace}`)
  }
  if (needsRbac(inputs.namespace, inputs.prometheusRbac)) {
    for (const obj of discoveryRbac(inputs.namespace, { namespace: MONITORING_NAMESPACE, name: 'prometheus-k8s' })) {
      const plural = obj.kind === 'Role' ? 'roles' : 'rolebindings'
      await kube.apply(`/apis/rbac.authorization.k8s.io/v1/namespaces/${inputs.namespace}/${plural}`, obj, 'milvus-monitoring-action')
    }
    state.addedRbac = true
    saveRunState(state)
    core.info(`Granted monitoring/prometheus-k8s discovery (services, endpoints, endpointslices, pods) in namespace ${inputs.namespace}`)
  } else if (!inputs.prometheusRbac) {
    core.info('prometheus-rbac is false: no Role or RoleBinding added')
  }
}

/**
 * Helm's own --timeout: a little under what is left of the budget (10 %, at most 30 s), so
 * helm's precise error reaches the user before the action's generic one. In seconds.
 */
export function helmTimeoutSeconds(remainingMs: number): number {
  return Math.max(1, Math.floor((remainingMs - Math.min(30_000, remainingMs * 0.1)) / 1000))
}

/** How long a stopped helm gets to record its release as failed before the run goes on, in ms. */
const HELM_STOP_MS = 30_000

/**
 * `helm upgrade --install --wait` of the release. When the wait ends early (the budget, or a
 * refusal the release watch reported), helm gets SIGTERM and the run waits for it to exit, so
 * the release is left failed, never pending-install or pending-upgrade.
 */
export async function installRelease(inputs: Inputs, budget: Budget, c: { helm: Helm; state: RunState; valuesFile: string }): Promise<void> {
  const chart = chartRef(inputs)
  core.info(`helm upgrade --install ${inputs.releaseName} ${chart.chart}${chart.version ? `@${chart.version}` : ''} (${inputs.milvusMode}) in ${inputs.namespace}`)
  c.state.helmRelease = true
  saveRunState(c.state)
  let running: Promise<unknown> | undefined
  try {
    const out = await budget.wait(`Milvus release ${inputs.releaseName} to become ready (helm --wait)`, (signal, remainingMs) => {
      const p = c.helm.upgradeInstall(
        { release: inputs.releaseName, namespace: inputs.namespace, chart, valuesFiles: [c.valuesFile], timeoutSeconds: helmTimeoutSeconds(remainingMs) },
        signal,
      )
      running = p
      return p
    })
    core.startGroup('helm upgrade --install output')
    core.info(out.stdout)
    core.endGroup()
  } catch (e) {
    if (running) await Promise.race([running.catch(() => undefined), new Promise((r) => setTimeout(r, HELM_STOP_MS).unref())])
    // helm's own words (its --timeout ran out, a template error, a conflict) with the release named.
    if (e instanceof CommandError) throw new Error(`Milvus release ${inputs.releaseName} in ${inputs.namespace}: ${e.message}`, { cause: e })
    throw e
  }
}
