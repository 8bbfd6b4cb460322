// Listeners for what kube-prometheus and Milvus serve but cannot run here: Grafana and Milvus'
// gRPC port answer simply; 127.0.0.1:9090 and 127.0.0.1:9093, where kwok sends port-forwards to
// any Prometheus or Alertmanager pod, relay to a live real one (pod-runner.ts runs them).
//
// Grafana answers exactly the documented HTTP API endpoints the action and its tests use, with
// kube-prometheus' Grafana's login (admin/admin, basic auth) and its one provisioned datasource
// (grafana-dashboardDatasources.yaml: `prometheus`), dashboards kept in memory as the real one
// keeps them in an emptyDir:
//   GET  /api/health                          (no auth)
//   POST /api/dashboards/db                   {dashboard, overwrite, folderUid?, message?}
//   GET  /api/dashboards/uid/:uid
//   GET  /api/search?dashboardUIDs=...&query=...
//   GET  /api/datasources, /api/datasources/uid/:uid, /api/datasources/name/:name
import http from 'node:http'
import net from 'node:net'
import type { PodRunner } from './pod-runner.ts'

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
}

function json(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

function status(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** kube-prometheus' provisioned datasource, as Grafana's datasource API shows it. */
const DATASOURCE = {
  id: 1,
  uid: 'prometheus',
  orgId: 1,
  name: 'prometheus',
  type: 'prometheus',
  typeName: 'Prometheus',
  access: 'proxy',
  url: 'http://prometheus-k8s.monitoring.svc:9090',
  isDefault: false,
  readOnly: true,
  basicAuth: false,
  jsonData: {},
}

function slugify(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
}

interface Stored {
  id: number
  uid: string
  version: number
  dashboard: Record<string, unknown>
}

/** Grafana's dashboard and datasource HTTP API, in memory (see the header). */
export function grafanaHandler(): http.RequestListener {
  const dashboards = new Map<string, Stored>()
  let nextId = 1
  const meta = (d: Stored) => {
    const slug = slugify(String(d.dashboard.title ?? ''))
    return { slug, url: `/d/${d.uid}/${slug}` }
  }
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://grafana')
    const path = url.pathname
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (path === '/api/health') return json(res, { database: 'ok', version: 'local-cluster stand-in' })
      if (!path.startsWith('/api/'))
        return res.writeHead(200, { 'content-type': 'text/html' }).end('<title>Grafana (local-cluster stand-in)</title>')
      if (req.headers.authorization !== `Basic ${Buffer.from('admin:admin').toString('base64')}`) {
        return status(res, 401, { message: 'Unauthorized', messageId: 'auth.unauthorized', statusCode: 401 })
      }
      if (req.method === 'POST' && path === '/api/dashboards/db') {
        let body: { dashboard?: Record<string, unknown>; overwrite?: boolean }
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body
        } catch {
          return status(res, 400, { message: 'bad request data' })
        }
        const d = body.dashboard
        if (!d || typeof d.title !== 'string' || d.title === '') return status(res, 400, { message: 'Dashboard title cannot be empty' })
        if (d.id !== undefined && d.id !== null && ![...dashboards.values()].some((x) => x.id === d.id)) {
          return status(res, 404, { message: 'Dashboard not found', status: 'not-found' })
        }
        const uid = typeof d.uid === 'string' && d.uid !== '' ? d.uid : Math.random().toString(36).slice(2, 12)
        const existing = dashboards.get(uid)
        if (existing && body.overwrite !== true && d.version !== existing.version) {
          return status(res, 412, { message: 'The dashboard has been changed by someone else', status: 'version-mismatch' })
        }
        const stored: Stored = { id: existing?.id ?? nextId++, uid, version: (existing?.version ?? 0) + 1, dashboard: d }
        stored.dashboard = { ...d, id: stored.id, uid, version: stored.version }
        dashboards.set(uid, stored)
        return json(res, { id: stored.id, uid, url: meta(stored).url, status: 'success', version: stored.version, slug: meta(stored).slug })
      }
      if (req.method !== 'GET') return status(res, 405, { message: 'Method not allowed' })
      const byUid = /^\/api\/dashboards\/uid\/([^/]+)$/.exec(path)
      if (byUid) {
        const d = dashboards.get(decodeURIComponent(byUid[1]!))
        if (!d) return status(res, 404, { message: 'Dashboard not found' })
        return json(res, {
          dashboard: d.dashboard,
          meta: { type: 'db', ...meta(d), version: d.version, folderUid: '', provisioned: false },
        })
      }
      if (path === '/api/search') {
        const uids = url.searchParams.getAll('dashboardUIDs').flatMap((u) => u.split(','))
        const query = (url.searchParams.get('query') ?? '').toLowerCase()
        const hits = [...dashboards.values()]
          .filter((d) => (uids.length === 0 || uids.includes(d.uid)) && String(d.dashboard.title).toLowerCase().includes(query))
          .map((d) => ({
            id: d.id,
            uid: d.uid,
            title: d.dashboard.title,
            uri: `db/${meta(d).slug}`,
            url: meta(d).url,
            slug: '',
            type: 'dash-db',
            tags: d.dashboard.tags ?? [],
            isStarred: false,
          }))
        return json(res, hits)
      }
      if (path === '/api/datasources') return json(res, [DATASOURCE])
      const ds = /^\/api\/datasources\/(uid|name)\/([^/]+)$/.exec(path)
      if (ds) {
        const key = decodeURIComponent(ds[2]!)
        if ((ds[1] === 'uid' ? DATASOURCE.uid : DATASOURCE.name) !== key) return status(res, 404, { message: 'Data source not found' })
        return json(res, DATASOURCE)
      }
      return status(res, 404, { message: 'Not found' })
    })
  }
}

/** A TCP relay to `port` of the IP `target` names at each connection (closed when there is none). */
function relay(port: number, target: () => string | undefined): net.Server {
  return net.createServer((client) => {
    const ip = target()
    if (!ip) return client.destroy()
    const upstream = net.connect(port, ip)
    client.pipe(upstream).pipe(client)
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
  })
}

export async function startStandins(runner: PodRunner): Promise<{ close(): Promise<void> }> {
  const grafana = http.createServer(grafanaHandler())
  // Accepts gRPC connections and holds them: enough for "is the endpoint reachable".
  const milvusGrpc = net.createServer((socket) => socket.on('error', () => undefined).resume())
  const prometheus = relay(9090, () => runner.livePrometheusIp())
  const alertmanager = relay(9093, () => runner.liveAlertmanagerIp())
  const servers: Array<[net.Server, number, string]> = [
    [grafana, 3000, '0.0.0.0'],
    [milvusGrpc, 19530, '0.0.0.0'],
    [prometheus, 9090, '127.0.0.1'],
    [alertmanager, 9093, '127.0.0.1'],
  ]
  for (const [s, port, host] of servers) await listen(s, port, host)
  return {
    close: async () => {
      for (const [s] of servers) {
        s.close()
        ;(s as http.Server).closeAllConnections?.()
      }
    },
  }
}
