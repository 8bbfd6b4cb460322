// A stand-in for Milvus' metrics port (9091): /metrics in the Prometheus text format with
// Milvus' own metric families, and /healthz. In the local cluster it listens in a network
// namespace where every pod IP is local, so one listener answers for every Milvus pod.
//
//   npx node local-cluster/milvus-standin.ts [--host 0.0.0.0] [--port 9091] [--role ADDR=ROLE]... [--unhealthy]
//
// Per pod: `isDown(localAddress)` true answers that address' /metrics with 503 (the local
// cluster sets it for pods annotated local-cluster.milvus-monitoring-action/metrics-down).
// Unhealthy mode (option, MILVUS_STANDIN_UNHEALTHY=1, setUnhealthy(), or SIGUSR1 to toggle in
// the CLI) answers /metrics with 503 so Prometheus marks the target down; /healthz stays 200 so
// the pod stays Ready and its target stays discovered.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

export interface MilvusStandinOptions {
  host?: string
  port?: number
  /** Local address -> Milvus role ('proxy', 'querynode', ...); other addresses are 'standalone'. */
  roles?: Record<string, string>
  unhealthy?: boolean
  /** True for a local address whose /metrics should answer 503, as if that pod's Milvus stopped answering. */
  isDown?: (localAddress: string) => boolean
  /** Milvus version reported by milvus_build_info. */
  version?: string
  /** Clock, ms since the epoch; values are functions of the time since start. */
  now?: () => number
}

export interface MilvusStandin {
  port: number
  close(): Promise<void>
  setUnhealthy(unhealthy: boolean): void
}

// Milvus' latency buckets: milliseconds, 1 doubling to 131072 (pkg/metrics `buckets`).
const LATENCY_BUCKETS = Array.from({ length: 18 }, (_, i) => 2 ** i)

type Labels = Record<string, string>
interface Sample {
  suffix?: string
  labels: Labels
  value: number
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

function family(name: string, type: string, help: string, samples: Sample[]): string {
  const lines = [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`]
  for (const s of samples) {
    const ls = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    lines.push(`${name}${s.suffix ?? ''}${ls.length ? `{${ls.join(',')}}` : ''} ${formatValue(s.value)}`)
  }
  return lines.join('\n')
}

/** Cumulative histogram samples for `count` observations spread by a fixed shape around `typicalMs`. */
function histogram(labels: Labels, count: number, typicalMs: number): Sample[] {
  // Fraction of observations at or below each bucket: a log-logistic curve centred on typicalMs,
  // so every bucket only grows as count grows.
  const fraction = (le: number) => 1 / (1 + (typicalMs / le) ** 2)
  const samples: Sample[] = LATENCY_BUCKETS.map((le) => ({
    suffix: '_bucket',
    labels: { ...labels, le: String(le) },
    value: Math.floor(count * fraction(le)),
  }))
  samples.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: count })
  samples.push({ suffix: '_sum', labels, value: count * typicalMs })
  samples.push({ suffix: '_count', labels, value: count })
  return samples
}

// Fixed once, as a real process' start time is: a value that wobbled would read as restarts.
const START_TIME_SECONDS = Math.floor(Date.now() / 1000 - process.uptime())

/** A stable small node id per address, as different pods would have. */
function nodeIdFor(address: string): string {
  let h = 0
  for (const c of address) h = (h * 31 + c.charCodeAt(0)) % 1000
  return String(h + 1)
}

/** IPv4-mapped addresses ('::ffff:10.0.0.5') as plain IPv4, so role maps can use either. */
function plainAddress(a: string | undefined): string {
  return (a ?? '').replace(/^::ffff:/, '')
}

/** The exposition for one scrape, `seconds` after start, as reached on `role`/`nodeId`. */
export function renderMetrics(seconds: number, role: string, nodeId: string, version = '2.6.3'): string {
  const node = { node_id: nodeId }
  const db = { db_name: 'default', collection_name: 'demo' }
  const collection = { collection_id: '451234567890123456', db_name: 'default' }
  // Traffic ramps up and then holds steady, so rate() panels show a curve.
  const requests = Math.floor(40 * seconds + 200 * (1 - Math.exp(-seconds / 60)))
  const searches = Math.floor(requests * 0.6)
  const queries = Math.floor(requests * 0.15)
  const wave = (period: number) => Math.sin((2 * Math.PI * seconds) / period)
  const entities = 10_000 + Math.floor(seconds * 25)
  const mem = process.memoryUsage()
  const cpu = process.cpuUsage()

  const families = [
    family('milvus_build_info', 'gauge', 'Build information of milvus', [
      { labels: { version: `v${version}`, built: '2025-06-01T00:00:00Z', git_commit: 'standin' }, value: 1 },
    ]),
    family('milvus_runtime_info', 'gauge', 'Runtime information of milvus', [{ labels: { mq: 'rocksmq', meta: 'etcd' }, value: 1 }]),
    family('milvus_num_node', 'gauge', 'number of nodes and coordinates', [{ labels: { ...node, role_name: role }, value: 1 }]),
    family('milvus_proxy_req_count', 'counter', 'count of operation executed', [
      { labels: { ...node, function_name: 'Search', status: 'success', ...db }, value: searches },
      { labels: { ...node, function_name: 'Search', status: 'total', ...db }, value: Math.floor(searches * 1.002) },
      { labels: { ...node, function_name: 'Query', status: 'success', ...db }, value: queries },
      { labels: { ...node, function_name: 'Query', status: 'total', ...db }, value: queries },
      { labels: { ...node, function_name: 'Insert', status: 'success', ...db }, value: requests - searches - queries },
      { labels: { ...node, function_name: 'Insert', status: 'total', ...db }, value: requests - searches - queries },
    ]),
    family('milvus_proxy_sq_latency', 'histogram', 'latency of search or query successfully', [
      ...histogram({ ...node, query_type: 'search', ...db }, searches, 12),
      ...histogram({ ...node, query_type: 'query', ...db }, queries, 5),
    ]),
    family('milvus_proxy_search_vectors_count', 'counter', 'counter of vectors successfully searched', [
      { labels: { ...node, ...db }, value: searches * 10 },
    ]),
    family('milvus_proxy_insert_vectors_count', 'counter', 'counter of vectors successfully inserted', [
      { labels: { ...node, ...db }, value: entities - 10_000 },
    ]),
    family('milvus_rootcoord_collection_num', 'gauge', 'number of collections', [{ labels: { db_name: 'default' }, value: 3 }]),
    family('milvus_rootcoord_proxy_num', 'gauge', 'number of proxy nodes managered by rootcoord', [{ labels: {}, value: 1 }]),
    family('milvus_querynode_entity_num', 'gauge', 'number of entities which can be searched/queried', [
      { labels: { ...node, ...collection, segment_state: 'Sealed' }, value: entities },
      { labels: { ...node, ...collection, segment_state: 'Growing' }, value: Math.floor(500 + 400 * wave(90)) },
    ]),
    family('milvus_datanode_flushed_data_size', 'counter', 'byte size of data flushed to storage', [
      { labels: { ...node, data_source: 'streaming', segment_level: 'L1' }, value: (entities - 10_000) * 512 },
    ]),
    family('milvus_datacoord_segment_num', 'gauge', 'number of segments', [
      {
        labels: { ...collection, segment_state: 'Flushed', segment_level: 'L1', segment_is_sorted: 'true' },
        value: 4 + Math.floor(seconds / 300),
      },
    ]),
    family('go_goroutines', 'gauge', 'Number of goroutines that currently exist.', [
      { labels: {}, value: Math.round(420 + 30 * wave(45)) },
    ]),
    family('go_info', 'gauge', 'Information about the Go environment.', [{ labels: { version: 'go1.24.4' }, value: 1 }]),
    family('go_memstats_alloc_bytes', 'gauge', 'Number of bytes allocated in heap and currently in use.', [
      { labels: {}, value: mem.heapUsed },
    ]),
    family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', [
      { labels: {}, value: (cpu.user + cpu.system) / 1e6 },
    ]),
    family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [{ labels: {}, value: mem.rss }]),
    family('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', [
      { labels: {}, value: START_TIME_SECONDS },
    ]),
  ]
  return `${families.join('\n')}\n`
}

export async function startMilvusStandin(opts: MilvusStandinOptions = {}): Promise<MilvusStandin> {
  const { host = '0.0.0.0', port = 9091, roles = {}, version } = opts
  const now = opts.now ?? Date.now
  const started = now()
  let unhealthy = opts.unhealthy ?? process.env.MILVUS_STANDIN_UNHEALTHY === '1'

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('OK')
    } else if (path === '/metrics' && (unhealthy || opts.isDown?.(plainAddress(req.socket.localAddress)) === true)) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('milvus stand-in: unhealthy\n')
    } else if (path === '/metrics') {
      const local = plainAddress(req.socket.localAddress)
      const body = renderMetrics((now() - started) / 1000, roles[local] ?? 'standalone', nodeIdFor(local), version)
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body)
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n')
    }
  }

  const server = createServer(handle)
  // Prometheus keeps connections alive between scrapes; don't let them hold close() up.
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    setUnhealthy(v) {
      unhealthy = v
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '0.0.0.0' },
      port: { type: 'string', default: '9091' },
      role: { type: 'string', multiple: true, default: [] },
      unhealthy: { type: 'boolean', default: false },
    },
  })
  const roles: Record<string, string> = {}
  for (const r of values.role) {
    const [addr, role] = r.split('=')
    if (!addr || !role) throw new Error(`--role expects ADDRESS=ROLE, got ${JSON.stringify(r)}`)
    roles[addr] = role
  }
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port: ${values.port}`)
  let unhealthy = values.unhealthy || process.env.MILVUS_STANDIN_UNHEALTHY === '1'
  const standin = await startMilvusStandin({ host: values.host, port, roles, unhealthy })
  console.log(`milvus stand-in: http://${values.host}:${standin.port}/metrics${unhealthy ? ' (unhealthy)' : ''}`)
  process.on('SIGUSR1', () => {
    unhealthy = !unhealthy
    standin.setUnhealthy(unhealthy)
    console.log(`milvus stand-in: ${unhealthy ? 'unhealthy' : 'healthy'}`)
  })
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void standin.close().then(() => process.exit(0)))
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}
