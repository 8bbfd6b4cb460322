// On failure: what a user would otherwise run by hand, each in its own log group. Only
// object states, events and logs are printed, never values or Secrets.
import * as core from '@actions/core'
import { hasStack, type ClusterRun } from '../context.ts'

interface PodList {
  items: Array<{
    metadata: { name: string; namespace: string }
    status?: { phase?: string; conditions?: Array<{ type: string; status: string }> }
  }>
}

/** Pods that are neither Ready nor finished. */
export function notReadyPods(list: PodList): string[] {
  return list.items
    .filter((p) => p.status?.phase !== 'Succeeded' && !(p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
    .map((p) => p.metadata.name)
}

async function group(title: string, fn: () => Promise<string>): Promise<void> {
  core.startGroup(title)
  try {
    core.info((await fn()).trim() || '(nothing)')
  } catch (e) {
    core.info(`could not collect: ${(e as Error).message}`)
  } finally {
    core.endGroup()
  }
}

export async function collectDiagnostics(o: ClusterRun): Promise<void> {
  const { kubectl, inputs } = o
  const stack = hasStack(o) ? o.stack : undefined
  const run = async (args: string[]) => {
    const r = await kubectl.run(args, { allowFailure: true })
    return r.stdout + r.stderr
  }
  core.info('Collecting diagnostics')
  for (const ns of [...new Set([inputs.namespace, ...(stack ? [stack.namespace] : [])])]) {
    const pods = await kubectl.run(['get', 'pods', '-n', ns, '-o', 'json'], { allowFailure: true })
    let notReady: string[] = []
    try {
      notReady = notReadyPods(JSON.parse(pods.stdout) as PodList)
    } catch {
      // no pods or no namespace: the events below say why
    }
    await group(`Pods in ${ns} (${notReady.length} not ready)`, () => run(['get', 'pods', '-n', ns, '-o', 'wide']))
    for (const pod of notReady.slice(0, 5)) {
      await group(`Pod ${ns}/${pod} is not ready: describe and events`, () => run(['describe', 'pod', '-n', ns, pod]))
    }
    await group(`Recent events in ${ns}`, async () => (await run(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp'])).split('\n').slice(-30).join('\n'))
  }
  if (o.helm) {
    const helm = o.helm
    await group(`helm status ${inputs.releaseName}`, async () => {
      const r = await helm.status(inputs.releaseName, inputs.namespace)
      return r.stdout + r.stderr
    })
  }
  if (o.lastVerdict) {
    const v = o.lastVerdict
    await group('Milvus scrape target', async () =>
      [v.message, ...v.targets.map((t) => `${t.scrapeUrl}: ${t.health}${t.lastError ? ` (lastError: ${t.lastError})` : ''}`)].join('\n'),
    )
  }
  // Where the operator runs is known for the kube-prometheus the action installs.
  if (stack?.kubePrometheus) {
    await group('prometheus-operator logs (last 40 lines)', () => run(['logs', '-n', stack.namespace, 'deploy/prometheus-operator', '-c', 'prometheus-operator', '--tail=40']))
  }
}
