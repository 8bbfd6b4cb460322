// The action's main step: parsed inputs flow through the phases to outputs and a summary.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as core from '@actions/core'
import YAML from 'yaml'
import { parseInputs } from './inputs.ts'
import { Budget, TimeoutError, formatDuration } from './budget.ts'
import { installHelm, installKubectl } from './tools.ts'
import { Kube, ApiError, NoClusterError, type KubeObject } from './kube.ts'
import { Kubectl } from './kubectl.ts'
import { Helm } from './helm.ts'
import { retryTransient } from './retry.ts'
import * as kp from './kube-prometheus.ts'
import { releaseValues, secretValues } from './milvus.ts'
import { discoveryRbac, needsRbac, MANAGED_BY } from './rbac.ts'
import { checkWiring, type ServiceMonitorObject, type PrometheusObject, type ServiceObject } from './wiring.ts'
import { scrapePoolFor, waitForTargets, type TargetVerdict } from './prometheus-targets.ts'
import { inClusterEndpoints, setOutputs } from './outputs.ts'
import { writeSummary, writeFailureSummary } from './summary.ts'
import { startForwards, stopForwards } from './port-forward.ts'
import { collectDiagnostics } from './diagnostics.ts'
import { saveRunState, type RunState } from './state.ts'
import type { Endpoints, Inputs, RunResult } from './types.ts'

/** What a failure handler needs to explain itself; filled in as the run goes. */
interface Progress {
  inputs?: Inputs
  kubectl?: Kubectl
  helm?: Helm
  lastVerdict?: TargetVerdict
}

export async function run(): Promise<void> {
  const progress: Progress = {}
  let budget: Budget | undefined
  try {
    const inputs = parseInputs((name) => core.getInput(name))
    progress.inputs = inputs
    for (const secret of secretValues(inputs.values)) core.setSecret(secret)
    budget = new Budget(inputs.timeoutMs)
    const result = await deploy(inputs, budget, progress)
    setOutputs(result)
    await writeSummary(result)
    core.info(`Milvus target up: ${result.targets.map((t) => t.scrapeUrl).join(', ')} (in ${formatDuration(performance.now())})`)
  } catch (e) {
    const error = explain(e, progress)
    core.setFailed(error.message)
    if (progress.kubectl && progress.inputs) {
      await collectDiagnostics({ kubectl: progress.kubectl, helm: progress.helm, inputs: progress.inputs, lastVerdict: progress.lastVerdict }).catch((d: unknown) =>
        core.warning(`Could not collect diagnostics: ${(d as Error).message}`),
      )
    }
    await writeFailureSummary(error, budget?.timings() ?? []).catch(() => undefined)
  }
}

/** One message that says what went wrong and, where the wait was on Prometheus, in what state. */
function explain(e: unknown, progress: Progress): Error {
  const error = e instanceof Error ? e : new Error(String(e))
  if (error instanceof TimeoutError && error.what.includes('Milvus target') && progress.lastVerdict) {
    return new Error(`${error.message}\nLast state of the Milvus target: ${progress.lastVerdict.message}`)
  }
  return error
}

async function deploy(inputs: Inputs, budget: Budget, progress: Progress): Promise<RunResult> {
  const state: RunState = {
    release: inputs.releaseName,
    namespace: inputs.namespace,
    cleanup: inputs.cleanup,
  }
  saveRunState(state)

  const [tools, kube, manifests] = await Promise.all([
    budget.phase('Install kubectl and helm', () => installTools(inputs)),
    budget.phase('Check the cluster', () => budget.wait('the Kubernetes API server to answer', (signal) => preflight(inputs, signal))),
    inputs.installKubePrometheus
      ? budget.phase('Download kube-prometheus', () =>
          kp.fetchManifests(inputs.kubePrometheusVersion, inputs.kubePrometheusUrl).catch((e: unknown) => {
            throw new Error(`Could not download kube-prometheus ${inputs.kubePrometheusVersion} from ${inputs.kubePrometheusUrl}: ${(e as Error).message}. Check kube-prometheus-version and kube-prometheus-url.`)
          }),
        )
      : Promise.resolve(undefined),
  ])
  const kubectl = (progress.kubectl = new Kubectl(tools.kubectl.path))
  const helm = (progress.helm = new Helm(tools.helm.path))
  Object.assign(state, { kubectlPath: tools.kubectl.path, helmPath: tools.helm.path, manifestsDir: manifests?.dir })
  saveRunState(state)

  const onRetry = (what: string) => (attempt: number, error: Error, delayMs: number) =>
    core.info(`${what}: the API server did not answer (${error.message.split('\n')[0]}); retry ${attempt} in ${formatDuration(delayMs)}`)

  if (manifests) {
    await budget.phase('Apply kube-prometheus CRDs', async () => {
      core.startGroup(`Apply kube-prometheus ${manifests.version} manifests/setup (server-side)`)
      try {
        const out = await budget.wait('kube-prometheus manifests/setup to apply', (signal) =>
          retryTransient(() => kp.applySetup(kubectl, manifests), { signal, onRetry: onRetry('Applying manifests/setup') }),
        )
        core.info(out.stdout)
      } finally {
        core.endGroup()
      }
      await budget.wait(`the ${manifests.crdNames.length} kube-prometheus CRDs to be Established`, (signal) => kp.waitCrdsEstablished(kube, manifests.crdNames, signal))
      core.info(`CRDs Established: ${manifests.crdNames.join(', ')}`)
    })
  } else {
    const [crd, prometheus] = await Promise.all([
      kube.find('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com'),
      kube.find(`/apis/monitoring.coreos.com/v1/namespaces/${kp.MONITORING_NAMESPACE}/prometheuses/${kp.PROMETHEUS_NAME}`).catch(() => undefined),
    ])
    if (!crd || !prometheus) {
      throw new Error(
        `install-kube-prometheus is false, but the cluster has no ${crd ? `Prometheus ${kp.MONITORING_NAMESPACE}/${kp.PROMETHEUS_NAME}` : 'ServiceMonitor CRD (servicemonitors.monitoring.coreos.com)'}: ` +
          'install kube-prometheus first, or set install-kube-prometheus: true',
      )
    }
  }

  // Milvus needs only the CRDs; it installs while the rest of kube-prometheus comes up.
  const stack = budget.phase('kube-prometheus ready', async () => {
    if (manifests) {
      await budget.wait('kube-prometheus manifests/ to apply', (signal) =>
        retryTransient(() => kp.applyStack(kubectl, manifests), { signal, onRetry: onRetry('Applying manifests/') }),
      )
      core.info(`Applied kube-prometheus ${manifests.version} manifests/`)
      await budget.wait('the prometheus-operator Deployment to be available', (signal) => kp.waitOperator(kube, signal))
      core.info('prometheus-operator is available')
    }
    await budget.wait(`Prometheus ${kp.MONITORING_NAMESPACE}/${kp.PROMETHEUS_NAME} to have a replica available`, (signal) => kp.waitPrometheus(kube, signal))
    core.info(`Prometheus ${kp.MONITORING_NAMESPACE}/${kp.PROMETHEUS_NAME} has a replica available`)
  })
  const milvus = budget.phase('Milvus installed', () => installMilvus(inputs, budget, { kube, helm, state }))
  await Promise.all([stack, milvus])

  const wiring = await budget.phase('Check the wiring', () => checkMilvusWiring(inputs, kube))
  const inCluster = wiring.endpoints
  const scrapePool = scrapePoolFor(inputs.namespace, wiring.serviceMonitor, 0)

  const forwards = await budget.phase('Start port-forwards', () =>
    budget.wait('the port-forwards to become ready', async (signal) => {
      const all = forwardsFor(inputs, wiring.milvusService)
      const started = await startForwards({
        kubectlPath: tools.kubectl.path,
        forwards: inputs.expose === 'port-forward' ? all : all.filter((f) => f.name === 'prometheus'),
        stateDir: mkdtempSync(join(process.env.RUNNER_TEMP ?? tmpdir(), 'milvus-monitoring-forwards-')),
        readyTimeoutMs: Math.min(budget.remainingMs(), 60_000),
        signal,
      })
      state.supervisorPid = started.supervisorPid
      saveRunState(state)
      return started
    }),
  )
  const url = (name: string) => forwards.forwards.find((f) => f.name === name)?.url ?? ''

  core.info(`Waiting for Prometheus to report scrape pool ${scrapePool} up`)
  const { targets } = await budget.phase('Milvus target up', () =>
    budget.wait('the Milvus target to be reported up by Prometheus', (signal) =>
      waitForTargets({
        baseUrl: url('prometheus'),
        scrapePool,
        namespace: inputs.namespace,
        signal,
        // Prometheus answers these in milliseconds; a request that hangs (a forward to a pod
        // whose Prometheus is still starting) is retried rather than waited on.
        requestTimeoutMs: 5000,
        onProgress: (v) => {
          progress.lastVerdict = v
          core.info(`Milvus target: ${v.message}`)
        },
      }),
    ),
  )

  let endpoints: Endpoints = inCluster
  if (inputs.expose === 'port-forward') {
    const hostPort = (u: string) => u.replace(/^https?:\/\//, '')
    endpoints = {
      prometheusUrl: url('prometheus'),
      grafanaUrl: url('grafana'),
      alertmanagerUrl: url('alertmanager'),
      milvusEndpoint: hostPort(url('milvus')),
      milvusMetricsUrl: `${url('milvus-metrics')}/metrics`,
    }
  } else {
    // The Prometheus forward served only the wait.
    await stopForwards(forwards.supervisorPid)
    delete state.supervisorPid
    saveRunState(state)
  }

  return {
    kubectl: tools.kubectl,
    helm: tools.helm,
    endpoints,
    inCluster,
    serviceMonitor: `${inputs.namespace}/${wiring.serviceMonitor}`,
    scrapePool,
    targets,
    phases: budget.timings(),
  }
}

async function installTools(inputs: Inputs) {
  const [kubectl, helm] = await Promise.all([
    installKubectl(inputs.kubectlVersion, inputs.kubectlBaseUrl),
    installHelm(inputs.helmVersion, inputs.helmBaseUrl),
  ])
  core.addPath(join(kubectl.path, '..'))
  core.addPath(join(helm.path, '..'))
  core.info(`kubectl ${kubectl.version} at ${kubectl.path}; helm ${helm.version} at ${helm.path}`)
  return { kubectl, helm }
}

const PREFLIGHT_MS = 20_000

/** Reachable, its version, and allowed to create what follows; nothing is changed yet. */
async function preflight(inputs: Inputs, signal: AbortSignal): Promise<Kube> {
  const kube = await Kube.load()
  let version: { gitVersion: string; minor: string }
  let lastRefusal: Error | undefined
  try {
    // A moment's grace for an API server still starting, not the whole budget: a cluster that
    // never answers is a configuration problem to report now.
    const reachable = AbortSignal.any([signal, AbortSignal.timeout(PREFLIGHT_MS)])
    version = await retryTransient(() => kube.get('/version', { signal: reachable }) as unknown as Promise<{ gitVersion: string; minor: string }>, {
      signal: reachable,
      initialMs: 500,
      maxMs: 2000,
      onRetry: (_attempt, error) => (lastRefusal = error),
    })
  } catch (e) {
    if (e instanceof ApiError) throw e
    const why = (lastRefusal ?? (e as Error)).message
    throw new NoClusterError(`the API server ${kube.server} (context ${kube.context}) did not answer within ${PREFLIGHT_MS / 1000} s: ${why}`)
  }
  core.info(`Cluster: ${kube.server} (context ${kube.context}), Kubernetes ${version.gitVersion}`)
  const warning = inputs.installKubePrometheus ? kp.compatibilityWarning(inputs.kubePrometheusVersion, parseInt(version.minor, 10)) : ''
  if (warning) core.warning(warning)

  const checks: Array<{ verb: string; group: string; resource: string; namespace?: string }> = [
    { verb: 'create', group: '', resource: 'namespaces' },
    { verb: 'create', group: 'apps', resource: 'deployments', namespace: inputs.namespace },
    { verb: 'create', group: 'apps', resource: 'statefulsets', namespace: inputs.namespace },
    { verb: 'create', group: '', resource: 'services', namespace: inputs.namespace },
  ]
  if (inputs.installKubePrometheus) {
    checks.push(
      { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
      { verb: 'create', group: 'apps', resource: 'daemonsets', namespace: kp.MONITORING_NAMESPACE },
    )
  }
  if (needsRbac(inputs.namespace, inputs.prometheusRbac)) {
    checks.push({ verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: inputs.namespace })
  }
  const denied: string[] = []
  await Promise.all(
    checks.map(async (c) => {
      const review = await kube.request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: c.verb, group: c.group, resource: c.resource, ...(c.namespace ? { namespace: c.namespace } : {}) } },
      })
      if (!review.status?.allowed) denied.push(`${c.verb} ${c.group ? `${c.resource}.${c.group}` : c.resource}${c.namespace ? ` in namespace ${c.namespace}` : ' (cluster-wide)'}`)
    }),
  )
  if (denied.length) {
    throw new Error(`The kubeconfig's identity may not do what the action needs:\n${denied.map((d) => `  - ${d}`).join('\n')}\nUse a cluster-admin kubeconfig (kind's default is one).`)
  }
  return kube
}

async function installMilvus(inputs: Inputs, budget: Budget, c: { kube: Kube; helm: Helm; state: RunState }): Promise<void> {
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
    for (const obj of discoveryRbac(inputs.namespace, { namespace: kp.MONITORING_NAMESPACE, name: 'prometheus-k8s' })) {
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

interface Wiring {
  serviceMonitor: string
  milvusService: string
  endpoints: Endpoints
}

async function checkMilvusWiring(inputs: Inputs, kube: Kube): Promise<Wiring> {
  const instance = encodeURIComponent(`app.kubernetes.io/instance=${inputs.releaseName}`)
  const [sms, prometheus, services, namespaces] = await Promise.all([
    kube.get<{ items: KubeObject[] }>(`/apis/monitoring.coreos.com/v1/namespaces/${inputs.namespace}/servicemonitors?labelSelector=${instance}`),
    kube.get(`/apis/monitoring.coreos.com/v1/namespaces/${kp.MONITORING_NAMESPACE}/prometheuses/${kp.PROMETHEUS_NAME}`),
    kube.get<{ items: KubeObject[] }>(`/api/v1/namespaces/${inputs.namespace}/services?labelSelector=${instance}`),
    Promise.all([inputs.namespace, kp.MONITORING_NAMESPACE].map((n) => kube.get(`/api/v1/namespaces/${n}`))),
  ])
  const sm = sms.items[0]
  if (!sm) {
    throw new Error(
      `The Milvus release ${inputs.releaseName} rendered no ServiceMonitor in namespace ${inputs.namespace}: ` +
        'check that the values do not disable metrics, and that the chart is the Milvus chart (it renders one when metrics.serviceMonitor.enabled is true).',
    )
  }
  const problems = checkWiring({
    prometheus: prometheus as PrometheusObject,
    serviceMonitor: sm as ServiceMonitorObject,
    namespaceLabels: Object.fromEntries(namespaces.map((n) => [n.metadata.name, n.metadata.labels])),
    services: services.items as ServiceObject[],
  })
  if (problems.length) {
    throw new Error(`Prometheus would never scrape Milvus through ServiceMonitor ${inputs.namespace}/${sm.metadata.name}:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  }
  core.info(`ServiceMonitor ${inputs.namespace}/${sm.metadata.name} is selected by Prometheus ${kp.MONITORING_NAMESPACE}/${kp.PROMETHEUS_NAME} and matches the Milvus Service`)
  // The Service with the gRPC port carries the client endpoint (the chart's main Service).
  const ports = (s: KubeObject) => ((s.spec?.ports ?? []) as Array<{ name?: string }>).map((p) => p.name)
  const main = services.items.find((s) => ports(s).includes('milvus') && ports(s).includes('metrics'))
  const defaults = inClusterEndpoints(inputs.namespace, inputs.releaseName, inputs.values)
  const milvusService = main?.metadata.name ?? defaults.milvusEndpoint.split('.')[0]!
  return {
    serviceMonitor: sm.metadata.name,
    milvusService,
    endpoints: {
      ...defaults,
      milvusEndpoint: `${milvusService}.${inputs.namespace}.svc:19530`,
      milvusMetricsUrl: `http://${milvusService}.${inputs.namespace}.svc:9091/metrics`,
    },
  }
}

function forwardsFor(inputs: Inputs, milvusService: string) {
  const m = kp.MONITORING_NAMESPACE
  return [
    { name: 'prometheus', namespace: m, resource: 'svc/prometheus-k8s', remotePort: 9090 },
    { name: 'grafana', namespace: m, resource: 'svc/grafana', remotePort: 3000 },
    { name: 'alertmanager', namespace: m, resource: 'svc/alertmanager-main', remotePort: 9093 },
    { name: 'milvus', namespace: inputs.namespace, resource: `svc/${milvusService}`, remotePort: 19530 },
    { name: 'milvus-metrics', namespace: inputs.namespace, resource: `svc/${milvusService}`, remotePort: 9091 },
  ]
}
