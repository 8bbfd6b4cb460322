import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import type { Kube } from '../../src/cluster/kube.ts'
import { ensureScrapeJob, generatedConfig, hasScrapeJob, serviceMonitorWarnings } from '../../src/scrape/operator-config.ts'

const config = `global:
  scrape_interval: 30s
scrape_configs:
- job_name: serviceMonitor/monitoring/alertmanager-main/0
  honor_labels: false
- job_name: serviceMonitor/milvus/my-release-milvus-standalone/0
  honor_labels: true
`

describe("the operator's generated configuration", () => {
  it.each([
    ['serviceMonitor/milvus/my-release-milvus-standalone/0', true],
    ['serviceMonitor/milvus/my-release-milvus-standalone/1', false],
    ['serviceMonitor/milvus/my-release-milvus/0', false],
    ['serviceMonitor/other/my-release-milvus-standalone/0', false],
  ])('job %s present: %s', (pool, want) => {
    expect(hasScrapeJob(config, pool)).toBe(want)
  })

  it('reads the gzip+base64 key of the Secret; absent or corrupt reads as undefined', () => {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'prometheus-k8s' },
      data: { 'prometheus.yaml.gz': gzipSync(config).toString('base64') },
    }
    expect(generatedConfig(secret)).toBe(config)
    expect(generatedConfig({ ...secret, data: { 'prometheus.yaml.gz': 'bm90IGd6aXA=' } })).toBeUndefined()
    expect(generatedConfig(undefined)).toBeUndefined()
  })

  it("the ServiceMonitor's Warning Events, in the operator's words", () => {
    const events = [
      {
        metadata: { name: 'a' },
        type: 'Warning',
        reason: 'InvalidConfiguration',
        message: 'ServiceMonitor milvus/sm was rejected due to invalid configuration: scrapeTimeout "10s" greater than scrapeInterval "5s"',
        involvedObject: { kind: 'ServiceMonitor', name: 'sm' },
      },
      { metadata: { name: 'b' }, type: 'Normal', reason: 'Created', message: 'x', involvedObject: { kind: 'ServiceMonitor', name: 'sm' } },
      {
        metadata: { name: 'c' },
        type: 'Warning',
        reason: 'X',
        message: 'other',
        involvedObject: { kind: 'ServiceMonitor', name: 'other' },
      },
    ]
    expect(serviceMonitorWarnings(events, 'sm')).toEqual([
      'InvalidConfiguration: ServiceMonitor milvus/sm was rejected due to invalid configuration: scrapeTimeout "10s" greater than scrapeInterval "5s"',
    ])
  })
})

describe('a monitor the run did not create', () => {
  it('is never touched: no PATCH, and the error says the operator has not taken it', async () => {
    const requests: string[] = []
    // The operator never writes the job: each wait runs out its window.
    const kube = {
      waitFor: (_p: string, _q: unknown, _d: unknown, signal: AbortSignal) =>
        new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      request: async (method: string, path: string) => void requests.push(`${method} ${path}`),
      get: async () => ({ items: [] }),
      find: async () => undefined,
    } as unknown as Kube
    const err = await ensureScrapeJob({
      kube,
      prometheus: { namespace: 'kps', name: 'kps' },
      monitor: { kind: 'PodMonitor', namespace: 'milvus', name: 'my-milvus' },
      scrapePool: 'podMonitor/milvus/my-milvus/0',
      signal: AbortSignal.timeout(10_000),
      graceMs: 50,
      touch: false,
    }).catch((e: unknown) => e)
    expect(requests).toEqual([])
    expect((err as Error).message).toMatch(
      /has not put PodMonitor milvus\/my-milvus into the configuration of Prometheus kps\/kps \(Secret prometheus-kps has no job podMonitor\/milvus\/my-milvus\/0\), after 0.05 s \(the action does not change a PodMonitor it did not create\)/,
    )
  })

  it("reads a PodMonitor's Warning Events by its kind", () => {
    const events = [
      {
        metadata: { name: 'a' },
        type: 'Warning',
        reason: 'InvalidConfiguration',
        message: 'bad',
        involvedObject: { kind: 'PodMonitor', name: 'pm' },
      },
    ]
    expect(serviceMonitorWarnings(events, 'pm')).toEqual([])
    expect(serviceMonitorWarnings(events, 'pm', 'PodMonitor')).toEqual(['InvalidConfiguration: bad'])
  })
})
