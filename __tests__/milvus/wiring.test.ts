import { describe, expect, it } from 'vitest'
import {
  checkPodMonitorWiring,
  checkWiring,
  describeSelector,
  matchesSelector,
  selectorInvalid,
  type LabelSelector,
  type PodMonitorObject,
  type PodMonitorWiringInput,
  type PrometheusObject,
  type ServiceMonitorObject,
  type ServiceObject,
  type WiringInput,
} from '../../src/milvus/wiring.ts'

// Objects as the Milvus chart 5.0.19 renders them for release my-release in namespace milvus
// (helm template --set cluster.enabled=false --set metrics.serviceMonitor.enabled=true).
const chartLabels = {
  'helm.sh/chart': 'milvus-5.0.19',
  'app.kubernetes.io/name': 'milvus',
  'app.kubernetes.io/instance': 'my-release',
  'app.kubernetes.io/version': '2.6.15',
  'app.kubernetes.io/managed-by': 'Helm',
}

const standaloneServiceMonitor: ServiceMonitorObject = {
  metadata: {
    name: 'my-release-milvus-standalone',
    namespace: 'milvus',
    labels: { ...chartLabels, component: 'standalone' },
  },
  spec: {
    endpoints: [{ port: 'metrics', path: '/metrics' }],
    namespaceSelector: { matchNames: ['milvus'] },
    selector: {
      matchLabels: {
        'app.kubernetes.io/name': 'milvus',
        'app.kubernetes.io/instance': 'my-release',
        component: 'standalone',
      },
    },
  },
}

const standaloneService: ServiceObject = {
  metadata: { name: 'my-release-milvus', namespace: 'milvus', labels: { ...chartLabels, component: 'standalone' } },
  spec: {
    ports: [
      { name: 'milvus', port: 19530, targetPort: 'milvus' },
      { name: 'metrics', port: 9091, targetPort: 'metrics' },
    ],
  },
}

// Cluster mode: one ServiceMonitor without the component label selects every component's Service.
const clusterServiceMonitor: ServiceMonitorObject = {
  metadata: { name: 'my-release-milvus', namespace: 'milvus', labels: chartLabels },
  spec: {
    endpoints: [{ port: 'metrics', path: '/metrics' }],
    namespaceSelector: { matchNames: ['milvus'] },
    selector: { matchLabels: { 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/instance': 'my-release' } },
  },
}

const clusterServices: ServiceObject[] = [
  {
    metadata: { name: 'my-release-milvus', namespace: 'milvus', labels: { ...chartLabels, component: 'proxy' } },
    spec: { ports: standaloneService.spec?.ports ?? [] },
  },
  ...['datanode', 'mixcoord', 'querynode', 'streamingnode'].map<ServiceObject>((component) => ({
    metadata: {
      name: `my-release-milvus-${component}`,
      namespace: 'milvus',
      labels: { ...chartLabels, component },
    },
    spec: { ports: [{ name: 'metrics', port: 9091, targetPort: 'metrics' }] },
  })),
]

// kube-prometheus v0.18.0 manifests/prometheus-prometheus.yaml
const kubePrometheus: PrometheusObject = {
  metadata: { name: 'k8s', namespace: 'monitoring' },
  spec: { serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {} },
}

const milvusNamespace = { 'kubernetes.io/metadata.name': 'milvus' }

function wiring(overrides: Partial<WiringInput> = {}): WiringInput {
  return {
    prometheus: kubePrometheus,
    serviceMonitor: standaloneServiceMonitor,
    namespaceLabels: { milvus: milvusNamespace, monitoring: { 'kubernetes.io/metadata.name': 'monitoring' } },
    services: [standaloneService],
    ...overrides,
  }
}

const withSpec = <T extends { spec?: object }>(obj: T, spec: Partial<NonNullable<T['spec']>>): T => ({
  ...obj,
  spec: { ...obj.spec, ...spec },
})

describe('matchesSelector', () => {
  const labels = { app: 'milvus', tier: 'db', release: 'kube-prom' }
  it.each<[string, LabelSelector | null | undefined, boolean]>([
    ['null selects nothing', null, false],
    ['undefined selects nothing', undefined, false],
    ['{} selects everything', {}, true],
    ['empty matchLabels and matchExpressions select everything', { matchLabels: {}, matchExpressions: [] }, true],
    ['matchLabels equal', { matchLabels: { app: 'milvus' } }, true],
    ['matchLabels all must hold', { matchLabels: { app: 'milvus', tier: 'web' } }, false],
    ['matchLabels missing key', { matchLabels: { team: 'a' } }, false],
    ['matchLabels values are case-sensitive', { matchLabels: { app: 'Milvus' } }, false],
    ['In matches one of the values', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'db'] }] }, true],
    ['In fails on another value', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] }, false],
    ['In fails on a missing key', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn fails on a listed value', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, false],
    ['NotIn holds on another value', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, true],
    ['NotIn holds on a missing key', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    ['Exists holds', { matchExpressions: [{ key: 'release', operator: 'Exists' }] }, true],
    ['Exists fails', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    ['DoesNotExist holds', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    ['DoesNotExist fails', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist', values: null }] }, false],
    [
      'matchLabels and matchExpressions are ANDed',
      { matchLabels: { app: 'milvus' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] },
      false,
    ],
    ['In without values is invalid', { matchExpressions: [{ key: 'tier', operator: 'In', values: [] }] }, false],
    ['Exists with values is invalid', { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] }, false],
    ['an unknown operator is invalid', { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['milvus'] }] }, false],
  ])('%s', (_name, selector, expected) => {
    expect(matchesSelector(selector, labels)).toBe(expected)
  })

  it.each<[LabelSelector, boolean]>([
    [{}, true],
    [{ matchLabels: { app: 'x' } }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, true],
  ])('treats absent labels as none: %j', (selector, expected) => {
    expect(matchesSelector(selector, undefined)).toBe(expected)
  })
})

describe('selectorInvalid and describeSelector', () => {
  it.each<[LabelSelector, string | undefined, string]>([
    [{}, undefined, 'any labels'],
    [{ matchLabels: { release: 'kube-prom' } }, undefined, 'release=kube-prom'],
    [
      {
        matchLabels: { a: '1' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['a', 'b'] },
          { key: 'tier', operator: 'NotIn', values: ['web'] },
          { key: 'team', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      },
      undefined,
      'a=1,env in (a,b),tier notin (web),team,!legacy',
    ],
    [{ matchExpressions: [{ key: 'env', operator: 'NotIn' }] }, 'NotIn on env needs at least one value', 'env notin ()'],
    [{ matchExpressions: [{ key: 'env', operator: 'in', values: ['a'] }] }, 'unknown operator "in" on env', 'env in (a)'],
  ])('%j', (selector, invalid, text) => {
    const why = selectorInvalid(selector)
    if (invalid === undefined) expect(why).toBeUndefined()
    else expect(why).toContain(invalid)
    expect(describeSelector(selector)).toBe(text)
  })
})

describe('checkWiring', () => {
  it.each<[string, WiringInput]>([
    ['kube-prometheus defaults and the standalone chart', wiring()],
    ['kube-prometheus defaults and the cluster chart', wiring({ serviceMonitor: clusterServiceMonitor, services: clusterServices })],
    [
      'a release label selector met by additionalLabels',
      wiring({
        prometheus: withSpec(kubePrometheus, { serviceMonitorSelector: { matchLabels: { release: 'kube-prom' } } }),
        serviceMonitor: {
          ...standaloneServiceMonitor,
          metadata: { ...standaloneServiceMonitor.metadata, labels: { ...chartLabels, release: 'kube-prom' } },
        },
      }),
    ],
    [
      'a namespace selector by name label, with the namespace labels not passed in',
      wiring({
        prometheus: withSpec(kubePrometheus, {
          serviceMonitorNamespaceSelector: {
            matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['milvus', 'monitoring'] }],
          },
        }),
        namespaceLabels: {},
      }),
    ],
    [
      'namespaceSelector any',
      wiring({
        serviceMonitor: withSpec(standaloneServiceMonitor, { namespaceSelector: { any: true } }),
        services: [{ ...standaloneService, metadata: { ...standaloneService.metadata, namespace: 'other' } }],
      }),
    ],
    [
      'no namespaceSelector: the ServiceMonitor namespace',
      wiring({ serviceMonitor: withSpec(standaloneServiceMonitor, { namespaceSelector: null }) }),
    ],
    [
      'no selector on the ServiceMonitor selects every Service',
      wiring({ serviceMonitor: withSpec(standaloneServiceMonitor, { selector: undefined }) }),
    ],
    [
      'an endpoint by targetPort name',
      wiring({ serviceMonitor: withSpec(standaloneServiceMonitor, { endpoints: [{ targetPort: 'metrics' }] }) }),
    ],
    [
      'an endpoint by targetPort number, Service port without targetPort',
      wiring({
        serviceMonitor: withSpec(standaloneServiceMonitor, { endpoints: [{ targetPort: 9091 }] }),
        services: [withSpec(standaloneService, { ports: [{ name: 'web', port: 9091 }] })],
      }),
    ],
    [
      'Prometheus without a namespace selector, ServiceMonitor in its namespace',
      wiring({
        prometheus: withSpec(kubePrometheus, { serviceMonitorNamespaceSelector: undefined }),
        serviceMonitor: {
          ...standaloneServiceMonitor,
          metadata: { ...standaloneServiceMonitor.metadata, namespace: 'monitoring' },
          spec: { ...standaloneServiceMonitor.spec, namespaceSelector: { matchNames: ['milvus'] } },
        },
      }),
    ],
  ])('no problems: %s', (_name, input) => {
    expect(checkWiring(input)).toEqual([])
  })

  it.each<[string, WiringInput, string[]]>([
    [
      'Prometheus selects by a label the ServiceMonitor lacks',
      wiring({
        prometheus: withSpec(kubePrometheus, { serviceMonitorSelector: { matchLabels: { release: 'kube-prom' } } }),
      }),
      [
        'Prometheus monitoring/k8s selects ServiceMonitors with release=kube-prom, but milvus/my-release-milvus-standalone ' +
          "has no label release; add the labels to the ServiceMonitor (the Milvus chart's " +
          'metrics.serviceMonitor.additionalLabels value) or widen the Prometheus spec.serviceMonitorSelector',
      ],
    ],
    [
      'Prometheus selects by a label with another value, and by an expression',
      wiring({
        prometheus: withSpec(kubePrometheus, {
          serviceMonitorSelector: {
            matchLabels: { 'app.kubernetes.io/instance': 'other' },
            matchExpressions: [{ key: 'component', operator: 'NotIn', values: ['standalone'] }],
          },
        }),
      }),
      [
        'Prometheus monitoring/k8s selects ServiceMonitors with app.kubernetes.io/instance=other,component notin (standalone), ' +
          'but milvus/my-release-milvus-standalone has app.kubernetes.io/instance=my-release, not ' +
          'app.kubernetes.io/instance=other and has component=standalone, which is excluded; add the labels to the ' +
          "ServiceMonitor (the Milvus chart's metrics.serviceMonitor.additionalLabels value) or widen the Prometheus " +
          'spec.serviceMonitorSelector',
      ],
    ],
    [
      'Prometheus without serviceMonitorSelector',
      wiring({ prometheus: withSpec(kubePrometheus, { serviceMonitorSelector: null }) }),
      [
        'Prometheus monitoring/k8s has no spec.serviceMonitorSelector, so it selects no ServiceMonitors and will never ' +
          'scrape milvus/my-release-milvus-standalone; set spec.serviceMonitorSelector (e.g. {} for all, as ' +
          'kube-prometheus does)',
      ],
    ],
    [
      'Prometheus with an invalid serviceMonitorSelector',
      wiring({
        prometheus: withSpec(kubePrometheus, {
          serviceMonitorSelector: { matchExpressions: [{ key: 'release', operator: 'Exist' }] },
        }),
      }),
      [
        'Prometheus monitoring/k8s has an invalid spec.serviceMonitorSelector: unknown operator "Exist" on release ' +
          '(use In, NotIn, Exists or DoesNotExist)',
      ],
    ],
    [
      'Prometheus without a namespace selector reads only its own namespace',
      wiring({ prometheus: withSpec(kubePrometheus, { serviceMonitorNamespaceSelector: undefined }) }),
      [
        'Prometheus monitoring/k8s has no spec.serviceMonitorNamespaceSelector, so it only reads ServiceMonitors in ' +
          'namespace monitoring, but milvus/my-release-milvus-standalone is in namespace milvus; set ' +
          'spec.serviceMonitorNamespaceSelector (e.g. {} for all namespaces)',
      ],
    ],
    [
      'Prometheus reads ServiceMonitors from labelled namespaces only',
      wiring({
        prometheus: withSpec(kubePrometheus, { serviceMonitorNamespaceSelector: { matchLabels: { monitoring: 'enabled' } } }),
      }),
      [
        'Prometheus monitoring/k8s reads ServiceMonitors in namespaces with monitoring=enabled, but namespace milvus ' +
          '(of milvus/my-release-milvus-standalone) has no label monitoring; label the namespace ' +
          '(kubectl label namespace milvus ...) or widen the Prometheus spec.serviceMonitorNamespaceSelector',
      ],
    ],
    [
      'Prometheus reads ServiceMonitors from named namespaces that exclude milvus',
      wiring({
        prometheus: withSpec(kubePrometheus, {
          serviceMonitorNamespaceSelector: {
            matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['default', 'monitoring'] }],
          },
        }),
      }),
      [
        'Prometheus monitoring/k8s reads ServiceMonitors in namespaces with kubernetes.io/metadata.name in ' +
          '(default,monitoring), but namespace milvus (of milvus/my-release-milvus-standalone) has ' +
          'kubernetes.io/metadata.name=milvus, not one of default, monitoring; label the namespace ' +
          '(kubectl label namespace milvus ...) or widen the Prometheus spec.serviceMonitorNamespaceSelector',
      ],
    ],
    [
      'the ServiceMonitor selects another release',
      wiring({
        serviceMonitor: withSpec(standaloneServiceMonitor, {
          selector: { matchLabels: { 'app.kubernetes.io/name': 'milvus', 'app.kubernetes.io/instance': 'other' } },
        }),
      }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone selects Services with ' +
          'app.kubernetes.io/name=milvus,app.kubernetes.io/instance=other, but Service milvus/my-release-milvus has ' +
          "app.kubernetes.io/instance=my-release, not app.kubernetes.io/instance=other; fix the ServiceMonitor's " +
          "spec.selector or the Service's labels",
      ],
    ],
    [
      'the standalone ServiceMonitor against the cluster-mode Services',
      wiring({ services: clusterServices.slice(0, 2) }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone selects Services with app.kubernetes.io/name=milvus,' +
          'app.kubernetes.io/instance=my-release,component=standalone, but Service milvus/my-release-milvus has ' +
          "component=proxy, not component=standalone; fix the ServiceMonitor's spec.selector or the Service's labels",
        'ServiceMonitor milvus/my-release-milvus-standalone selects Services with app.kubernetes.io/name=milvus,' +
          'app.kubernetes.io/instance=my-release,component=standalone, but Service milvus/my-release-milvus-datanode has ' +
          "component=datanode, not component=standalone; fix the ServiceMonitor's spec.selector or the Service's labels",
      ],
    ],
    [
      'the ServiceMonitor looks in another namespace',
      wiring({ serviceMonitor: withSpec(standaloneServiceMonitor, { namespaceSelector: { matchNames: ['default'] } }) }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone looks for Services only in namespace(s) default, but ' +
          "Service milvus/my-release-milvus is in namespace milvus; add milvus to the ServiceMonitor's " +
          'spec.namespaceSelector.matchNames',
      ],
    ],
    [
      'the ServiceMonitor without a namespaceSelector, the Service elsewhere',
      wiring({
        serviceMonitor: withSpec(standaloneServiceMonitor, { namespaceSelector: undefined }),
        services: [{ ...standaloneService, metadata: { ...standaloneService.metadata, namespace: 'milvus-data' } }],
      }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone looks for Services only in namespace(s) milvus, but ' +
          "Service milvus-data/my-release-milvus is in namespace milvus-data; add milvus-data to the ServiceMonitor's " +
          'spec.namespaceSelector.matchNames',
      ],
    ],
    [
      'ignoreNamespaceSelectors overrides matchNames',
      wiring({
        prometheus: withSpec(kubePrometheus, { ignoreNamespaceSelectors: true }),
        serviceMonitor: withSpec(standaloneServiceMonitor, { namespaceSelector: { any: true } }),
        services: [{ ...standaloneService, metadata: { ...standaloneService.metadata, namespace: 'milvus-data' } }],
      }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone looks for Services only in namespace(s) milvus, but ' +
          "Service milvus-data/my-release-milvus is in namespace milvus-data; add milvus-data to the ServiceMonitor's " +
          'spec.namespaceSelector.matchNames',
      ],
    ],
    [
      'the endpoint names a port the Service lacks (metrics disabled in the chart)',
      wiring({ services: [withSpec(standaloneService, { ports: [{ name: 'milvus', port: 19530, targetPort: 'milvus' }] })] }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone spec.endpoints[0] scrapes port metrics, but no selected ' +
          'Service has a port named metrics: milvus/my-release-milvus (ports: milvus); set spec.endpoints[0].port to ' +
          "one of those names (it is the Service port's name, not its number)",
      ],
    ],
    [
      'the endpoint gives the port number as the name',
      wiring({ serviceMonitor: withSpec(standaloneServiceMonitor, { endpoints: [{ port: '9091', path: '/metrics' }] }) }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone spec.endpoints[0] scrapes port 9091, but no selected ' +
          'Service has a port named 9091: milvus/my-release-milvus (ports: milvus, metrics); set ' +
          "spec.endpoints[0].port to one of those names (it is the Service port's name, not its number)",
      ],
    ],
    [
      'the endpoint gives a targetPort nothing forwards to',
      wiring({ serviceMonitor: withSpec(standaloneServiceMonitor, { endpoints: [{ targetPort: 8080 }] }) }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone spec.endpoints[0] scrapes targetPort 8080, but no selected ' +
          'Service forwards to it: milvus/my-release-milvus (ports: milvus, metrics); use port with a Service port name instead',
      ],
    ],
    [
      'the ServiceMonitor has no endpoints',
      wiring({ serviceMonitor: withSpec(standaloneServiceMonitor, { endpoints: [] }) }),
      [
        'ServiceMonitor milvus/my-release-milvus-standalone has no spec.endpoints, so it scrapes nothing; add one with ' +
          'port: metrics and path: /metrics',
      ],
    ],
    [
      'there is no Milvus Service',
      wiring({ services: [] }),
      ['ServiceMonitor milvus/my-release-milvus-standalone has no Milvus Service to select: no Service of the release was found'],
    ],
  ])('%s', (_name, input, problems) => {
    expect(checkWiring(input)).toEqual(problems)
  })

  it('reports problems on both sides at once', () => {
    const problems = checkWiring(
      wiring({
        prometheus: withSpec(kubePrometheus, { serviceMonitorSelector: { matchLabels: { release: 'kube-prom' } } }),
        serviceMonitor: withSpec(standaloneServiceMonitor, { endpoints: [{ port: 'http-metrics' }] }),
      }),
    )
    expect(problems).toHaveLength(2)
    expect(problems[0]).toMatch(/^Prometheus monitoring\/k8s selects ServiceMonitors with release=kube-prom/)
    expect(problems[1]).toMatch(/scrapes port http-metrics, but no selected Service has a port named http-metrics/)
  })

  it('accepts a cluster-mode endpoint when any selected Service has the port', () => {
    // The proxy Service has the port; a component Service without it would just give no target.
    const services = [clusterServices[0]!, withSpec(clusterServices[1]!, { ports: [{ name: 'grpc', port: 1 }] })]
    expect(checkWiring(wiring({ serviceMonitor: clusterServiceMonitor, services }))).toEqual([])
  })
})

// A PodMonitor as Milvus Operator creates one for a Milvus resource my-milvus, and its pod.
const operatorPodMonitor: PodMonitorObject = {
  metadata: { name: 'my-milvus', namespace: 'milvus', labels: { 'app.kubernetes.io/instance': 'my-milvus' } },
  spec: {
    namespaceSelector: { matchNames: ['milvus'] },
    podMetricsEndpoints: [{ port: 'metrics', path: '/metrics' }],
    selector: { matchLabels: { 'app.kubernetes.io/instance': 'my-milvus', 'app.kubernetes.io/name': 'milvus' } },
  },
}
const operatorPod = {
  metadata: {
    name: 'my-milvus-milvus-standalone-0',
    namespace: 'milvus',
    labels: { 'app.kubernetes.io/instance': 'my-milvus', 'app.kubernetes.io/name': 'milvus' },
  },
  spec: {
    containers: [
      {
        name: 'standalone',
        ports: [
          { name: 'milvus', containerPort: 19530 },
          { name: 'metrics', containerPort: 9091 },
        ],
      },
    ],
  },
}

describe('the wiring of a PodMonitor', () => {
  const input = (o: Partial<PodMonitorWiringInput> = {}): PodMonitorWiringInput => ({
    prometheus: { metadata: { name: 'kps', namespace: 'kps' }, spec: { podMonitorSelector: {}, podMonitorNamespaceSelector: {} } },
    podMonitor: operatorPodMonitor,
    namespaceLabels: { milvus: milvusNamespace },
    pods: [operatorPod],
    ...o,
  })

  it('is right when Prometheus selects it and it selects a pod with the port it scrapes', () =>
    expect(checkPodMonitorWiring(input())).toEqual([]))

  it("reads the Prometheus' pod monitor selectors, not its ServiceMonitor ones", () => {
    const prometheus = {
      metadata: { name: 'kps', namespace: 'kps' },
      spec: {
        serviceMonitorSelector: {},
        serviceMonitorNamespaceSelector: {},
        podMonitorSelector: { matchLabels: { release: 'kps' } },
        podMonitorNamespaceSelector: {},
      },
    }
    expect(checkPodMonitorWiring(input({ prometheus }))).toEqual([
      'Prometheus kps/kps selects PodMonitors with release=kps, but milvus/my-milvus has no label release; add the labels to the PodMonitor or widen the Prometheus spec.podMonitorSelector',
    ])
    expect(
      checkPodMonitorWiring(
        input({ prometheus: { metadata: { name: 'kps', namespace: 'kps' }, spec: { serviceMonitorSelector: {} } } }),
      )[0],
    ).toMatch(/has no spec.podMonitorSelector, so it selects no PodMonitors/)
  })

  it('names a selector that selects no pod', () => {
    expect(checkPodMonitorWiring(input({ pods: [] }))).toEqual([
      "PodMonitor milvus/my-milvus selects pods with app.kubernetes.io/instance=my-milvus,app.kubernetes.io/name=milvus in namespace(s) milvus, but there is none; fix the PodMonitor's spec.selector or its spec.namespaceSelector",
    ])
  })

  it('names a port no selected pod has, with the ports there are', () => {
    const podMonitor = withSpec(operatorPodMonitor, { podMetricsEndpoints: [{ port: 'http-metrics' }] })
    expect(checkPodMonitorWiring(input({ podMonitor }))).toEqual([
      'PodMonitor milvus/my-milvus spec.podMetricsEndpoints[0] scrapes port http-metrics, but no selected pod has a container port named http-metrics (ports: milvus, metrics); set it to one of those names',
    ])
  })

  it('checks only the selectors when its pods could not be listed (any namespace)', () => {
    expect(checkPodMonitorWiring(input({ pods: undefined }))).toEqual([])
  })
})
