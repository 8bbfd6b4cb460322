// The action's main step: the pipeline alone. Parsed inputs flow through the phases, in the
// order of the README's phase table, to outputs and a summary; each phase's body is in src/phases/.
import * as core from '@actions/core'
import { inputSecrets, parseInputs } from './inputs.ts'
import { Budget, TimeoutError, formatDuration } from './budget.ts'
import { installTools } from './tools/install.ts'
import { Kubectl } from './cluster/kubectl.ts'
import { Helm } from './cluster/helm.ts'
import { preflight } from './preflight.ts'
import type { Kube } from './cluster/kube.ts'
import { applyFirst, applyRest, downloadManifests, restStarted, type Manifests, type StackContext, installCrds, planStack, stackReady } from './prometheus/kube-prometheus.ts'
import { resolvePrometheus } from './prometheus/existing.ts'
import { installRelease, prepareNamespace, secretValues, writeValuesFile } from './milvus/helm-release.ts'
import { checkRelease } from './milvus/pre-install-check.ts'
import { watchRelease } from './milvus/release-watch.ts'
import { ensureScrapeJob } from './scrape/operator-config.ts'
import { discoverWiring } from './milvus/wiring.ts'
import { exposedEndpoints, startRunForwards } from './expose/endpoints.ts'
import { scrapePoolFor, waitForTargetsOnReplicas, type TargetVerdict } from './scrape/target-wait.ts'
import { setOutputs } from './report/outputs.ts'
import { writeSummary, writeFailureSummary } from './report/summary.ts'
import { collectDiagnostics } from './report/diagnostics.ts'
import { saveDiagnostics } from './report/diagnostics-dir.ts'
import { afterTarget, startAlertRules } from './mixin/after-target.ts'
import { requireAssertions } from './mixin/assertions.ts'
import { saveRunState, type RunState } from './state.ts'
import type { Inputs, RunResult } from './types.ts'

interface DeployContext {
  tools: Awaited<ReturnType<typeof installTools>>
  kube: Kube
  helm: Helm
  manifests: Manifests | undefined
  stackContext: StackContext
  state: RunState
  valuesFile: string
}

/** What a failure handler needs to explain itself; filled in as the run goes. */
interface Progress {
  inputs?: Inputs
  kubectl?: Kubectl
  helm?: Helm
  kube?: Kube
  lastVerdict?: TargetVerdict
  diagnosticsDir?: string
  /** After the first wave of kube-prometheus: applies the rest when nothing did yet. */
  completeStack?: () => void
}

export async function run(): Promise<void> {
  const progress: Progress = {}
  let budget: Budget | undefined
  try {
    const inputs = parseInputs((name) => core.getInput(name))
    progress.inputs = inputs
    for (const secret of [...secretValues(inputs.values), ...inputSecrets(inputs)]) core.setSecret(secret)
    budget = new Budget(inputs.timeoutMs)
    const result = await deploy(inputs, budget, progress)
    if (inputs.diagnostics === 'always') result.diagnosticsDir = progress.diagnosticsDir = await saveDiagnostics(progress)
    setOutputs(result)
    await writeSummary(result)
    requireAssertions(result.assertions)
    core.info(`Milvus target up: ${result.targets.map((t) => t.scrapeUrl).join(', ')} (in ${formatDuration(performance.now())})`)
  } catch (e) {
    const error = explain(e, progress)
    core.setFailed(error.message)
    // An apply under way finishes, and one not begun yet is made, so an early end never leaves
    // kube-prometheus half-applied.
    progress.completeStack?.()
    if (budget && !(await budget.settle(60_000))) core.warning('An apply of kube-prometheus did not finish within 60 s of the failure; a re-run applies it again.')
    if (progress.kubectl && progress.inputs) {
      await collectDiagnostics({ kubectl: progress.kubectl, helm: progress.helm, inputs: progress.inputs, lastVerdict: progress.lastVerdict }).catch((d: unknown) =>
        core.warning(`Could not collect diagnostics: ${(d as Error).message}`),
      )
    }
    const diagnosticsDir = (progress.diagnosticsDir ??= await saveDiagnostics(progress))
    if (diagnosticsDir) core.setOutput('diagnostics-dir', diagnosticsDir)
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
  const state: RunState = { release: inputs.releaseName, namespace: inputs.namespace, cleanup: inputs.cleanup }
  saveRunState(state)

  const [tools, kube, manifests] = await Promise.all([
    budget.phase('Install kubectl and helm', () => installTools(inputs)),
    budget.phase('Check the cluster', () => budget.wait('the Kubernetes API server to answer', (signal) => preflight(inputs, signal))),
    inputs.installKubePrometheus ? budget.phase('Download kube-prometheus', () => downloadManifests(inputs)) : Promise.resolve(undefined),
  ])
  progress.kube = kube
  // Every tool pinned to the cluster checked above, whatever the current context becomes.
  const connection = kube.connection()
  const kubectl = (progress.kubectl = new Kubectl(tools.kubectl.path, connection))
  const helm = (progress.helm = new Helm(tools.helm.path, connection, tools.helm.version))
  Object.assign(state, { kubectlPath: tools.kubectl.path, helmPath: tools.helm.path, helmVersion: tools.helm.version, connection })
  saveRunState(state)

  // Everything that can be known before a change: the Prometheus to use, who owns what the
  // action would apply (another stack stops the run here), the release rendered and checked.
  const prometheus = await budget.phase('Find Prometheus', () => resolvePrometheus(inputs, kube))
  const toApply = manifests && (await budget.phase('Check what the cluster has', () => planStack(manifests, kube, state)))
  const valuesFile = writeValuesFile(inputs, prometheus)
  await budget.phase('Check the release', () => checkRelease(inputs, { helm, kube, valuesFile }))

  // The namespace early, so prometheus-operator knows it before the chart's ServiceMonitor arrives.
  const stackContext = { kube, kubectl, budget, prometheus }
  await Promise.all([
    toApply && budget.phase('Apply kube-prometheus CRDs', () => installCrds(toApply, stackContext)),
    budget.phase('Milvus namespace', () => prepareNamespace(inputs, budget, { kube, state, stack: prometheus })),
  ])

  // From here on, a refusal the cluster reports for the release ends every wait at once.
  const watch = watchRelease(kube, inputs.namespace, inputs.releaseName)
  void watch.refusal.then((r) => budget.fail(new Error(`The cluster refused the Milvus release ${inputs.releaseName}: ${r.message}`)))
  try {
    return await deployRelease(inputs, budget, progress, { tools, kube, helm, manifests: toApply, stackContext, state, valuesFile })
  } finally {
    watch.stop()
  }
}

async function deployRelease(inputs: Inputs, budget: Budget, progress: Progress, c: DeployContext): Promise<RunResult> {
  const { tools, kube, helm, manifests, stackContext, state, valuesFile } = c
  // Milvus needs only the CRDs; it installs while the rest of kube-prometheus comes up. The
  // operator and Prometheus go first, so their images are not pulled after everyone else's.
  if (manifests) {
    await budget.phase('Apply prometheus-operator and Prometheus', () => applyFirst(manifests, stackContext))
    progress.completeStack = () => {
      if (restStarted(manifests)) return
      core.info(`Applying the rest of kube-prometheus ${manifests.version} manifests/, so the stack is left whole`)
      applyRest(manifests, stackContext).catch((e: unknown) => core.warning(`Could not apply the rest of kube-prometheus: ${(e as Error).message.split('\n')[0]}; a re-run applies it.`))
    }
  }
  await Promise.all([
    budget.phase('kube-prometheus ready', () => stackReady(manifests, stackContext)),
    budget.phase('Milvus installed', () => installRelease(inputs, budget, { helm, kube, state, valuesFile })),
  ])
  const rules = startAlertRules(inputs, budget, kube)

  const stack = stackContext.prometheus
  const wiring = await budget.phase('Check the wiring', () => discoverWiring(inputs, kube, stack))
  const scrapePool = scrapePoolFor(inputs.namespace, wiring.serviceMonitor, 0)
  await budget.phase('Operator configuration', () =>
    budget.wait(`prometheus-operator to configure scrape pool ${scrapePool}`, (signal) =>
      ensureScrapeJob({
        kube,
        prometheus: stack,
        serviceMonitor: { namespace: inputs.namespace, name: wiring.serviceMonitor },
        scrapePool,
        signal,
      }),
    ),
  )

  // The forwards serve only the endpoints handed to later steps; the target is asked through
  // the API server (each Prometheus replica through its pod proxy), so the two run side by side.
  core.info(`Waiting for Prometheus to report scrape pool ${scrapePool} up (asked through the API server)`)
  const [forwards, { targets }] = await Promise.all([
    budget.phase('Start port-forwards', () =>
      startRunForwards(inputs, { kubectlPath: tools.kubectl.path, milvusService: wiring.milvusService, ports: wiring.ports, budget, state, stack, connection: kube.connection() }),
    ),
    budget.phase('Milvus target up', () =>
      budget.wait('the Milvus target to be reported up by Prometheus', (signal) =>
        waitForTargetsOnReplicas(kube, { namespace: stack.namespace, name: stack.name, port: 9090, service: stack.service, pathPrefix: stack.service.pathPrefix }, {
          scrapePool,
          namespace: inputs.namespace,
          signal,
          // Prometheus answers these in milliseconds; a request that hangs (a Prometheus still
          // starting behind the proxy) is retried rather than waited on.
          requestTimeoutMs: 5000,
          onProgress: (v) => {
            progress.lastVerdict = v
            core.info(`Milvus target: ${v.message}`)
          },
        }),
      ),
    ),
  ])

  const endpoints = exposedEndpoints(forwards, wiring.endpoints, stack)
  const extras = await afterTarget(inputs, { kube, helm, kubectlPath: tools.kubectl.path, budget, grafanaUrl: endpoints.grafanaUrl, scrapePool, scrapeIntervalMs: progress.lastVerdict?.scrapeIntervalMs, rules })
  return {
    ...extras,
    kubectl: tools.kubectl,
    helm: tools.helm,
    endpoints,
    inCluster: wiring.endpoints,
    serviceMonitor: `${inputs.namespace}/${wiring.serviceMonitor}`,
    scrapePool,
    targets,
    phases: budget.timings(),
  }
}
