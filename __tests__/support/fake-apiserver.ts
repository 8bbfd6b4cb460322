// A stand-in for the few Kubernetes API server paths the proxy and service-proxy tests need:
// /version, SelfSubjectAccessReviews (always allowed), collections it is given (paged), and the service proxy
// /api/v1/namespaces/<ns>/services/<[scheme:]name:port>/proxy/<path>, forwarded to a URL the
// test names, with the real API server's 503 Status when that URL does not answer. Every
// request must carry the bearer token of the kubeconfig it writes. HTTP or HTTPS (a
// self-signed certificate made with openssl for the host it serves on).
import { execFile } from 'node:child_process'
import { createServer as createHttp, request, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttps } from 'node:https'
import { isIP, type AddressInfo } from 'node:net'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { stringify } from 'yaml'

const run = promisify(execFile)

export interface FakeApiRequest {
  method: string
  path: string
  authorization: string
}

export interface FakeApiServer {
  url: string
  /** Every request received, in order. */
  requests: FakeApiRequest[]
  /** Where the service proxy sends '<ns>/<[scheme:]name:port>' (as written in the path); mutable. */
  services: Map<string, string>
  /** Collections listed at their API path, paged as the API server pages them (`limit`, `continue`); mutable. */
  collections: Map<string, unknown[]>
  /** The PEM certificate it serves (its own CA) with TLS; undefined over HTTP. */
  ca: string | undefined
  /** How many TCP connections clients opened so far. */
  connections(): number
  /** Writes a kubeconfig for this server (token auth; its CA, or insecure for http) and returns its path. */
  kubeconfig(dir: string, opts?: { proxyUrl?: string }): Promise<string>
  close(): Promise<void>
}

export const FAKE_TOKEN = 'test-token-1234'

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }
}

/** A certificate and key for `host` (an IP or a name), valid for a day. */
async function selfSigned(host: string): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-apiserver-tls-'))
  try {
    const san = isIP(host) ? `IP:${host}` : `DNS:${host}`
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=${san}`,
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ])
    return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const SERVICE_PROXY = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/proxy(\/.*)?$/

export async function startFakeApiServer(opts: { host?: string; tls?: boolean } = {}): Promise<FakeApiServer> {
  const host = opts.host ?? '127.0.0.1'
  const requests: FakeApiRequest[] = []
  const services = new Map<string, string>()
  const collections = new Map<string, unknown[]>()
  const tls = opts.tls ? await selfSigned(host) : undefined

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://apiserver')
    requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization ?? '' })
    if (req.headers.authorization !== `Bearer ${FAKE_TOKEN}`) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'))
    if (url.pathname === '/version') return send(res, 200, { major: '1', minor: '35', gitVersion: 'v1.35.0' })
    if (url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      req.resume()
      return send(res, 201, { kind: 'SelfSubjectAccessReview', status: { allowed: true } })
    }
    const items = collections.get(url.pathname)
    if (items) {
      const from = Number(url.searchParams.get('continue') ?? 0)
      const to = url.searchParams.has('limit') ? from + Number(url.searchParams.get('limit')) : items.length
      const more = to < items.length ? { continue: String(to), remainingItemCount: items.length - to } : {}
      return send(res, 200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '1', ...more }, items: items.slice(from, to) })
    }
    const m = SERVICE_PROXY.exec(url.pathname)
    if (!m) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'))
    const ns = decodeURIComponent(m[1] ?? '')
    const service = decodeURIComponent(m[2] ?? '')
    const upstream = services.get(`${ns}/${service}`)
    if (!upstream) return send(res, 404, status(404, 'NotFound', `services "${service.split(':')[0]}" not found`))
    const target = new URL((m[3] ?? '/') + url.search, upstream)
    const out = request(target, { method: req.method, headers: { accept: req.headers.accept ?? '*/*' } }, (up) => {
      res.writeHead(up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? 'application/octet-stream' })
      up.pipe(res)
    })
    out.on('error', (err) =>
      send(res, 503, status(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${target.host}: ${err.message}`)),
    )
    out.end()
  }
  const server = tls ? createHttps({ key: tls.key, cert: tls.cert }, handler) : createHttp(handler)
  let connections = 0
  server.on('connection', () => connections++)
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(0, host, ok)
  })
  const addr = server.address() as AddressInfo
  const url = `${tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`

  return {
    url,
    requests,
    services,
    collections,
    ca: tls?.cert,
    connections: () => connections,
    async kubeconfig(dir, o = {}) {
      const cluster: Record<string, unknown> = { server: url }
      if (tls) cluster['certificate-authority-data'] = Buffer.from(tls.cert).toString('base64')
      else cluster['insecure-skip-tls-verify'] = true
      if (o.proxyUrl) cluster['proxy-url'] = o.proxyUrl
      const path = join(dir, `kubeconfig-${addr.port}${o.proxyUrl ? '-proxy-url' : ''}`)
      await writeFile(
        path,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'fake', cluster }],
          users: [{ name: 'fake', user: { token: FAKE_TOKEN } }],
          contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
          'current-context': 'fake',
        }),
      )
      return path
    },
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections()
        server.close(() => ok())
      }),
  }
}
