import { describe, expect, it } from 'vitest'
import type { KubeObject } from '../../src/cluster/kube.ts'
import {
  alertmanagerEndpoint,
  choosePrometheus,
  labelsForSelector,
  pathPrefixOf,
  prometheusArgs,
  pickGrafanaService,
  pickPrometheusService,
  prometheusPodLabels,
} from '../../src/prometheus/existing.ts'
import { absentNotices, DEFAULT_PORTS, forwardsFor, inClusterEndpoints } from '../../src/expose/endpoints.ts'
import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import { inClusterUrl } from '../../src/prometheus/stack.ts'
import { needsRbac } from '../../src/prometheus/discovery-rbac.ts'
import type { Inputs } from '../../src/types.ts'

describe('choosePrometheus', () => {
  it.each<[string[], string, string | RegExp]>([
    [['kps/kps-prometheus'], '', 'kps/kps-prometheus'],
    [['kps/kps-prometheus', 'monitoring/k8s'], 'monitoring/k8s', 'monitoring/k8s'],
    [[], '', /has no Prometheus resource .* set install-kube-prometheus: true/],
    [['a/x', 'b/y'], '', /has 2 Prometheus resources \(a\/x, b\/y\): set the prometheus input/],
    [['a/x'], 'b/y', /prometheus is b\/y, but the cluster has no such Prometheus resource \(it has: a\/x\)/],
  ])('%j with %j', (found, wanted, want) => {
    if (typeof want === 'string') expect(choosePrometheus(found, wanted)).toBe(want)
    else expect(() => choosePrometheus(found, wanted)).toThrow(want)
  })
})

describe('pathPrefixOf', () => {
  it.each<[{ routePrefix?: string; externalUrl?: string } | undefined, string[], string]>([
    [undefined, [], ''],
    [{}, [], ''],
    [{ routePrefix: '/' }, [], ''],
    [{ routePrefix: '/prometheus/' }, [], '/prometheus'],
    [{ routePrefix: 'prom' }, [], '/prom'],
    // The operator runs Prometheus with --web.route-prefix=/ when only externalUrl has a path.
    [{ externalUrl: 'https://example.com/monitoring/prometheus/' }, [], ''],
    [
      { externalUrl: 'https://example.com/monitoring/prometheus/' },
      ['--web.external-url=https://example.com/monitoring/prometheus/', '--web.route-prefix=/'],
      '',
    ],
    [{ routePrefix: '/a', externalUrl: 'https://example.com/b' }, [], '/a'],
    // What the pod runs with wins over a spec the operator has not rolled out yet.
    [{ routePrefix: '/new' }, ['--web.route-prefix=/old/'], '/old'],
    [{}, ['--config.file=/etc/prometheus/config_out/prometheus.env.yaml'], ''],
  ])('%j %j -> %j', (spec, args, want) => expect(pathPrefixOf(spec, args)).toBe(want))
})

describe('prometheusArgs', () => {
  it('reads the prometheus container, not the config reloader', () => {
    const pod = {
      metadata: { name: 'prometheus-kps-0' },
      spec: {
        containers: [
          { name: 'config-reloader', args: ['--listen-address=:8080'] },
          { name: 'prometheus', args: ['--web.route-prefix=/p'] },
        ],
      },
    } as unknown as KubeObject
    expect(prometheusArgs(pod)).toEqual(['--web.route-prefix=/p'])
    expect(prometheusArgs(undefined)).toEqual([])
  })
})

describe('labelsForSelector', () => {
  it.each([
    [null, {}],
    [{}, {}],
    [{ matchLabels: { release: 'kps' } }, { release: 'kps' }],
    [{ matchExpressions: [{ key: 'team', operator: 'In', values: ['ml', 'db'] }] }, { team: 'ml' }],
    [{ matchLabels: { team: 'x' }, matchExpressions: [{ key: 'team', operator: 'In', values: ['y'] }] }, { team: 'x' }],
    [
      {
        matchExpressions: [
          { key: 'scrape', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      },
      { scrape: 'true' },
    ],
    [{ matchLabels: { scrape: 'yes' }, matchExpressions: [{ key: 'scrape', operator: 'Exists' }] }, { scrape: 'yes' }],
  ])('%j -> %j', (selector, want) => expect(labelsForSelector(selector)).toEqual(want))
})

describe('pickPrometheusService', () => {
  const svc = (
    name: string,
    selector: Record<string, string>,
    ports: Array<{ name?: string; port: number; targetPort?: string | number }>,
    clusterIP = '10.0.0.1',
  ): KubeObject => ({
    metadata: { name, namespace: 'kps' },
    spec: { selector, ports, clusterIP },
  })
  const pod = prometheusPodLabels('kps')
  const operated = svc(
    'prometheus-operated',
    { 'app.kubernetes.io/name': 'prometheus' },
    [{ name: 'web', port: 9090, targetPort: 'web' }],
    'None',
  )
  const chart = svc('kps-prometheus', { 'app.kubernetes.io/name': 'prometheus', 'operator.prometheus.io/name': 'kps' }, [
    { name: 'http-web', port: 9090, targetPort: 9090 },
  ])
  const other = svc('other-prometheus', { 'app.kubernetes.io/name': 'prometheus', 'operator.prometheus.io/name': 'other' }, [
    { name: 'web', port: 9090 },
  ])
  const grafana = {
    ...svc('kps-grafana', { 'app.kubernetes.io/name': 'grafana' }, [{ name: 'http-web', port: 80, targetPort: 3000 }]),
    metadata: { name: 'kps-grafana', namespace: 'kps', labels: { 'app.kubernetes.io/name': 'grafana' } },
  }

  it.each<[string, KubeObject[], string | undefined]>([
    ['the governing Service alone', [operated], 'prometheus-operated:web:9090'],
    ["the chart's own Service wins over the governing one", [operated, chart], 'kps-prometheus:http-web:9090'],
    ["another Prometheus' Service does not select these pods", [other, operated], 'prometheus-operated:web:9090'],
    ['a Service without a web port', [grafana], undefined],
    ['a Service without a selector', [svc('manual', {}, [{ name: 'web', port: 9090 }])], undefined],
    ['an unnamed port to 9090', [svc('plain', { prometheus: 'kps' }, [{ port: 80, targetPort: 9090 }])], 'plain:80:80'],
  ])('%s', (_n, services, want) => {
    const s = pickPrometheusService(services, pod, '')
    expect(s && `${s.name}:${s.port}:${s.portNumber}`).toBe(want)
  })

  it('Grafana by its label, on its http port; none without', () => {
    expect(pickGrafanaService([chart, grafana])).toEqual({
      namespace: 'kps',
      name: 'kps-grafana',
      port: 'http-web',
      portNumber: 80,
      pathPrefix: '',
    })
    expect(pickGrafanaService([chart, operated])).toBeUndefined()
  })

  it.each([
    [undefined, undefined],
    [
      { alerting: { alertmanagers: [{ name: 'kps-alertmanager', namespace: 'kps', port: 'http-web', pathPrefix: '/am/' }] } },
      { namespace: 'kps', name: 'kps-alertmanager', port: 'http-web', pathPrefix: '/am' },
    ],
    [{ alerting: { alertmanagers: [{ name: 'am', port: 9093 }] } }, { namespace: 'mon', name: 'am', port: 9093, pathPrefix: '' }],
  ])('alertmanagerEndpoint(%j)', (spec, want) => expect(alertmanagerEndpoint('mon', spec)).toEqual(want))
})

describe('what follows the chosen Prometheus', () => {
  const stack = {
    ...KUBE_PROMETHEUS_STACK,
    namespace: 'kps',
    name: 'kps',
    serviceAccount: 'kps-prometheus',
    service: { namespace: 'kps', name: 'kps-prometheus', port: 'http-web', portNumber: 9090, pathPrefix: '/prom' },
    grafana: undefined,
    alertmanager: undefined,
    kubePrometheus: false,
  }
  const inputs = { namespace: 'milvus', expose: 'port-forward' } as Inputs

  it('in-cluster URLs: the route prefix on Prometheus, empty Grafana and Alertmanager', () => {
    expect(inClusterEndpoints('milvus', 'my-release', {}, stack)).toMatchObject({
      prometheusUrl: 'http://kps-prometheus.kps.svc:9090/prom',
      grafanaUrl: '',
      alertmanagerUrl: '',
    })
    expect(inClusterUrl(KUBE_PROMETHEUS_STACK.grafana)).toBe('http://grafana.monitoring.svc:3000')
  })

  it('forwards: its Service with the prefixed probe, no Grafana or Alertmanager forward', () => {
    expect(
      forwardsFor(inputs, 'my-release-milvus', DEFAULT_PORTS, stack).map(
        (f) => `${f.name} ${f.namespace}/${f.resource}:${f.remotePort}${f.httpPath ?? ''}`,
      ),
    ).toEqual([
      'prometheus kps/svc/kps-prometheus:9090/prom/-/ready',
      'milvus milvus/svc/my-release-milvus:19530',
      'milvus-metrics milvus/svc/my-release-milvus:9091/healthz',
    ])
  })

  it('a notice for each absent Grafana and Alertmanager, none for kube-prometheus', () => {
    expect(absentNotices(stack)).toEqual([
      'The stack of Prometheus kps/kps has no Grafana the action could find (a Service labelled app.kubernetes.io/name=grafana in kps): grafana-url is empty.',
      'The stack of Prometheus kps/kps has no Alertmanager the action could find (spec.alerting.alertmanagers names none that exists): alertmanager-url is empty.',
    ])
    expect(absentNotices(KUBE_PROMETHEUS_STACK)).toEqual([])
  })

  it.each([
    ['milvus', true, true, true],
    ['monitoring', true, true, false],
    ['monitoring', true, false, true],
    ['default', true, false, true],
    ['milvus', false, false, false],
  ])('needsRbac(%s, rbac %s, kube-prometheus %s) = %s', (ns, rbac, kp, want) => expect(needsRbac(ns, rbac, kp)).toBe(want))
})
