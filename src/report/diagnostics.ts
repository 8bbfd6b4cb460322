// On failure: what a user would otherwise run by hand, each in its own log group. Only
// object states, events and logs are printed, never values or Secrets (secret-looking env values
// in describe output masked).
import * as core from '@actions/core'
import { hasStack, type ClusterRun } from '../context.ts'
import { secretValues } from '../milvus/helm-release.ts'
import { maskDescribe, maskText } from './diagnostics-dir.ts'
import { GROUP_LOG_LINES, lastLines, logCommand, type PodReport } from './pods.ts'

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

/** The log groups, from the pods and logs `pods` collected. */
export async function collectDiagnostics(o: ClusterRun, pods: PodReport): Promise<void> {
  const { kubectl, inputs } = o
  const stack = hasStack(o) ? o.stack : undefined
  const secrets = secretValues(inputs.values)
  const run = async (args: string[]) => {
    const r = await kubectl.run(args, { allowFailure: true })
    return r.stdout + r.stderr
  }
  core.info('Collecting diagnostics')
  const namespaces = [...new Set([inputs.namespace, ...(stack ? [stack.namespace] : [])])]
  for (const ns of namespaces) {
    const podList = await kubectl.run(['get', 'pods', '-n', ns, '-o', 'json'], { allowFailure: true })
    let notReady: string[] = []
    try {
      notReady = notReadyPods(JSON.parse(podList.stdout) as PodList)
    } catch {
      // no pods or no namespace: the events below say why
    }
    await group(`Pods in ${ns} (${notReady.length} not ready)`, () => run(['get', 'pods', '-n', ns, '-o', 'wide']))
    for (const pod of notReady) {
      await group(`Pod ${ns}/${pod} is not ready: describe and events`, async () =>
        maskDescribe(await run(['describe', 'pod', '-n', ns, pod]), secrets),
      )
    }
    await group(`Recent events in ${ns}`, async () =>
      (await run(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp'])).split('\n').slice(-30).join('\n'),
    )
  }
  for (const pod of pods.pods.filter((p) => !p.ready && !namespaces.includes(p.namespace))) {
    await group(`Pod ${pod.namespace}/${pod.name} is not ready: describe and events`, async () =>
      maskDescribe(await run(['describe', 'pod', '-n', pod.namespace, pod.name]), secrets),
    )
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
  for (const pod of pods.pods) {
    const logs = pods.logs.filter((l) => l.pod === pod)
    const state = pod.ready ? 'ready' : `not ready: ${pod.reason}`
    await group(`Logs of ${pod.role} pod ${pod.namespace}/${pod.name} (${state}; last ${GROUP_LOG_LINES} lines each)`, async () =>
      logs
        .map(
          (l) =>
            `--- ${l.container}${l.previous ? ' (previous container)' : ''}: ${logCommand(pod, l.container, l.previous)}\n${maskText(lastLines(l.text, GROUP_LOG_LINES), secrets)}`,
        )
        .join('\n'),
    )
  }
  if (pods.notes.length > 0) await group('Pods not found or not looked for', async () => pods.notes.join('\n'))
}
