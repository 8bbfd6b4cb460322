// prometheus-operator's way to the API server: a loopback HTTP proxy that adds the admin client
// certificate and passes everything through, except that while the hold file exists it holds
// back the events of every namespace watch the operator has open, and sends them in order when
// the file goes. Holding them reproduces, at will, the race the operator loses in real clusters
// (upstream prometheus-operator PR #8313): a ServiceMonitor whose namespace is not yet in the
// operator's namespace cache is dropped ("get namespace to enqueue Prometheus instances failed").
// Tests create and remove the file through `cluster.ts hold-namespace-events on|off`.
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { request } from 'node:https'
import type { AddressInfo } from 'node:net'

export interface OperatorProxy {
  /** The proxy's URL, http://127.0.0.1:<port>. */
  url: string
  close(): Promise<void>
}

/** True for a watch of all namespaces (`GET /api/v1/namespaces?watch=true`), as client-go's informers open it. */
export function isNamespaceWatch(url: string): boolean {
  const u = new URL(url, 'http://proxy')
  return u.pathname === '/api/v1/namespaces' && ['true', '1'].includes(u.searchParams.get('watch') ?? '')
}

/**
 * Starts the proxy on 127.0.0.1 (an ephemeral port). `apiserver` is the https URL; `ca`, `cert`
 * and `key` are PEM file paths; `holdFile` is checked for each event chunk and every 200 ms.
 */
export async function startOperatorProxy(o: {
  apiserver: string
  ca: string
  cert: string
  key: string
  holdFile: string
}): Promise<OperatorProxy> {
  const target = new URL(o.apiserver)
  const tls = { ca: readFileSync(o.ca), cert: readFileSync(o.cert), key: readFileSync(o.key) }
  const held = new Set<() => void>()
  const timer = setInterval(() => {
    if (!existsSync(o.holdFile)) for (const flush of held) flush()
  }, 200)

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      {
        ...tls,
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        // An answer cut short (the API server went away mid-watch) cuts the operator's request
        // too: left open, client-go would wait on a watch that never delivers again.
        answer.on('close', () => {
          if (!answer.complete) res.destroy()
        })
        if (!isNamespaceWatch(req.url ?? '')) {
          answer.pipe(res)
          return
        }
        const queue: Buffer[] = []
        const flush = () => {
          for (const chunk of queue.splice(0)) res.write(chunk)
        }
        held.add(flush)
        answer.on('data', (chunk: Buffer) => {
          if (existsSync(o.holdFile)) queue.push(chunk)
          else {
            flush()
            res.write(chunk)
          }
        })
        answer.on('end', () => {
          held.delete(flush)
          flush()
          res.end()
        })
        answer.on('error', () => res.destroy())
      },
    )
    upstream.on('error', () => res.destroy())
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer)
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
