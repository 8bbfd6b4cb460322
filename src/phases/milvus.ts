// Milvus through its Helm chart: the mode's values, the user's values over them, and the
// ServiceMonitor always on; its namespace and Prometheus' discovery RBAC there, then the release.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as core from '@actions/core'
import YAML from 'yaml'
import type { Budget } from '../budget.ts'
import type { Helm } from '../cluster/helm.ts'
import { ApiError, type Kube } from '../cluster/kube.ts'
import { saveRunState, type RunState } from '../state.ts'
import type { Inputs, MilvusMode } from '../types.ts'
import { MONITORING_NAMESPACE } from './kube-prometheus.ts'
import { discoveryRbac, MANAGED_BY, needsRbac } from './rbac.ts'

export type Values = Record<string, unknown>

/** CI-sized standalone: one Milvus pod, one etcd, standalone MinIO, no Pulsar. */
export function modeValues(mode: MilvusMode): Values {
  if (mode === 'cluster') return { cluster: { enabled: true } }
  return {
    cluster: { enabled: false },
    etcd: { replicaCount: 1 },
    minio: { mode: 'standalone' },
    pulsarv3: { enabled: false },
  }
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

/**
 * Creates the namespace when missing (after waiting out a deletion still under way), adds the
 * discovery RBAC when needed, then `helm upgrade --install --wait` within the remaining budget.
 * Records each step in the run state as it happens, for the post step.
 */
export async function installMilvus(inputs: Inputs, budget: Budget, c: { kube: Kube; helm: Helm; state: RunState }): Promise<void> {
  const { kube, helm, state } = c
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

  const dir = mkdtempSync(join(process.env.RUNNER_TEMP ?? tmpdir(), 'milvus-values-'))
  const valuesFile = join(dir, 'values.yaml')
  writeFileSync(valuesFile, YAML.stringify(releaseValues(inputs.milvusMode, inputs.values)), { mode: 0o600 })
  const chart = { chart: inputs.milvusChart, repo: inputs.milvusChartRepo, version: inputs.milvusChartVersion }
  core.info(`helm upgrade --install ${inputs.releaseName} ${chart.chart}${chart.version ? `@${chart.version}` : ''} (${inputs.milvusMode}) in ${inputs.namespace}`)
  state.helmRelease = true
  saveRunState(state)
  const out = await budget.wait(`Milvus release ${inputs.releaseName} to become ready (helm --wait)`, (_signal, remainingMs) =>
    helm.upgradeInstall({ release: inputs.releaseName, namespace: inputs.namespace, chart, valuesFiles: [valuesFile], timeoutSeconds: remainingMs / 1000 }),
  )
  core.startGroup('helm upgrade --install output')
  core.info(out.stdout)
  core.endGroup()
}
