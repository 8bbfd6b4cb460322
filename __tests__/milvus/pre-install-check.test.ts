import { describe, expect, it } from 'vitest'
import { checkRendered, mainService, MAX_STATEFULSET_NAME, renderedObjects } from '../../src/milvus/pre-install-check.ts'
import type { KubeObject } from '../../src/cluster/kube.ts'

const obj = (kind: string, name: string, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind,
  metadata: { name },
  spec,
})
const sm = (interval: string, scrapeTimeout: string) =>
  obj('ServiceMonitor', 'r-milvus-standalone', { endpoints: [{ port: 'metrics', interval, scrapeTimeout }] })

describe('checking the rendered release', () => {
  it.each([
    ['a StatefulSet name of 52 characters is fine', [obj('StatefulSet', 'a'.repeat(MAX_STATEFULSET_NAME))], []],
    [
      'a StatefulSet name of 53 characters cannot create pods',
      [obj('StatefulSet', 'a'.repeat(53))],
      [/StatefulSet a{53}: the name has 53 characters.*controller-revision-hash.*Shorten release-name by 1 or more/],
    ],
    [
      'the 51-character release name of a PR branch',
      [obj('StatefulSet', 'pr-1234-feature-add-hybrid-search-to-the-ingest-api-etcd')],
      [/has 56 characters/],
    ],
    ['a Service name that is not a DNS-1035 label', [obj('Service', '1-milvus')], [/Service 1-milvus: not a valid Service name/]],
    ['a Service name of 64 characters', [obj('Service', 'a'.repeat(64))], [/not a valid Service name/]],
    [
      'interval shorter than scrapeTimeout is rejected by the operator',
      [sm('5s', '10s')],
      [/scrapeTimeout 10s longer than its interval 5s.*metrics\.serviceMonitor\.scrapeTimeout/],
    ],
    ['interval equal to scrapeTimeout is fine', [sm('10s', '10s')], []],
    ['the chart default (30s, 10s) is fine', [sm('30s', '10s')], []],
    ['minutes against seconds', [sm('1m', '90s')], [/longer than its interval 1m/]],
    [
      'a LoadBalancer Service with nothing to serve it',
      [obj('Service', 'r-milvus', { type: 'LoadBalancer' })],
      [/type LoadBalancer.*ClusterIP/],
    ],
    ['several problems are all listed', [obj('Service', 'Bad'), sm('5s', '10s')], [/Service Bad/, /ServiceMonitor/]],
  ])('%s', (_, objects, want) => {
    const problems = checkRendered(objects, { loadBalancers: false })
    expect(problems).toHaveLength(want.length)
    want.forEach((re, i) => expect(problems[i]).toMatch(re))
  })

  it('a LoadBalancer Service is fine where something gives them addresses', () => {
    expect(checkRendered([obj('Service', 'r-milvus', { type: 'LoadBalancer' })], { loadBalancers: true })).toEqual([])
  })

  it('reads a helm template stream: documents, with empty ones and comments dropped', () => {
    const stream =
      '---\n# Source: milvus/templates/a.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: r-milvus\nspec:\n  ports:\n  - name: milvus\n    port: 19531\n  - name: metrics\n    port: 9092\n---\n# Source: empty\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: r-etcd\n'
    const objects = renderedObjects(stream)
    expect(objects.map((o) => o.kind)).toEqual(['Service', 'StatefulSet'])
    // Ports moved by values are read from the object, not assumed.
    expect(mainService(objects)).toEqual({ name: 'r-milvus', grpcPort: 19531, metricsPort: 9092 })
  })
})
