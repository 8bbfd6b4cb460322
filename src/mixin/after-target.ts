// What runs once the Milvus target is up, side by side: the Grafana dashboard, the alert rules
// (applied earlier, awaited here) and the PromQL assertions. Each is its own phase in the timings,
// and each asks the run's Prometheus (run.stack), whichever source provided it.
import type { StackRun } from '../context.ts'
import { prometheusRequest } from '../prometheus/stack.ts'
import type { AssertionVerdict, LoadedDashboard, LoadedGroup } from '../types.ts'
import { applyAlertRules } from './alert-rules.ts'
import { evaluateAssertions } from './assertions.ts'
import { loadDashboard } from './dashboard.ts'

/**
 * Starts applying the alert rules and waiting until Prometheus loads them (see applyAlertRules)
 * as the phase 'Alert rules'. A rejection ends the whole run at once through `budget.fail`, so
 * a rule the operator refuses is named within seconds rather than after the target wait.
 */
export function startAlertRules(run: StackRun): Promise<LoadedGroup[]> {
  const { budget, kube, stack } = run
  const rules = budget.phase('Alert rules', () =>
    budget.wait('Prometheus to load the alert rules', (signal) => applyAlertRules(run.inputs, { kube, stack, request: prometheusRequest(kube, stack, { timeoutMs: 5000 }), signal })),
  )
  rules.catch((e: unknown) => budget.fail(e as Error))
  return rules
}

export interface AfterTarget {
  /** Grafana's URL for the dashboard's deep link (the forwarded one with expose port-forward). */
  grafanaUrl: string
  scrapePool: string
  /** The Milvus target's scrape interval, ms (the assertions' default pace). */
  scrapeIntervalMs?: number
  rules: Promise<LoadedGroup[]>
}

/** The dashboard, the rules and the assertions' verdicts; rejects as the first of them does. */
export async function afterTarget(run: StackRun, c: AfterTarget): Promise<{ dashboard?: LoadedDashboard; alertRules: LoadedGroup[]; assertions: AssertionVerdict[] }> {
  const { budget, kube, inputs, stack } = run
  const [dashboard, alertRules, assertions] = await Promise.all([
    budget.phase('Grafana dashboard', () =>
      budget.wait('Grafana to take the Milvus dashboard', (signal) => loadDashboard(inputs, { helm: run.helm, kubectl: run.kubectl, kube, grafana: stack.grafana, grafanaUrl: c.grafanaUrl, signal })),
    ),
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
  ])
  return { ...(dashboard ? { dashboard } : {}), alertRules, assertions }
}
