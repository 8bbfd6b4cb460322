import { describe, expect, it } from 'vitest'
import { releaseMonitor } from '../../src/milvus/existing-release.ts'

const obj = (name: string) => ({ metadata: { name } })
const release = { namespace: 'milvus', name: 'my-release' }

describe("an existing release's monitor, found from its labels", () => {
  it('its one ServiceMonitor', () => expect(releaseMonitor(release, [obj('my-release-milvus')], [])).toEqual({ kind: 'ServiceMonitor', namespace: 'milvus', name: 'my-release-milvus' }))

  it('else its one PodMonitor (Milvus Operator)', () => expect(releaseMonitor(release, [], [obj('my-release')])).toEqual({ kind: 'PodMonitor', namespace: 'milvus', name: 'my-release' }))

  it('several: the run stops, listing them and naming service-monitor', () => {
    expect(() => releaseMonitor(release, [obj('a'), obj('b')], [])).toThrow(
      '2 ServiceMonitors in namespace milvus are labelled app.kubernetes.io/instance=my-release (a, b): name the one Prometheus scrapes Milvus through with service-monitor: milvus/<name>.',
    )
  })

  it('none: the run stops, naming service-monitor and the chart value', () => {
    expect(() => releaseMonitor(release, [], [])).toThrow(/No ServiceMonitor or PodMonitor in namespace milvus is labelled app.kubernetes.io\/instance=my-release.*service-monitor: <namespace>\/<name>.*metrics.serviceMonitor/)
  })
})
