// The action's main step: the pipeline alone. Parsed inputs flow through the phases, in the
// order of docs/phases.md, to outputs and a summary. What varies sits behind two seams chosen
// here once: the Prometheus source (src/prometheus/) and the Milvus source (src/milvus/).
import * as core from '@actions/core'
import { Budget, TimeoutError, formatDuration } from './budget.ts'
import { Helm } from './cluster/helm.ts'
import { Kubectl, stopRunningTools } from './cluster/kubectl.ts'
import { advance, hasCluster, hasStack, type ClusterRun, type Run, type StackRun } from './context.ts'
import { exposedEndpoints, startRunForwards } from './expose/endpoints.ts'
import { inputSecrets, parseInputs } from './inputs.ts'
import { secretValues } from './milvus/helm-release.ts'
import { milvusSource, type MilvusSource } from './milvus/index.ts'
import { watchRelease } from './milvus/release-watch.ts'
import { discoverWiring } from './milvus/wiring.ts'
import { afterTarget, settable, startAlertDrill, startAlertRules, startDashboard } from './mixin/after-target.ts'
import { requireAssertions } from './mixin/assertions.ts'
import { clusterFirst, preflight, preflightStack } from './preflight.ts'
import { prometheusSource, type PrometheusSource } from './prometheus/index.ts'
import { collectDiagnostics } from './report/diagnostics.ts'
import { saveDiagnostics } from './report/diagnostics-dir.ts'
import { collectPods, type PodReport } from './report/pods.ts'
import { setOutputs } from './report/outputs.ts'
import { writeFailureSummary, writeSummary } from './report/summary.ts'
import { ensureScrapeJob } from './scrape/operator-config.ts'
import { scrapePoolFor, waitForMilvusTarget } from './scrape/target-wait.ts'
import { StateRecorder } from './state.ts'
import { endReleaseHolds, holderIdentity } from './holds.ts'
import { Transfers } from './tools/download.ts'
import { installTools } from './tools/install.ts'
import type { AlertDrillResult, LoadedGroup, RunResult } from './types.ts'

export async function run(): Promise<void> {
  let current: Run | undefined
  let prometheus: PrometheusSource | undefined
  let diagnosticsDir: string | undefined
  try {
    const inputs = parseInputs((name) => core.getInput(name))
    for (const secret of [...secretValues(inputs.values), ...inputSecrets(inputs)]) core.setSecret(secret)
    const state = new StateRecorder({
      release: inputs.releaseName,
      namespace: inputs.namespace,
      cleanup: inputs.cleanup,
      holder: holderIdentity(),
    })
    current = { inputs, budget: new Budget(inputs.timeoutMs), state }
    prometheus = prometheusSource(inputs)
    const result = await deploy(current, prometheus, milvusSource(inputs))
    if (inputs.diagnostics === 'always') result.diagnosticsDir = diagnosticsDir = await saveDiagnostics(current)
    setOutputs(result)
    await writeSummary(result)
    requireAssertions(result.assertions)
    core.info(`Milvus target up: ${result.targets.map((t) => t.scrapeUrl).join(', ')} (in ${formatDuration(performance.now())})`)
  } catch (e) {
    const error = explain(e, current)
    // The timeline up to the failure, before the time spent on diagnostics.
    const phases = current?.budget.timings() ?? []
    core.setFailed(error.message)
    if (current && hasStack(current)) prometheus?.abandon(current)
    if (current && !(await current.budget.settle(60_000)))
      core.warning('An apply of kube-prometheus did not finish within 60 s of the failure; a re-run applies it again.')
    let pods: PodReport | undefined
    if (current && hasCluster(current)) {
      // Found and read once, for the log groups, the folder and the summary.
      pods = await collectPods(current.kubectl, current.inputs, hasStack(current) ? current.stack : undefined)
      await collectDiagnostics(current, pods).catch((d: unknown) => core.warning(`Could not collect diagnostics: ${(d as Error).message}`))
    }
    diagnosticsDir ??= current && (await saveDiagnostics(current, pods))
    if (diagnosticsDir) core.setOutput('diagnostics-dir', diagnosticsDir)
    const startedAt = current?.budget.startedAt ?? Date.now()
    await writeFailureSummary({ error, phases, startedAt, diagnosticsDir, pods, stepId: process.env['GITHUB_ACTION'] }).catch(
      () => undefined,
    )
  }
  // The release is held while the main step runs: another job may take it from here.
  await endReleaseHolds()
  // A helm that ignored the end of its wait is stopped here, before the post step deletes.
  const stopped = await stopRunningTools()
  if (stopped) core.info(`Stopped ${stopped} kubectl or helm process(es) still running at the end of the step`)
}

/** One message that says what went wrong and, where the wait was on Prometheus, in what state. */
function explain(e: unknown, run: Run | undefined): Error {
  const error = e instanceof Error ? e : new Error(String(e))
  if (error instanceof TimeoutError && error.what.includes('Milvus target') && run?.lastVerdict) {
    return new Error(`${error.message}\nLast state of the Milvus target: ${run.lastVerdict.message}`)
  }
  return error
}

async function deploy(run: Run, prometheus: PrometheusSource, milvus: MilvusSource): Promise<RunResult> {
  const { inputs, budget, state } = run
  const checked = budget.phase('Check the cluster', () =>
    budget.wait('the Kubernetes API server to answer', (signal) => preflight(inputs, prometheus, signal)),
  )
  const [tools, kube] = await clusterFirst(checked, [
    budget.phase('Install kubectl and helm', () => {
      const transfers = new Transfers()
      return budget.wait(
        () => `kubectl and helm to download${transfers.describe()}`,
        (signal) => installTools(inputs, signal, transfers),
      )
    }),
    prometheus.fetch(run),
  ])
  // Every tool pinned to the cluster checked above, whatever the current context becomes.
  const connection = kube.connection()
  const cluster: ClusterRun = advance(run, {
    tools,
    kube,
    kubectl: new Kubectl(tools.kubectl.path, connection),
    helm: new Helm(tools.helm.path, connection, tools.helm.version),
  })
  state.record({ kubectlPath: tools.kubectl.path, helmPath: tools.helm.path, helmVersion: tools.helm.version, connection })

  // Everything that can be known before a change: the Prometheus to use (another stack stops the
  // run here), then the release rendered and checked against it, and what the rules and the
  // drill need of it.
  const stacked: StackRun = advance(cluster, { stack: await prometheus.resolve(cluster) })
  await Promise.all([milvus.check(stacked), preflightStack(stacked)])

  // The namespace early, so prometheus-operator knows it before the chart's ServiceMonitor arrives.
  await Promise.all([prometheus.prepare(stacked), milvus.prepare(stacked)])
  // The rules as soon as their CRD and namespace exist: Prometheus loads them when it starts (or
  // at its next reload) and evaluates them on its own schedule, so the first evaluation is behind
  // us by the time the target is up instead of adding to the step's tail.
  const rules = startAlertRules(stacked)

  // From here on, a refusal the cluster reports for the release ends every wait at once.
  const watch = watchRelease(kube, inputs.namespace, inputs.releaseName)
  void watch.refusal.then((r) => budget.fail(new Error(`The cluster refused the Milvus release ${inputs.releaseName}: ${r.message}`)))
  try {
    // Milvus needs only the CRDs; it installs while the rest of the stack comes up.
    await prometheus.start(stacked)
    const ready = prometheus.ready(stacked)
    // The alert fire drill needs only the Prometheus: it runs while Milvus installs.
    const drill = startAlertDrill(stacked, ready)
    await Promise.all([ready, milvus.install(stacked)])
    return await monitor(stacked, milvus, { rules, drill })
  } finally {
    watch.stop()
  }
}

/** From an installed release to its target up, then the mixin: the same whichever sources ran. */
async function monitor(
  run: StackRun,
  milvus: MilvusSource,
  started: { rules: Promise<LoadedGroup[]>; drill: Promise<AlertDrillResult> | undefined },
): Promise<RunResult> {
  const { inputs, budget, kube, stack } = run
  // The dashboard needs only the installed release (its version) and Grafana, not the target:
  // it loads while the target is awaited. Its deep link waits for the forwards' Grafana URL.
  const grafanaUrl = settable<string>()
  const dashboard = startDashboard(run, grafanaUrl.promise)
  const wiring = await budget.phase('Check the wiring', () => discoverWiring(inputs, kube, stack, milvus.monitor))
  const { monitor } = wiring
  const scrapePool = scrapePoolFor(monitor.namespace, monitor.name, 0, monitor.kind)
  await budget.phase('Operator configuration', () =>
    budget.wait(`prometheus-operator to configure scrape pool ${scrapePool}`, (signal) =>
      // A monitor of a release the run did not install is never touched.
      ensureScrapeJob({ kube, prometheus: stack, monitor, scrapePool, signal, touch: milvus.installs }),
    ),
  )

  // The forwards serve only the endpoints handed to later steps; the target is asked through
  // the API server (each Prometheus replica through its pod proxy), so the two run side by side,
  // and what needs the target's data starts once it is up, without waiting for the forwards.
  core.info(`Waiting for Prometheus to report scrape pool ${scrapePool} up (asked through the API server)`)
  const forwards = budget.phase('Start port-forwards', () => startRunForwards(run, { service: wiring.milvusService, ports: wiring.ports }))
  forwards.catch((e: unknown) => budget.fail(e as Error))
  const { targets, shardPod } = await budget.phase('Milvus target up', () =>
    budget.wait('the Milvus target to be reported up by Prometheus', (signal) => waitForMilvusTarget(run, scrapePool, signal)),
  )
  const after = afterTarget(run, { scrapePool, scrapeIntervalMs: run.lastVerdict?.scrapeIntervalMs, shardPod, ...started, dashboard })
  after.catch((e: unknown) => budget.fail(e as Error))
  const endpoints = exposedEndpoints(await forwards, wiring.endpoints, stack)
  grafanaUrl.resolve(endpoints.grafanaUrl)
  const extras = await after
  return {
    ...extras,
    kubectl: run.tools.kubectl,
    helm: run.tools.helm,
    endpoints,
    inCluster: wiring.endpoints,
    serviceMonitor: `${monitor.namespace}/${monitor.name}`,
    scrapePool,
    targets,
    phases: budget.timings(),
    startedAt: budget.startedAt,
  }
}
