// What runs once the Milvus target is up, side by side: the Grafana dashboard, its data check
// (beside the load: it needs only the dashboard JSON, read once, and Prometheus), the alert rules
// and the alert fire drill (both started earlier, awaited here) and the PromQL assertions. Each is its own phase in the timings,
// and each asks the run's Prometheus (run.stack), whichever source provided it.
import * as core from '@actions/core'
import type { StackRun } from '../context.ts'
import { prometheusRequest } from '../prometheus/stack.ts'
import type { AlertDrillResult, AssertionVerdict, DashboardCheck, LoadedDashboard, LoadedGroup } from '../types.ts'
import { runAlertDrill } from './alert-drill.ts'
import { applyAlertRules, ruleNamespace } from './alert-rules.ts'
import { evaluateAssertions } from './assertions.ts'
import { loadDashboard, readDashboard, type DashboardJson } from './dashboard.ts'
import { checkDashboard, gateProblem } from './dashboard-check.ts'

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
  rules.catch((e: unknown) => budget.fail(e as Error))
  return rules
}

/** The namespace the Prometheus reads the run's PrometheusRules in (see ruleNamespace); throws when none. */
async function rulesNamespaceOf({ kube, stack, inputs }: StackRun): Promise<string> {
  const labels =
    stack.ruleNamespaceSelector === null
      ? undefined
      : (await kube.find(`/api/v1/namespaces/${inputs.namespace}`).catch(() => undefined))?.metadata.labels
  return ruleNamespace(stack, inputs.namespace, labels)
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
  budget.critical(drill).catch((e: unknown) => budget.fail(e as Error))
  return drill
}

export interface AfterTarget {
  /** Grafana's URL for the dashboard's deep link (the forwarded one with expose port-forward). */
  grafanaUrl: string
  scrapePool: string
  /** The Milvus target's scrape interval, ms (the assertions' default pace). */
  scrapeIntervalMs?: number
  rules: Promise<LoadedGroup[]>
  drill?: Promise<AlertDrillResult> | undefined
}

/**
 * The dashboard data check (phase 'Dashboard data'): undefined when dashboard-check is off. With
 * 'report' a check that could not run is a warning; with 'gate' it fails the run, as do query
 * errors and a coverage under dashboard-min-coverage.
 */
async function dashboardData(run: StackRun, c: AfterTarget, dashboard: () => Promise<DashboardJson>): Promise<DashboardCheck | undefined> {
  const { budget, kube, inputs, stack } = run
  const gate = inputs.dashboardCheck === 'gate'
  try {
    const check = await budget.wait('the dashboard data check', async (signal) =>
      checkDashboard((await dashboard()).json, {
        request: prometheusRequest(kube, stack, { timeoutMs: 10_000 }),
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

/** The dashboard, its data check, the rules and the assertions' verdicts; rejects as the first of them does. */
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
  // Read once, when Grafana or the check first asks for it.
  let read: Promise<DashboardJson> | undefined
  const json = (): Promise<DashboardJson> =>
    (read ??= budget.wait('the Milvus dashboard JSON', (signal) => readDashboard(inputs, { helm: run.helm, kube, signal })))
  const [dashboard, dashboardCheck, alertRules, assertions, alertDrill] = await Promise.all([
    budget.phase('Grafana dashboard', () =>
      budget.wait('Grafana to take the Milvus dashboard', (signal) =>
        loadDashboard(inputs, { kubectl: run.kubectl, kube, grafana: stack.grafana, grafanaUrl: c.grafanaUrl, dashboard: json, signal }),
      ),
    ),
    check ? budget.phase('Dashboard data', () => dashboardData(run, c, json)) : undefined,
    c.rules,
    budget.phase('PromQL assertions', () =>
      budget.wait('the PromQL assertions', (signal) =>
        evaluateAssertions(inputs.assertions, {
          request: prometheusRequest(kube, stack),
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
