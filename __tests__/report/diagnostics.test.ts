import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { ClusterRun } from '../../src/context.ts'
import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import { collectDiagnostics } from '../../src/report/diagnostics.ts'
import { podInfos, type PodReport } from '../../src/report/pods.ts'
import { flag, podList, podObject, scriptedKubectl, type Answer } from '../support/scripted-kubectl.ts'

// The log as groups: each group's title and what was printed inside it.
const groups: Array<{ title: string; lines: string[] }> = []
vi.mock('@actions/core', async (importOriginal) => ({
  ...(await importOriginal<typeof import('@actions/core')>()),
  startGroup: (title: string) => groups.push({ title, lines: [] }),
  endGroup: () => undefined,
  info: (line: string) => groups.at(-1)?.lines.push(line),
}))

beforeEach(() => {
  groups.length = 0
})

const crashing = podObject('milvus', 'r-milvus-standalone-0', {
  ready: false,
  containers: [
    {
      name: 'standalone',
      restarts: 1,
      state: { waiting: 'CrashLoopBackOff' },
      lastTerminated: { reason: 'Error', exitCode: 1 },
      ready: false,
    },
  ],
})
const prometheus = podObject('monitoring', 'prometheus-k8s-0', { containers: [{ name: 'prometheus' }] })

const kubectl = scriptedKubectl((args): Answer | undefined => {
  const ns = flag(args, '-n')
  if (args[0] === 'get' && args[1] === 'pods' && args.includes('json'))
    return { stdout: podList(...(ns === 'milvus' ? [crashing] : [prometheus])) }
  if (args[0] === 'get' && args[1] === 'pods') return { stdout: `pods of ${ns}\n` }
  if (args[0] === 'describe') return { stdout: `Name: ${args.at(-1)}\n    Environment:\n      DB_PASSWORD:  pa55\n    Mounts:  <none>\n` }
  if (args[0] === 'get' && args[1] === 'events') return { stdout: `events of ${ns}\n` }
  return undefined
})

function run(): ClusterRun {
  return {
    inputs: { namespace: 'milvus', releaseName: 'r', values: { minio: { secretKey: 's3cr3t' } } },
    kubectl,
    stack: KUBE_PROMETHEUS_STACK,
  } as unknown as ClusterRun
}

const pods: PodReport = (() => {
  const [milvus] = podInfos(JSON.parse(podList(crashing)) as never, 'Milvus')
  const [prom] = podInfos(JSON.parse(podList(prometheus)) as never, 'Prometheus')
  const many = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n'
  return {
    pods: [milvus!, prom!],
    notes: ['prometheus-operator pods: none labelled app.kubernetes.io/name=prometheus-operator in monitoring.'],
    logs: [
      { pod: milvus!, container: 'standalone', previous: false, text: 'starting\n' },
      { pod: milvus!, container: 'standalone', previous: true, text: 'panic: minio secret s3cr3t refused\n' },
      { pod: prom!, container: 'prometheus', previous: false, text: many },
    ],
  }
})()

describe('collectDiagnostics', () => {
  it("prints each pod not ready described (secret env values masked), then every pod's logs, cut to their ends", async () => {
    await collectDiagnostics(run(), pods)
    const titles = groups.map((g) => g.title)
    expect(titles).toEqual([
      'Pods in milvus (1 not ready)',
      'Pod milvus/r-milvus-standalone-0 is not ready: describe and events',
      'Recent events in milvus',
      'Pods in monitoring (0 not ready)',
      'Recent events in monitoring',
      'Logs of Milvus pod milvus/r-milvus-standalone-0 (not ready: CrashLoopBackOff: container standalone, 1 restart, last Error, exit 1; last 60 lines each)',
      'Logs of Prometheus pod monitoring/prometheus-k8s-0 (ready; last 60 lines each)',
      'Pods not found or not looked for',
    ])
    const text = (title: string) => groups.find((g) => g.title.startsWith(title))!.lines.join('\n')
    expect(text('Pod milvus/r-milvus')).toContain('DB_PASSWORD:  ***')
    expect(text('Pod milvus/r-milvus')).not.toContain('pa55')
    const milvusLogs = text('Logs of Milvus')
    expect(milvusLogs).toContain('--- standalone: kubectl logs -n milvus r-milvus-standalone-0 -c standalone\nstarting')
    expect(milvusLogs).toContain(
      '--- standalone (previous container): kubectl logs -n milvus r-milvus-standalone-0 -c standalone --previous\npanic: minio secret *** refused',
    )
    const promLogs = text('Logs of Prometheus').split('\n')
    expect(promLogs[1]).toBe('line 40')
    expect(promLogs.at(-1)).toBe('line 99')
    expect(text('Pods not found')).toContain('prometheus-operator pods: none labelled')
  })
})
