// The Kubernetes client's transport: service-proxy paths, and the environment's proxy applied
// to a stub API server as kubectl would apply it.
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { officialBinaries } from '../../local-cluster/official-binaries.ts'
import { Helm } from '../../src/cluster/helm.ts'
import { ApiError, Kube, NoClusterError, serviceProxyPath } from '../../src/cluster/kube.ts'
import { Kubectl } from '../../src/cluster/kubectl.ts'
import { preflight } from '../../src/preflight.ts'
import { ExistingPrometheus } from '../../src/prometheus/existing.ts'
import type { Inputs } from '../../src/types.ts'
import { FAKE_TOKEN, startFakeApiServer, type FakeApiServer } from '../support/fake-apiserver.ts'
import { nonLoopbackAddress, startHttpProxy, type TestProxy } from '../support/http-proxy.ts'

describe('serviceProxyPath', () => {
  it.each<[string, Parameters<typeof serviceProxyPath>[0], string, string]>([
    [
      'a port name',
      { namespace: 'monitoring', name: 'prometheus-k8s', port: 'web' },
      '/api/v1/targets?state=any&scrapePool=serviceMonitor%2Fmilvus%2Fm%2F0',
      '/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy/api/v1/targets?state=any&scrapePool=serviceMonitor%2Fmilvus%2Fm%2F0',
    ],
    [
      'a port number and a scheme',
      { namespace: 'monitoring', name: 'prometheus-k8s', port: 9090, scheme: 'https' },
      '/api/v1/query?query=up%7Bjob%3D%22a%22%7D',
      '/api/v1/namespaces/monitoring/services/https:prometheus-k8s:9090/proxy/api/v1/query?query=up%7Bjob%3D%22a%22%7D',
    ],
    [
      'names percent-encoded one by one, colons kept as separators',
      { namespace: 'a b', name: 'x/y', port: 'p?' },
      '/',
      '/api/v1/namespaces/a%20b/services/x%2Fy:p%3F/proxy/',
    ],
  ])('%s', (_, ref, path, want) => {
    expect(serviceProxyPath(ref, path)).toBe(want)
  })

  it('refuses a path without a leading slash', () => {
    expect(() => serviceProxyPath({ namespace: 'n', name: 's', port: 1 }, 'api/v1/targets')).toThrow(/must start with '\/'/)
  })
})

const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'KUBECONFIG']

describe('Kube and the environment proxy', async () => {
  // Proxies are never used for loopback hosts, so the stub API server listens on this
  // machine's non-loopback address; without one, only the loopback exemption is tested.
  const ip = await nonLoopbackAddress()
  const saved = Object.fromEntries(PROXY_VARS.map((k) => [k, process.env[k]]))
  let dir: string
  let proxy: TestProxy
  const servers: FakeApiServer[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kube-proxy-test-'))
    proxy = await startHttpProxy(ip ?? '127.0.0.1')
  })
  afterEach(async () => {
    for (const k of PROXY_VARS) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
    proxy.log.length = 0
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })
  afterAll(async () => {
    await proxy?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function apiServer(host: string, opts: { proxyUrl?: string } = {}): Promise<FakeApiServer> {
    const s = await startFakeApiServer({ host, tls: true })
    servers.push(s)
    process.env.KUBECONFIG = await s.kubeconfig(dir, opts)
    return s
  }
  const hostPort = (url: string) => new URL(url).host

  it.skipIf(!ip)('HTTPS_PROXY: requests go through the proxy (CONNECT), with the kubeconfig credentials', async () => {
    const s = await apiServer(ip ?? '')
    process.env.HTTPS_PROXY = proxy.url
    const kube = await Kube.load()
    expect(kube.proxy).toEqual({ proxy: proxy.url, reason: 'HTTPS_PROXY' })
    expect(await kube.get('/version')).toMatchObject({ gitVersion: 'v1.35.0' })
    expect(proxy.log).toEqual([`CONNECT ${hostPort(s.url)}`])
    expect(s.requests.map((r) => `${r.method} ${r.path} ${r.authorization}`)).toEqual(['GET /version Bearer test-token-1234'])
  })

  it.skipIf(!ip)('NO_PROXY exempts the API server: direct, the proxy sees nothing', async () => {
    await apiServer(ip ?? '')
    process.env.HTTPS_PROXY = proxy.url
    process.env.NO_PROXY = `example.org,${ip}`
    const kube = await Kube.load()
    expect(kube.proxy).toEqual({ reason: `NO_PROXY entry "${ip}"` })
    expect(await kube.get('/version')).toMatchObject({ gitVersion: 'v1.35.0' })
    expect(proxy.log).toEqual([])
  })

  it('a loopback API server (kind) is never proxied, HTTPS_PROXY or not', async () => {
    await apiServer('127.0.0.1')
    process.env.HTTPS_PROXY = proxy.url
    const kube = await Kube.load()
    expect(kube.proxy).toEqual({ reason: 'loopback host' })
    expect(await kube.get('/version')).toMatchObject({ gitVersion: 'v1.35.0' })
    expect(proxy.log).toEqual([])
  })

  it.skipIf(!ip)("the kubeconfig's proxy-url wins over the environment", async () => {
    const s = await apiServer(ip ?? '', { proxyUrl: proxy.url })
    process.env.HTTPS_PROXY = 'http://192.0.2.254:1' // would fail if used
    const kube = await Kube.load()
    expect(kube.proxy).toEqual({ proxy: proxy.url, reason: "the kubeconfig's proxy-url" })
    expect(await kube.get('/version')).toMatchObject({ gitVersion: 'v1.35.0' })
    expect(proxy.log).toEqual([`CONNECT ${hostPort(s.url)}`])
  })

  it.skipIf(!ip)('service-proxy GETs go through the proxy too, and keep the HTTP status of a failure', async () => {
    const s = await apiServer(ip ?? '')
    process.env.HTTPS_PROXY = proxy.url
    const kube = await Kube.load()
    const err = await kube
      .serviceProxyGet({ namespace: 'monitoring', name: 'prometheus-k8s', port: 'web' }, '/api/v1/targets')
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(404)
    expect((err as Error).message).toBe(
      'GET /api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy/api/v1/targets: HTTP 404: services "prometheus-k8s" not found',
    )
    expect(proxy.log).toEqual([`CONNECT ${hostPort(s.url)}`])
  })

  it.skipIf(!ip)('with the proxy gone, the preflight fails naming it', { timeout: 20_000 }, async () => {
    await apiServer(ip ?? '')
    const gone = await startHttpProxy(ip ?? '')
    await gone.close()
    process.env.HTTPS_PROXY = gone.url
    const err = await preflight({} as Inputs, new ExistingPrometheus({ prometheus: '' } as Inputs), AbortSignal.timeout(3000)).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(NoClusterError)
    expect((err as Error).message).toMatch(
      new RegExp(`did not answer within 20 s, asked via proxy ${gone.url.replace(/\./g, '\\.')} \\(HTTPS_PROXY\\): .*ECONNREFUSED`),
    )
  })

  it('requests to the API server share one kept-alive TLS connection', async () => {
    const s = await apiServer('127.0.0.1')
    const kube = await Kube.load()
    for (let i = 0; i < 5; i++) expect(await kube.get('/version')).toMatchObject({ gitVersion: 'v1.35.0' })
    expect(s.requests).toHaveLength(5)
    expect(s.connections()).toBe(1)
  })

  it('eachPage: a collection of 1203 objects asked for and handed over in pages of at most 500, each object once', async () => {
    const s = await apiServer('127.0.0.1')
    const all = Array.from({ length: 1203 }, (_, i) => ({ metadata: { name: `d${i}`, namespace: 'apps' } }))
    s.collections.set('/apis/apps/v1/deployments', all)
    const kube = await Kube.load()
    const pages: number[] = []
    const seen: string[] = []
    await kube.eachPage('/apis/apps/v1/deployments', {}, (items) => {
      pages.push(items.length)
      seen.push(...items.map((o) => o.metadata.name))
    })
    expect(pages).toEqual([500, 500, 203])
    expect(seen).toEqual(all.map((o) => o.metadata.name))
    expect(s.requests.map((r) => r.path)).toEqual([
      '/apis/apps/v1/deployments?limit=500',
      '/apis/apps/v1/deployments?limit=500&continue=500',
      '/apis/apps/v1/deployments?limit=500&continue=1000',
    ])
  })

  it('without a proxy the preflight error says so', { timeout: 20_000 }, async () => {
    const s = await apiServer('127.0.0.1')
    await s.close()
    const err = await preflight({} as Inputs, new ExistingPrometheus({ prometheus: '' } as Inputs), AbortSignal.timeout(1500)).catch(
      (e: unknown) => e,
    )
    expect((err as Error).message).toMatch(
      /did not answer within 20 s, asked directly \(no proxy: (loopback host|no HTTPS_PROXY set)\): .*ECONNREFUSED/,
    )
  })
})

// A runner in a pod (actions-runner-controller): no kubeconfig file, the pod's ServiceAccount
// token and CA, KUBERNETES_SERVICE_HOST/PORT. The action's client connects with them, and the
// official kubectl and helm, pinned to the connection the run records, reach the same API server
// with the same token.
describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('Kube in a pod (in-cluster credentials)', () => {
  const SA = '/var/run/secrets/kubernetes.io/serviceaccount'
  const ENV = ['KUBECONFIG', 'HOME', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'RUNNER_TEMP']
  const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]))
  let root: string
  let server: FakeApiServer
  afterAll(async () => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
    await server?.close()
    if (root) await rm(root, { recursive: true, force: true })
  })

  it('the client, kubectl and helm all reach the API server with the ServiceAccount token', { timeout: 60_000 }, async () => {
    server = await startFakeApiServer({ host: '127.0.0.1', tls: true })
    root = await mkdtemp(join(tmpdir(), 'fake-pod-'))
    await mkdir(join(root, SA), { recursive: true })
    await writeFile(join(root, SA, 'token'), FAKE_TOKEN)
    await writeFile(join(root, SA, 'ca.crt'), server.ca ?? '')
    await writeFile(join(root, SA, 'namespace'), 'arc-runners')
    await mkdir(join(root, 'home'))
    await mkdir(join(root, 'runner-temp'))
    delete process.env.KUBECONFIG
    process.env.HOME = join(root, 'home') // no ~/.kube/config
    process.env.RUNNER_TEMP = join(root, 'runner-temp')
    const url = new URL(server.url)
    process.env.KUBERNETES_SERVICE_HOST = url.hostname
    process.env.KUBERNETES_SERVICE_PORT = url.port

    const kube = await Kube.load({ serviceAccountRoot: root })
    expect(kube.context).toBe('inClusterContext')
    expect(await kube.get('/version')).toMatchObject({ gitVersion: 'v1.35.0' })
    const conn = kube.connection()
    expect(conn).toEqual({
      context: 'inClusterContext',
      kubeconfig: kube.inClusterKubeconfig,
      server: server.url,
      // What the post step writes the kubeconfig again from, when RUNNER_TEMP was emptied.
      inCluster: { server: server.url, caFile: join(root, SA, 'ca.crt'), tokenFile: join(root, SA, 'token'), namespace: 'arc-runners' },
    })
    expect(conn.kubeconfig.startsWith(join(root, 'runner-temp', 'milvus-kubeconfig-'))).toBe(true)
    expect((await stat(conn.kubeconfig)).mode & 0o777).toBe(0o600)

    const bins = await officialBinaries()
    const kubectl = new Kubectl(bins.find((b) => b.tool === 'kubectl' && b.version === 'v1.35.2')!.path, conn)
    expect(JSON.parse((await kubectl.run(['get', '--raw', '/version'])).stdout)).toMatchObject({ gitVersion: 'v1.35.0' })
    // The post step's cluster check reads the server the same way.
    expect((await kubectl.run(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).stdout.trim()).toBe(
      server.url,
    )
    server.collections.set('/api/v1/namespaces/milvus/secrets', [])
    const helm = new Helm(bins.find((b) => b.tool === 'helm' && b.version === 'v4.1.4')!.path, conn, 'v4.1.4')
    expect(await helm.history('my-release', 'milvus')).toEqual([])
    const tokens = new Set(server.requests.map((r) => r.authorization))
    expect(tokens).toEqual(new Set([`Bearer ${FAKE_TOKEN}`]))
    expect(server.requests.some((r) => r.path.startsWith('/api/v1/namespaces/milvus/secrets'))).toBe(true)
  })

  it('a ServiceAccount token without KUBERNETES_SERVICE_HOST fails naming both', async () => {
    delete process.env.KUBERNETES_SERVICE_HOST
    await expect(Kube.load({ serviceAccountRoot: root })).rejects.toThrow(
      /ServiceAccount token at .*\/token comes without KUBERNETES_SERVICE_HOST/,
    )
  })
})
