import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_DASHBOARD_URL,
  dashboardLink,
  dashboardSource,
  grafanaLogin,
  milvusImageVersion,
  milvusTag,
  pickDatasource,
  prepareDashboard,
  readyPods,
  type GrafanaDatasource,
} from '../../src/mixin/dashboard.ts'
import type { Kube } from '../../src/cluster/kube.ts'
import type { Inputs } from '../../src/types.ts'

describe('dashboardLink', () => {
  it.each([
    [
      'http://127.0.0.1:40124',
      '/d/uLf5cJ3Gaa/milvus2-5',
      { namespace: 'milvus', instance: 'my-release' },
      'http://127.0.0.1:40124/d/uLf5cJ3Gaa/milvus2-5?var-namespace=milvus&var-instance=my-release',
    ],
    [
      'http://grafana.monitoring.svc:3000/',
      'd/abc/x',
      { namespace: 'a b' },
      'http://grafana.monitoring.svc:3000/d/abc/x?var-namespace=a+b',
    ],
    ['http://g:3000', '/d/abc/x', {}, 'http://g:3000/d/abc/x'],
    ['http://g:3000/grafana', '/d/abc/x', { instance: 'r&d' }, 'http://g:3000/grafana/d/abc/x?var-instance=r%26d'],
  ])('%s + %s', (base, path, vars, want) => {
    expect(dashboardLink(base, path, vars)).toBe(want)
  })
})

describe('dashboard source', () => {
  it.each([
    ['2.6.15', 'v2.6.15'],
    ['v2.5.4', 'v2.5.4'],
  ])('milvusTag(%s) = %s', (v, want) => expect(milvusTag(v)).toBe(want))

  it.each([
    ['', 'v2.6.15', 'https://raw.githubusercontent.com/milvus-io/milvus/v2.6.15/deployments/monitor/grafana/milvus-dashboard.json'],
    [
      'http://mirror:8099/raw/milvus-io/milvus/${tag}/milvus-dashboard.json',
      'v2.6.15',
      'http://mirror:8099/raw/milvus-io/milvus/v2.6.15/milvus-dashboard.json',
    ],
    ['https://pinned.example/milvus-dashboard.json', undefined, 'https://pinned.example/milvus-dashboard.json'],
  ])('%j at %s', (input, tag, want) => {
    expect(dashboardSource(input, tag)).toBe(want)
  })

  it('needs the version for the default URL', () => {
    expect(DEFAULT_DASHBOARD_URL).toContain('${tag}')
    expect(() => dashboardSource('', undefined)).toThrow(/needs the Milvus version/)
  })
})

describe('milvusImageVersion', () => {
  it.each<[string, string | undefined]>([
    ['milvusdb/milvus:v2.6.15', 'v2.6.15'],
    ['docker.io/milvusdb/milvus:v2.5.4-gpu', 'v2.5.4'],
    ['registry.local:5000/mirror/milvus:2.6.1@sha256:abc', '2.6.1'],
    ['milvusdb/milvus:master-20250101-abcdef', undefined],
    ['milvusdb/milvus-operator:v1.3.0', undefined],
    ['milvusdb/etcd:3.5.18-r1', undefined],
    ['minio/minio:RELEASE.2023-03-20T20-16-18Z', undefined],
  ])('%s -> %s', (image, want) => expect(milvusImageVersion(image)).toBe(want))
})

describe('pickDatasource', () => {
  const ds = (name: string, type = 'prometheus', isDefault = false): GrafanaDatasource => ({ uid: `uid-${name}`, name, type, isDefault })
  it.each<[string, GrafanaDatasource[], string | undefined]>([
    ["kube-prometheus' own", [ds('loki', 'loki', true), ds('other'), ds('prometheus')], 'prometheus'],
    ['the default Prometheus', [ds('a'), ds('b', 'prometheus', true)], 'b'],
    ['the first Prometheus', [ds('loki', 'loki', true), ds('a'), ds('b')], 'a'],
    ['none', [ds('loki', 'loki')], undefined],
  ])('%s', (_, list, want) => {
    expect(pickDatasource(list)?.name).toBe(want)
  })
})

describe('prepareDashboard', () => {
  const fixture = process.env.MILVUS_ACTION_FIXTURES ? join(process.env.MILVUS_ACTION_FIXTURES, 'grafana', 'milvus-dashboard.json') : ''

  it('clears the id and points the datasource variable at the chosen datasource, leaving the input alone', () => {
    const input = {
      id: 250,
      uid: 'u',
      title: 't',
      templating: {
        list: [
          { name: 'datasource', type: 'datasource', query: 'prometheus', current: { text: 'default', value: 'default' } },
          { name: 'namespace', type: 'query' },
        ],
      },
    }
    const out = prepareDashboard(input, { uid: 'P1', name: 'prometheus', type: 'prometheus' })
    expect(out.id).toBeNull()
    expect(out.templating?.list?.[0]?.current).toEqual({ selected: true, text: 'prometheus', value: 'P1' })
    expect(out.templating?.list?.[1]).toEqual({ name: 'namespace', type: 'query' })
    expect(input.id).toBe(250)
  })

  it("gives an export for sharing the run's datasource for its Prometheus inputs, and reads the API's {dashboard, meta} shape", () => {
    const shared = {
      __inputs: [
        { name: 'DS_PROM', type: 'datasource', pluginId: 'prometheus' },
        { name: 'DS_LOKI', type: 'datasource', pluginId: 'loki' },
      ],
      uid: 'u',
      title: 't',
      panels: [
        { datasource: '${DS_PROM}', targets: [{ datasource: { type: 'prometheus', uid: '${DS_PROM}' }, expr: 'up' }] },
        { datasource: '${DS_LOKI}' },
      ],
    }
    const out = prepareDashboard({ dashboard: shared, meta: {} }, { uid: 'P1', name: 'prometheus', type: 'prometheus' })
    expect(out['panels']).toEqual([
      { datasource: 'P1', targets: [{ datasource: { type: 'prometheus', uid: 'P1' }, expr: 'up' }] },
      { datasource: '${DS_LOKI}' },
    ])
    expect(out['__inputs']).toBeUndefined()
    expect(shared.panels[0]?.datasource).toBe('${DS_PROM}')
  })

  it.each([[{}], [null], [{ uid: 'u' }], [[1, 2]]])('refuses %j', (json) => {
    expect(() => prepareDashboard(json, undefined)).toThrow(/no uid or title/)
  })

  it.runIf(existsSync(fixture))("takes Milvus' official dashboard", () => {
    const out = prepareDashboard(JSON.parse(readFileSync(fixture, 'utf8')), { uid: 'P1', name: 'prometheus', type: 'prometheus' })
    expect(out.uid).toBe('uLf5cJ3Gaa')
    const names = (out.templating?.list ?? []).map((v) => v.name)
    expect(names).toEqual(expect.arrayContaining(['datasource', 'namespace', 'instance']))
  })
})

describe("the stack's Grafana login", () => {
  const grafana = { namespace: 'kps', name: 'kps-grafana', port: 'http-web', portNumber: 80, pathPrefix: '' }
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  const decode = (auth: string) => Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8')
  const kube = (secrets: Record<string, unknown>) => ({ find: async (path: string) => secrets[path] }) as unknown as Pick<Kube, 'find'>
  const kpsSecret = {
    '/api/v1/namespaces/kps/secrets/kps-grafana': { data: { 'admin-user': b64('admin'), 'admin-password': b64('prom-operator') } },
  }

  it('the input wins over everything', async () => {
    const login = await grafanaLogin({ grafanaCredentials: { user: 'ci', password: 'a:b' } } as Inputs, kube(kpsSecret), grafana)
    expect(decode(login.authorization)).toBe('ci:a:b')
    expect(login.from).toBe('the grafana-credentials input')
  })

  it("kube-prometheus-stack's admin Secret, named like the Grafana Service", async () => {
    const login = await grafanaLogin({} as Inputs, kube(kpsSecret), grafana)
    expect(decode(login.authorization)).toBe('admin:prom-operator')
    expect(login.from).toBe('Secret kps/kps-grafana')
  })

  it("no readable Secret: kube-prometheus' admin/admin", async () => {
    const forbidden = { find: async () => Promise.reject(new Error('HTTP 403')) } as unknown as Pick<Kube, 'find'>
    expect(decode((await grafanaLogin({} as Inputs, forbidden, grafana)).authorization)).toBe('admin:admin')
    expect(decode((await grafanaLogin({} as Inputs, kube({}), grafana)).authorization)).toBe('admin:admin')
  })
})

describe("someone else's Grafana: its ready pods, asked before any wait", () => {
  const svc = { metadata: { name: 'kps-grafana' }, spec: { selector: { 'app.kubernetes.io/name': 'grafana' } } }
  const pod = (ready: string) => ({ metadata: { name: `g-${ready}` }, status: { conditions: [{ type: 'Ready', status: ready }] } })
  const kube = (pods: unknown[], service: unknown = svc) => ({
    find: async <T>() => service as T,
    get: async <T>(path: string) => {
      expect(path).toBe(`/api/v1/namespaces/kps/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/name=grafana')}`)
      return { items: pods } as T
    },
  })
  const ref = { namespace: 'kps', name: 'kps-grafana' }

  it('counts the Ready pods its Service selects', async () => {
    expect(await readyPods(kube([pod('True'), pod('False')]), ref)).toBe(1)
    expect(await readyPods(kube([]), ref)).toBe(0)
  })

  it('undefined when nobody can say: no selector, or reads refused', async () => {
    expect(await readyPods(kube([], { spec: {} }), ref)).toBeUndefined()
    const refused = {
      find: async () => {
        throw new Error('HTTP 403')
      },
      get: async () => ({ items: [] }),
    }
    expect(await readyPods(refused as never, ref)).toBeUndefined()
  })
})
