// The mixin around the Milvus target: what needs only the stack starts before the target is up,
// so that the step ends soon after it. The alert rules start once their CRD and namespace exist
// (Prometheus then evaluates them while Milvus installs), the Grafana dashboard once the release
// is installed (it needs the release's version and Grafana, not the target); the dashboard data
// check and the PromQL assertions need the target's data and start when it is up; the alert fire
// drill needs only the Prometheus and runs while Milvus installs. Each is its own
// phase in the timings, and each asks the run's Prometheus (run.stack), whichever source provided it.
import * as core from '@actions/core'
import { TimeoutError, type Budget } from '../budget.ts'
import type { StackRun } from '../context.ts'
import { prometheusRequest } from '../prometheus/stack.ts'
import type { AlertDrillResult, AssertionVerdict, DashboardCheck, LoadedDashboard, LoadedGroup } from '../types.ts'
import { rulesNamespaceOf } from './access.ts'
import { runAlertDrill } from './alert-drill.ts'
import { applyAlertRules } from './alert-rules.ts'
import { evaluateAssertions } from './assertions.ts'
import { loadDashboard, readDashboard, type DashboardJson } from './dashboard.ts'
import { checkDashboard, gateProblem } from './dashboard-check.ts'

/**
 * What ends the whole run at once when a wait started before the target fails: its own error,
 * but not the budget's end. Every wait meets that deadline together, and the target wait's
 * message (with the target's last state) is the one to read; the dashboard's load even waits on
 * the target for its deep link. The error still surfaces where the result is awaited.
 */
function failFast(budget: Budget): (e: unknown) => void {
  return (e) => {
    if (!(e instanceof TimeoutError)) budget.fail(e as Error)
  }
}

/**
 * Starts applying the alert rules and waiting until Prometheus loads them (see applyAlertRules)
 * as the phase 'Alert rules'. A rejection ends the whole run at once through `budget.fail`, so
 * a rule the operator refuses is named within seconds rather than after the target wait.
 */
export function startAlertRules(run: StackRun): Promise<LoadedGroup[]> {
  const { budget, kube, stack, inputs } = run
  const rules = budget.phase('Alert rules', async () => {
    const where = await rulesNamespaceOf(run)
    if (where !== inputs.namespace) run.state.record({ rulesNamespace: where })
    return budget.wait('Prometheus to load the alert rules', (signal) =>
      applyAlertRules(inputs, {
        kube,
        stack,
        ruleNamespace: where,
        request: prometheusRequest(kube, stack, { timeoutMs: 5000 }),
        signal,
        // Rules for a release the run verifies as it is (install-milvus: false) stay with that release.
        onCreated: (obj, path) =>
          inputs.installMilvus &&
          obj.metadata.uid &&
          run.state.recordCreated({
            apiVersion: 'monitoring.coreos.com/v1',
            kind: 'PrometheusRule',
            namespace: where,
            name: obj.metadata.name,
            uid: obj.metadata.uid,
            path,
            part: 'release',
          }),
      }),
    )
  })
  rules.catch(failFast(budget))
  return rules
}

/**
 * With alert-drill: starts the alert fire drill (src/mixin/alert-drill.ts) as the phase 'Alert
 * drill' once `after` (the Prometheus serving) resolves; undefined without. It needs only the
 * stack, so it runs while Milvus comes up. A failure (no Alertmanager wired to the Prometheus, a
 * wait cut off) ends the run at once; the failure path waits for the drill to remove its rule
 * and silence (a critical work).
 */
export function startAlertDrill(run: StackRun, after: Promise<unknown> = Promise.resolve()): Promise<AlertDrillResult> | undefined {
  const { budget, kube, stack, inputs } = run
  if (!inputs.alertDrill) return undefined
  const drill = after.then(() =>
    budget.phase('Alert drill', async () => {
      const where = await rulesNamespaceOf(run)
      return budget.wait('the alert fire drill to fire and reach Alertmanager', (signal) =>
        runAlertDrill({
          kube,
          stack,
          ruleNamespace: where,
          milvusNamespace: inputs.namespace,
          release: inputs.releaseName,
          prometheus: prometheusRequest(kube, stack, { timeoutMs: 5000 }),
          record: (target) => run.state.record({ drill: target }),
          signal,
        }),
      )
    }),
  )
  budget.critical(drill).catch(failFast(budget))
  return drill
}

/** A promise and its resolve, for a value known later (the forwarded Grafana URL). */
export function settable<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/** The dashboard under way: its JSON (read once, for Grafana and the data check) and its load into Grafana. */
export interface StartedDashboard {
  json: () => Promise<DashboardJson>
  loaded: Promise<LoadedDashboard | undefined>
}

/**
 * Starts the phase 'Grafana dashboard' (reading the dashboard JSON once, for Grafana and the data
 * check): it retries until Grafana answers, beside the target wait. `grafanaUrl` is awaited only
 * for the deep link. A failure ends the whole run at once through `budget.fail`, as it did when
 * the load ran after the target.
 */
export function startDashboard(run: StackRun, grafanaUrl: Promise<string>): StartedDashboard {
  const { budget, kube, inputs, stack } = run
  let read: Promise<DashboardJson> | undefined
  const json = (): Promise<DashboardJson> =>
    (read ??= budget.wait('the Milvus dashboard JSON', (signal) => readDashboard(inputs, { helm: run.helm, kube, signal })))
  const loaded = budget.phase('Grafana dashboard', () =>
    budget.wait('Grafana to take the Milvus dashboard', (signal) =>
      loadDashboard(inputs, {
        kubectl: run.kubectl,
        kube,
        grafana: stack.grafana,
        installsStack: stack.kubePrometheus,
        grafanaUrl,
        dashboard: json,
        signal,
      }),
    ),
  )
  loaded.catch(failFast(budget))
  return { json, loaded }
}

export interface AfterTarget {
  scrapePool: string
  /** The Milvus target's scrape interval, ms (the assertions' default pace). */
  scrapeIntervalMs?: number
  /** With several shards: the pod of the shard that reports the target up, which the queries ask. */
  shardPod?: string | undefined
  rules: Promise<LoadedGroup[]>
  dashboard: StartedDashboard
  drill?: Promise<AlertDrillResult> | undefined
}

/**
 * The dashboard data check (phase 'Dashboard data'): undefined when dashboard-check is off. With
 * 'report' a check that could not run is a warning; with 'gate' it fails the run, as do query
 * errors and a coverage under dashboard-min-coverage.
 */
async function dashboardData(run: StackRun, c: AfterTarget): Promise<DashboardCheck | undefined> {
  const { budget, kube, inputs, stack } = run
  const gate = inputs.dashboardCheck === 'gate'
  try {
    const check = await budget.wait('the dashboard data check', async (signal) =>
      checkDashboard((await c.dashboard.json()).json, {
        request: prometheusRequest(kube, stack, { timeoutMs: 10_000, pod: c.shardPod }),
        overrides: { namespace: inputs.namespace, instance: inputs.releaseName },
        scrapeIntervalMs: c.scrapeIntervalMs ?? 30_000,
        signal,
      }),
    )
    const withData = check.panels.filter((p) => p.state === 'data').length
    core.info(
      `Dashboard data: ${withData} of ${check.panels.length} panels show data (${check.coverage}%), ${check.panels.filter((p) => p.state === 'error').length} with a query error`,
    )
    const problem = gate ? gateProblem(check, inputs.dashboardMinCoverage) : undefined
    if (problem) throw new Error(problem)
    return check
  } catch (e) {
    if (gate || budget.failure) throw e
    core.warning(`The dashboard data check did not run: ${(e as Error).message}`)
    return undefined
  }
}

/** The dashboard, its data check, the rules, the drill and the assertions' verdicts; rejects as the first of them does. */
export async function afterTarget(
  run: StackRun,
  c: AfterTarget,
): Promise<{
  dashboard?: LoadedDashboard
  dashboardCheck?: DashboardCheck
  alertRules: LoadedGroup[]
  assertions: AssertionVerdict[]
  alertDrill?: AlertDrillResult
}> {
  const { budget, kube, inputs, stack } = run
  const check = inputs.dashboardCheck !== 'off' && (inputs.grafanaDashboard || inputs.dashboardCheck === 'gate')
  const [dashboard, dashboardCheck, alertRules, assertions, alertDrill] = await Promise.all([
    c.dashboard.loaded,
    check ? budget.phase('Dashboard data', () => dashboardData(run, c)) : undefined,
    c.rules,
    budget.phase('PromQL assertions', () =>
      budget.wait('the PromQL assertions', (signal) =>
        evaluateAssertions(inputs.assertions, {
          request: prometheusRequest(kube, stack, { pod: c.shardPod }),
          placeholders: { namespace: inputs.namespace, release: inputs.releaseName, pool: c.scrapePool },
          scrapeIntervalMs: c.scrapeIntervalMs ?? 30_000,
          signal,
        }),
      ),
    ),
    c.drill,
  ])
  return {
    ...(dashboard ? { dashboard } : {}),
    ...(dashboardCheck ? { dashboardCheck } : {}),
    alertRules,
    assertions,
    ...(alertDrill ? { alertDrill } : {}),
  }
}
