import { describe, expect, it } from 'vitest'
import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import { capTail, collectLogs, findPods, lastLines, logFile, podInfos, type PodInfo } from '../../src/report/pods.ts'
import type { PrometheusStack } from '../../src/types.ts'
import { flag, podList, podObject, scriptedKubectl, type Answer } from '../support/scripted-kubectl.ts'

const inputs = { namespace: 'milvus', releaseName: 'r' }
const otherStack: PrometheusStack = { ...KUBE_PROMETHEUS_STACK, namespace: 'observability', name: 'main', kubePrometheus: false }

const crashing = podObject('milvus', 'r-milvus-standalone-0', {
  ready: false,
  containers: [
    { name: 'config', init: true, state: { terminated: 'Completed', exitCode: 0 } },
    {
      name: 'standalone',
      restarts: 3,
      state: { waiting: 'CrashLoopBackOff' },
      lastTerminated: { reason: 'Error', exitCode: 1 },
      ready: false,
    },
  ],
})
const unscheduled = podObject('milvus', 'r-etcd-0', {
  phase: 'Pending',
  conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu.' }],
  containers: [],
})
const creating = podObject('milvus', 'r-minio-0', {
  ready: false,
  containers: [{ name: 'minio', state: { waiting: 'ContainerCreating' }, ready: false }],
})
const running = podObject('observability', 'prometheus-main-0', { containers: [{ name: 'prometheus' }, { name: 'config-reloader' }] })

describe('podInfos', () => {
  it('reads why a pod is not ready in the cluster words: a waiting container, the scheduler', () => {
    const pods = podInfos(JSON.parse(podList(crashing, unscheduled, creating, running)) as never, 'Milvus')
    expect(pods.map((p) => [p.name, p.ready, p.reason])).toEqual([
      ['r-milvus-standalone-0', false, 'CrashLoopBackOff: container standalone, 3 restarts, last Error, exit 1'],
      ['r-etcd-0', false, 'Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.'],
      ['r-minio-0', false, 'ContainerCreating: container minio'],
      ['prometheus-main-0', true, ''],
    ])
    expect(pods[0]!.containers).toEqual([
      { name: 'config', init: true, restarts: 0, started: true, waiting: '', lastEnd: 'Completed, exit 0' },
      { name: 'standalone', init: false, restarts: 3, started: true, waiting: 'CrashLoopBackOff', lastEnd: 'Error, exit 1' },
    ])
    expect(pods[2]!.containers[0]!.started).toBe(false)
  })
})

/** A kubectl whose `get pods` answers per namespace and selector from `lists`; `refuse` for a namespace ('*' for --all-namespaces) answers Forbidden. */
function clusterWith(lists: Record<string, object[]>, refuse: string[] = []) {
  return scriptedKubectl((args): Answer | undefined => {
    if (args[0] !== 'get' || args[1] !== 'pods') return undefined
    const ns = args.includes('--all-namespaces') ? '*' : flag(args, '-n')!
    if (refuse.includes(ns)) {
      return {
        stderr: `Error from server (Forbidden): pods is forbidden: User "ci" cannot list resource "pods" in API group "" at the cluster scope\n`,
        exitCode: 1,
      }
    }
    const selector = flag(args, '-l')!
    return { stdout: podList(...(lists[`${ns} ${selector}`] ?? [])) }
  })
}

describe('findPods', () => {
  it("finds the release's pods, Prometheus' and, for kube-prometheus, the operator beside it", async () => {
    const operator = podObject('monitoring', 'prometheus-operator-6d9f', {
      containers: [{ name: 'prometheus-operator' }, { name: 'kube-rbac-proxy' }],
    })
    const minio = podObject('milvus', 'r-minio-7c9d', { containers: [{ name: 'minio' }] })
    const kubectl = clusterWith({
      'milvus app.kubernetes.io/instance=r': [crashing],
      // MinIO's and Pulsar's charts label their pods `release`, not app.kubernetes.io/instance.
      'milvus release=r': [minio],
      'monitoring operator.prometheus.io/name=k8s': [podObject('monitoring', 'prometheus-k8s-0', { containers: [{ name: 'prometheus' }] })],
      'monitoring app.kubernetes.io/name=prometheus-operator': [operator],
    })
    const { pods, notes } = await findPods(kubectl, inputs, KUBE_PROMETHEUS_STACK)
    expect(pods.map((p) => `${p.role} ${p.namespace}/${p.name}`)).toEqual([
      'Milvus milvus/r-milvus-standalone-0',
      'Milvus milvus/r-minio-7c9d',
      'Prometheus monitoring/prometheus-k8s-0',
      'prometheus-operator monitoring/prometheus-operator-6d9f',
    ])
    expect(notes).toEqual([])
    expect(kubectl.calls.some((c) => c.includes('--all-namespaces'))).toBe(false)
  })

  it("finds another stack's operator wherever it runs, by either chart's label, once", async () => {
    const operator = podObject('kps', 'kps-operator-5c7b', { containers: [{ name: 'kube-prometheus-stack' }] })
    const kubectl = clusterWith({
      'milvus app.kubernetes.io/instance=r': [crashing],
      'observability operator.prometheus.io/name=main': [running],
      '* app.kubernetes.io/component=prometheus-operator': [operator],
    })
    const { pods, notes } = await findPods(kubectl, inputs, otherStack)
    expect(pods.filter((p) => p.role === 'prometheus-operator').map((p) => `${p.namespace}/${p.name}`)).toEqual(['kps/kps-operator-5c7b'])
    expect(notes).toEqual([])
  })

  it('looks beside Prometheus when the identity may not list pods cluster-wide, and says why it skipped the operator', async () => {
    const kubectl = clusterWith(
      { 'milvus app.kubernetes.io/instance=r': [crashing], 'observability operator.prometheus.io/name=main': [running] },
      ['*'],
    )
    const { pods, notes } = await findPods(kubectl, inputs, otherStack)
    expect(pods.map((p) => p.role)).toEqual(['Milvus', 'Prometheus'])
    expect(notes).toHaveLength(1)
    expect(notes[0]).toMatch(
      /^prometheus-operator pods: skipped: the identity may not list pods in every namespace \(Error from server \(Forbidden\).*\), and none labelled app.kubernetes.io\/name=prometheus-operator or app.kubernetes.io\/component=prometheus-operator is in observability\.$/,
    )
  })

  it('says which pods it found none of, and that the stack was never resolved', async () => {
    const { pods, notes } = await findPods(clusterWith({}), inputs)
    expect(pods).toEqual([])
    expect(notes).toEqual([
      'Prometheus and prometheus-operator pods: not looked for, the run ended before it resolved its Prometheus.',
      'Milvus pods (app.kubernetes.io/instance=r or release=r in milvus): none found.',
    ])
  })
})

describe('collectLogs', () => {
  const [pod] = podInfos(JSON.parse(podList(crashing)) as never, 'Milvus') as [PodInfo]
  const [notStarted] = podInfos(JSON.parse(podList(creating)) as never, 'Milvus') as [PodInfo]

  it("reads each container's log, the previous container's where it restarted, and none of a container that never started", async () => {
    const kubectl = scriptedKubectl((args) => {
      if (args[0] !== 'logs') return undefined
      const previous = args.includes('--previous')
      return { stdout: `${flag(args, '-c')}${previous ? ' previous' : ''} line\n` }
    })
    const logs = await collectLogs(kubectl, [pod, notStarted], { tailLines: 100, maxBytes: 1000 })
    expect(logs.map((l) => [logFile(l), l.text])).toEqual([
      ['logs/milvus/r-milvus-standalone-0/config.log', 'config line\n'],
      ['logs/milvus/r-milvus-standalone-0/standalone.log', 'standalone line\n'],
      ['logs/milvus/r-milvus-standalone-0/standalone.previous.log', 'standalone previous line\n'],
      ['logs/milvus/r-minio-0/minio.log', '(no log: the container has not started: ContainerCreating)\n'],
    ])
    expect(kubectl.calls).toContainEqual([
      'logs',
      '-n',
      'milvus',
      'r-milvus-standalone-0',
      '-c',
      'standalone',
      '--previous',
      '--tail=100',
      '--request-timeout=20s',
    ])
    expect(kubectl.calls.filter((c) => c.includes('r-minio-0'))).toEqual([])
  })

  it('keeps the end of a long log and says in it what was cut and how to read the whole', async () => {
    const long = Array.from({ length: 50 }, (_, i) => `line ${String(i).padStart(2, '0')} ${'x'.repeat(40)}`).join('\n') + '\n'
    const kubectl = scriptedKubectl((args) => (args[0] === 'logs' ? { stdout: long } : undefined))
    const [config] = await collectLogs(kubectl, [{ ...pod, containers: [pod.containers[0]!] }], { tailLines: 50, maxBytes: 500 })
    const [head, ...rest] = config!.text.split('\n')
    expect(head).toMatch(
      /^\[cut: only its last 50 lines were read; the first \d+ bytes of those are left out to keep 500 bytes; the whole log: kubectl logs -n milvus r-milvus-standalone-0 -c config\]$/,
    )
    expect(rest[0]).toMatch(/^line \d\d x+$/)
    expect(rest.at(-2)).toMatch(/^line 49 /)
    expect(Buffer.byteLength(rest.join('\n'))).toBeLessThanOrEqual(500)
  })

  it('says why a log could not be read', async () => {
    const kubectl = scriptedKubectl(() => ({
      stderr: 'Error from server (BadRequest): previous terminated container "standalone" in pod "x" not found\n',
      exitCode: 1,
    }))
    const logs = await collectLogs(kubectl, [pod], { tailLines: 10, maxBytes: 100 })
    expect(logs.find((l) => l.previous)?.text).toBe(
      '(no log: Error from server (BadRequest): previous terminated container "standalone" in pod "x" not found)\n',
    )
  })

  it('stops at its signal, saying so in the logs it did not read', async () => {
    const kubectl = scriptedKubectl(() => ({ stdout: 'x\n' }))
    const logs = await collectLogs(kubectl, [pod], { tailLines: 10, maxBytes: 100 }, AbortSignal.abort())
    expect(logs.map((l) => l.text)).toEqual(Array(3).fill('(not collected: the time for collecting logs ran out)\n'))
    expect(kubectl.calls).toEqual([])
  })
})

describe('capTail', () => {
  it('keeps what fits', () => {
    expect(capTail('a\nb\n', 10)).toEqual({ text: 'a\nb\n', cutBytes: 0 })
  })

  it('starts at a line, never inside a character', () => {
    expect(capTail('first line\nsecond\n', 9)).toEqual({ text: 'second\n', cutBytes: 11 })
    const { text, cutBytes } = capTail('ééééé', 5)
    expect(text).toBe('éé')
    expect(cutBytes).toBe(6)
  })
})

describe('lastLines', () => {
  it.each([
    ['a\nb\nc\n', 2, 'b\nc'],
    ['a\nb', 5, 'a\nb'],
  ])('%j, %i', (text, n, want) => expect(lastLines(text, n)).toBe(want))
})
