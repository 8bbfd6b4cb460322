// What runs once the Milvus target is up, side by side: the Grafana dashboard, the alert rules
// (applied earlier, awaited here) and the PromQL assertions. Each is its own phase in the timings.
import type { Budget } from '../budget.ts'
import type { Helm } from '../cluster/helm.ts'
import type { Kube } from '../cluster/kube.ts'
import type { Inputs } from '../types.ts'
import { applyAlertRules, type LoadedGroup } from './alert-rules.ts'
import { evaluateAssertions, type AssertionVerdict } from './assertions.ts'
import { loadDashboard, type LoadedDashboard } from './dashboard.ts'
import { serviceProxyRequest } from '../scrape/target-wait.ts'

/**
 * Starts applying the alert rules and waiting until Prometheus loads them (see applyAlertRules)
 * as the phase 'Alert rules'. A rejection ends the whole run at once through `budget.fail`, so
 * a rule the operator refuses is named within seconds rather than after the target wait.
 */
export function startAlertRules(inputs: Inputs, budget: Budget, kube: Kube): Promise<LoadedGroup[]> {
  const rules = budget.phase('Alert rules', () =>
    budget.wait('Prometheus to load the alert rules', (signal) => applyAlertRules(inputs, { kube, request: serviceProxyRequest(kube, undefined, { timeoutMs: 5000 }), signal })),
  )
  rules.catch((e: unknown) => budget.fail(e as Error))
  return rules
}

export interface AfterTargetContext {
  kube: Kube
  helm: Helm
  kubectlPath: string
  budget: Budget
  grafanaUrl: string
  scrapePool: string
  /** The Milvus target's scrape interval, ms (the assertions' default pace). */
  scrapeIntervalMs?: number
  rules: Promise<LoadedGroup[]>
}

/** The dashboard, the rules and the assertions' verdicts; rejects as the first of them does. */
export async function afterTarget(inputs: Inputs, c: AfterTargetContext): Promise<{ dashboard?: LoadedDashboard; alertRules: LoadedGroup[]; assertions: AssertionVerdict[] }> {
  const { budget, kube } = c
  const [dashboard, alertRules, assertions] = await Promise.all([
    budget.phase('Grafana dashboard', () =>
      budget.wait('Grafana to take the Milvus dashboard', (signal) => loadDashboard(inputs, { helm: c.helm, kubectlPath: c.kubectlPath, grafanaUrl: c.grafanaUrl, signal })),
    ),
    c.rules,
    budget.phase('PromQL assertions', () =>
      budget.wait('the PromQL assertions', (signal) =>
        evaluateAssertions(inputs.assertions, {
          request: serviceProxyRequest(kube),
          placeholders: { namespace: inputs.namespace, release: inputs.releaseName, pool: c.scrapePool },
          scrapeIntervalMs: c.scrapeIntervalMs ?? 30_000,
          signal,
        }),
      ),
    ),
  ])
  return { ...(dashboard ? { dashboard } : {}), alertRules, assertions }
}
