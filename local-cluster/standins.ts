// Listeners for what kube-prometheus and Milvus serve but cannot run here: Grafana, Alertmanager
// and Milvus' gRPC port answer simply; 127.0.0.1:9090, where kwok sends port-forwards to any
// Prometheus pod, relays to a live real Prometheus.
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

export async function startStandins(runner: PodRunner): Promise<{ close(): Promise<void> }> {
  const grafana = http.createServer((req, res) => {
    req.resume()
    if (req.url?.startsWith('/api/health')) return json(res, { database: 'ok', version: 'local-cluster stand-in' })
    res.writeHead(200, { 'content-type': 'text/html' }).end('<title>Grafana (local-cluster stand-in)</title>')
  })
  const alertmanager = http.createServer((req, res) => {
    req.resume()
    if (req.url?.startsWith('/api/v2/status')) return json(res, { cluster: { status: 'ready' }, versionInfo: { version: 'local-cluster stand-in' } })
    res.writeHead(200).end('OK')
  })
  // Accepts gRPC connections and holds them: enough for "is the endpoint reachable".
  const milvusGrpc = net.createServer((socket) => socket.on('error', () => undefined).resume())
  const prometheus = net.createServer((client) => {
    const ip = runner.livePrometheusIp()
    if (!ip) return client.destroy()
    const upstream = net.connect(9090, ip)
    client.pipe(upstream).pipe(client)
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
  })
  const servers: Array<[net.Server, number, string]> = [
    [grafana, 3000, '0.0.0.0'],
    [alertmanager, 9093, '0.0.0.0'],
    [milvusGrpc, 19530, '0.0.0.0'],
    [prometheus, 9090, '127.0.0.1'],
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
