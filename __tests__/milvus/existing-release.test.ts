import { describe, expect, it } from 'vitest'
import { Budget } from '../../src/budget.ts'
import type { StackRun } from '../../src/context.ts'
import { ExistingRelease, releaseMonitor } from '../../src/milvus/existing-release.ts'
import type { Inputs } from '../../src/types.ts'

const obj = (name: string) => ({ metadata: { name } })
const release = { namespace: 'milvus', name: 'my-release' }

describe("an existing release's monitor, found from its labels", () => {
  it('its one ServiceMonitor', () =>
    expect(releaseMonitor(release, [obj('my-release-milvus')], [])).toEqual({
      kind: 'ServiceMonitor',
      namespace: 'milvus',
      name: 'my-release-milvus',
    }))

  it('else its one PodMonitor (Milvus Operator)', () =>
    expect(releaseMonitor(release, [], [obj('my-release')])).toEqual({ kind: 'PodMonitor', namespace: 'milvus', name: 'my-release' }))

  it('several: the run stops, listing them and naming service-monitor', () => {
    expect(() => releaseMonitor(release, [obj('a'), obj('b')], [])).toThrow(
      '2 ServiceMonitors in namespace milvus are labelled app.kubernetes.io/instance=my-release (a, b): name the one Prometheus scrapes Milvus through with service-monitor: milvus/<name>.',
    )
  })

  it('none: the run stops, naming service-monitor and the chart value', () => {
    expect(() => releaseMonitor(release, [], [])).toThrow(
      /No ServiceMonitor or PodMonitor in namespace milvus is labelled app.kubernetes.io\/instance=my-release.*service-monitor: <namespace>\/<name>.*metrics.serviceMonitor/,
    )
  })
})

describe('ExistingRelease: reads, never changes', () => {
  // A cluster of `objects` by API path; every other request fails the test.
  function fakeRun(objects: Record<string, unknown>, inputs: Partial<Inputs> = {}) {
    const asked: string[] = []
    const recorded: unknown[] = []
    const kube = {
      find: async (path: string) => (asked.push(`find ${path}`), objects[path]),
      get: async (path: string) => {
        asked.push(`get ${path}`)
        if (!(path in objects)) throw new Error(`unexpected GET ${path}`)
        return objects[path]
      },
      request: async (method: string, path: string) => {
        throw new Error(`unexpected ${method} ${path}`)
      },
    }
    const helm = { history: async () => [] }
    const run = {
      inputs: { namespace: 'milvus', releaseName: 'my-milvus', prometheusRbac: true, ...inputs } as Inputs,
      stack: { namespace: 'monitoring', name: 'k8s', serviceAccount: 'prometheus-k8s', kubePrometheus: true },
      kube,
      helm,
      budget: new Budget(60_000),
      state: { record: (c: unknown) => recorded.push(c), state: {} },
    } as unknown as StackRun
    return { run, asked, recorded }
  }
  const NS = '/api/v1/namespaces/milvus'
  const MON = '/apis/monitoring.coreos.com/v1/namespaces/milvus'

  it('a missing namespace stops the run, naming the two ways on', async () => {
    const { run } = fakeRun({})
    await expect(new ExistingRelease(run.inputs).check(run)).rejects.toThrow(
      /Namespace milvus does not exist\. With install-milvus: false .*creates nothing/,
    )
  })

  it('service-monitor names a PodMonitor when no ServiceMonitor has the name', async () => {
    const { run, asked } = fakeRun(
      { [NS]: { metadata: { name: 'milvus' } }, [`${MON}/podmonitors/my-milvus`]: { metadata: { name: 'my-milvus' } } },
      { serviceMonitor: { namespace: 'milvus', name: 'my-milvus' } },
    )
    const source = new ExistingRelease(run.inputs)
    await source.check(run)
    expect(source.monitor).toEqual({ kind: 'PodMonitor', namespace: 'milvus', name: 'my-milvus' })
    expect(asked).toEqual([`find ${NS}`, `find ${MON}/servicemonitors/my-milvus`, `find ${MON}/podmonitors/my-milvus`])
  })

  it('found by its labels: the ServiceMonitors first, then the PodMonitors', async () => {
    const q = `?labelSelector=${encodeURIComponent('app.kubernetes.io/instance=my-milvus')}`
    const { run } = fakeRun({
      [NS]: { metadata: { name: 'milvus' } },
      [`${MON}/servicemonitors${q}`]: { items: [] },
      [`${MON}/podmonitors${q}`]: { items: [{ metadata: { name: 'my-milvus' } }] },
    })
    const source = new ExistingRelease(run.inputs)
    await source.check(run)
    expect(source.monitor).toEqual({ kind: 'PodMonitor', namespace: 'milvus', name: 'my-milvus' })
  })

  it('installs nothing, and records nothing as created by the run', async () => {
    const { run, recorded } = fakeRun({})
    await new ExistingRelease(run.inputs).install(run)
    expect(recorded).toEqual([])
  })
})
