import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { generatedConfig, hasScrapeJob, serviceMonitorWarnings } from '../../src/scrape/operator-config.ts'

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
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'prometheus-k8s' }, data: { 'prometheus.yaml.gz': gzipSync(config).toString('base64') } }
    expect(generatedConfig(secret)).toBe(config)
    expect(generatedConfig({ ...secret, data: { 'prometheus.yaml.gz': 'bm90IGd6aXA=' } })).toBeUndefined()
    expect(generatedConfig(undefined)).toBeUndefined()
  })

  it("the ServiceMonitor's Warning Events, in the operator's words", () => {
    const events = [
      { metadata: { name: 'a' }, type: 'Warning', reason: 'InvalidConfiguration', message: 'ServiceMonitor milvus/sm was rejected due to invalid configuration: scrapeTimeout "10s" greater than scrapeInterval "5s"', involvedObject: { kind: 'ServiceMonitor', name: 'sm' } },
      { metadata: { name: 'b' }, type: 'Normal', reason: 'Created', message: 'x', involvedObject: { kind: 'ServiceMonitor', name: 'sm' } },
      { metadata: { name: 'c' }, type: 'Warning', reason: 'X', message: 'other', involvedObject: { kind: 'ServiceMonitor', name: 'other' } },
    ]
    expect(serviceMonitorWarnings(events, 'sm')).toEqual(['InvalidConfiguration: ServiceMonitor milvus/sm was rejected due to invalid configuration: scrapeTimeout "10s" greater than scrapeInterval "5s"'])
  })
})
