// A small forward proxy for tests, logging each request it serves: CONNECT tunnels (how https
// URLs, and http ones through @actions/http-client, travel) and absolute-URI requests (how Go
// and undici send http URLs). Test support only; the action itself never tunnels by hand.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

export interface TestProxy {
  /** 'http://<host>:<port>' */
  url: string
  /** 'CONNECT host:port' or 'GET http://host:port/path', in arrival order. */
  log: string[]
  close(): Promise<void>
}

/** Starts the proxy on `host` (default 127.0.0.1), any free port. */
export async function startHttpProxy(host = '127.0.0.1'): Promise<TestProxy> {
  const log: string[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    log.push(`${req.method} ${req.url}`)
    let target: URL
    try {
      target = new URL(req.url ?? '')
    } catch {
      res.writeHead(400).end('absolute URI expected\n')
      return
    }
    const upstream = request(target, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502).end(`proxy: ${err.message}\n`)
      else res.destroy()
    })
    req.pipe(upstream)
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    log.push(`CONNECT ${req.url}`)
    const [h, p] = (req.url ?? '').split(/:(?=\d+$)/)
    const upstream = connect(Number(p), (h ?? '').replace(/^\[(.*)\]$/, '$1'), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'))
    client.on('error', () => upstream.destroy())
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(0, host, ok)
  })
  const addr = server.address() as AddressInfo
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    url: `http://${shown}:${addr.port}`,
    log,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((ok) => server.close(ok))
    },
  }
}

/**
 * An IPv4 address of this machine that is not loopback, or undefined. Proxies are never used
 * for loopback hosts (kubectl's rule, and @actions/http-client's), so tests that must see a
 * request cross the proxy serve on this address instead.
 */
export async function nonLoopbackAddress(): Promise<string | undefined> {
  const { networkInterfaces } = await import('node:os')
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address
}
