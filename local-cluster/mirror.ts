// A loopback HTTP server standing in for the action's download sources, in their upstream
// URL layouts: dl.k8s.io (/kubectl), get.helm.sh (/helm), GitHub tag archives of
// kube-prometheus (/kube-prometheus), a static Helm chart repository (/helm-repo) and
// raw.githubusercontent.com's layout for Milvus' Grafana dashboard
// (/raw/milvus-io/milvus/<tag>/deployments/monitor/grafana/milvus-dashboard.json, the same file for every tag).
//
// CLI: node local-cluster/mirror.ts [--port N] [--host H] [--kube-prometheus-dir D] [--helm-repo-dir D]
// prints the base URLs as JSON on stdout and serves until killed.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename, join, resolve, sep } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { officialBinaries, officialBinariesCacheDir, type OfficialBinary } from './official-binaries.ts'

const run = promisify(execFile)

/** Bytes appended to a tampered download; its checksum file stays the original one. */
export const TAMPER_SUFFIX = Buffer.from('\n# tampered by the test mirror\n')

export interface MirrorOptions {
  host?: string // default 127.0.0.1
  port?: number // default 0: any free port
  binaries?: OfficialBinary[] // default officialBinaries(); linux/amd64 only
  kubePrometheusDir?: string // holds kube-prometheus-X.Y.Z.tar.gz; default $MILVUS_ACTION_FIXTURES/kube-prometheus
  helmRepoDir?: string // index.yaml + charts; default $MILVUS_ACTION_FIXTURES/helm-repo
  grafanaDir?: string // milvus-dashboard.json; default $MILVUS_ACTION_FIXTURES/grafana
  /** Serve altered kubectl / helm downloads with the original checksums. Mutable while running. */
  tamper?: { kubectl?: boolean; helm?: boolean }
}

export interface MirrorRequest {
  method: string
  path: string
  status: number
}

export interface Mirror {
  url: string
  kubectlBaseUrl: string
  helmBaseUrl: string
  kubePrometheusUrl(version: string): string
  helmRepoUrl: string
  /** The dashboard URL with `${tag}` left for the action to fill in (its grafana-dashboard-url input). */
  grafanaDashboardUrl: string
  /** Every request received so far, in order (status 0 until answered). */
  requests: MirrorRequest[]
  /** The options' tamper switches (the same object); flip them between requests. */
  tamper: { kubectl?: boolean; helm?: boolean }
  close(): Promise<void>
}

type Route = { kind: 'text'; body: string } | { kind: 'file'; path: string; tamper?: 'kubectl' | 'helm' }

export async function startMirror(opts: MirrorOptions = {}): Promise<Mirror> {
  const fixtures = process.env['MILVUS_ACTION_FIXTURES']
  const kubePrometheusDir = opts.kubePrometheusDir ?? (fixtures ? join(fixtures, 'kube-prometheus') : undefined)
  const helmRepoDir = opts.helmRepoDir ?? (fixtures ? join(fixtures, 'helm-repo') : undefined)
  const grafanaDir = opts.grafanaDir ?? (fixtures ? join(fixtures, 'grafana') : undefined)
  const tamper = opts.tamper ?? {}
  const routes = await buildReleaseRoutes(opts.binaries ?? (await officialBinaries()))
  const requests: MirrorRequest[] = []

  const server = createServer((req, res) => {
    // Logged on arrival, so even a request that fails midway is counted.
    const entry = { method: req.method ?? '', path: req.url ?? '', status: 0 }
    requests.push(entry)
    res.on('finish', () => (entry.status = res.statusCode))
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `mirror error: ${err instanceof Error ? err.message : String(err)}\n`)
      else res.destroy()
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'only GET and HEAD\n')
    const path = new URL(req.url ?? '/', 'http://mirror').pathname
    const route = routes.get(path) ?? staticRoute(path)
    if (!route) return send(res, 404, `not on this mirror: ${path}\n`)
    if (route.kind === 'text') return send(res, 200, route.body)
    const size = (await stat(route.path)).size
    const tampered = route.tamper !== undefined && tamper[route.tamper] === true
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': size + (tampered ? TAMPER_SUFFIX.length : 0),
    })
    if (req.method === 'HEAD') return void res.end()
    const body = createReadStream(route.path)
    body.on('error', () => res.destroy())
    body.on('end', () => res.end(tampered ? TAMPER_SUFFIX : undefined))
    body.pipe(res, { end: false })
  }

  function staticRoute(path: string): Route | undefined {
    const archive = /^\/kube-prometheus\/archive\/refs\/tags\/v([^/]+)\.tar\.gz$/.exec(path)
    if (archive && kubePrometheusDir) return fileIn(kubePrometheusDir, `kube-prometheus-${archive[1]}.tar.gz`)
    if (path.startsWith('/helm-repo/') && helmRepoDir) return fileIn(helmRepoDir, path.slice('/helm-repo/'.length))
    if (/^\/raw\/milvus-io\/milvus\/[^/]+\/deployments\/monitor\/grafana\/milvus-dashboard\.json$/.test(path) && grafanaDir) {
      return fileIn(grafanaDir, 'milvus-dashboard.json')
    }
    return undefined
  }

  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => ok())
  })
  const addr = server.address() as AddressInfo
  // Bound to every address: hand out loopback's.
  const address = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address
  const host = addr.family === 'IPv6' && address !== '127.0.0.1' ? `[${address}]` : address
  const url = `http://${host}:${addr.port}`
  return {
    url,
    kubectlBaseUrl: `${url}/kubectl`,
    helmBaseUrl: `${url}/helm`,
    kubePrometheusUrl: (version) => `${url}/kube-prometheus/archive/refs/tags/${version}.tar.gz`,
    helmRepoUrl: `${url}/helm-repo`,
    grafanaDashboardUrl: `${url}/raw/milvus-io/milvus/\${tag}/deployments/monitor/grafana/milvus-dashboard.json`,
    requests,
    tamper,
    close: () =>
      new Promise<void>((ok, fail) => {
        server.close((err) => (err ? fail(err) : ok()))
        server.closeAllConnections()
      }),
  }
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

// Only plain names below the directory: no '..', no absolute paths, no hidden files.
function fileIn(dir: string, name: string): Route | undefined {
  const parts = name.split('/')
  if (parts.some((p) => p === '' || p.startsWith('.'))) return undefined
  const path = resolve(dir, ...parts)
  if (!path.startsWith(resolve(dir) + sep) || !existsSync(path)) return undefined
  return { kind: 'file', path }
}

/** Everything dl.k8s.io and get.helm.sh would answer for these binaries (linux/amd64). */
async function buildReleaseRoutes(binaries: OfficialBinary[]): Promise<Map<string, Route>> {
  const routes = new Map<string, Route>()
  const text = (path: string, body: string): void => void routes.set(path, { kind: 'text', body })
  const kubectl = binaries.filter((b) => b.tool === 'kubectl')
  const helm = binaries.filter((b) => b.tool === 'helm')

  for (const b of kubectl) {
    const path = `/kubectl/release/${b.version}/bin/linux/amd64/kubectl`
    routes.set(path, { kind: 'file', path: b.path, tamper: 'kubectl' })
    text(`${path}.sha256`, await sha256Cached(b.path)) // dl.k8s.io: the bare digest, no newline
  }
  for (const [line, v] of newestBy(kubectl, (s) => `${s.major}.${s.minor}`)) text(`/kubectl/release/stable-${line}.txt`, v)
  for (const [, v] of newestBy(kubectl, () => '')) text('/kubectl/release/stable.txt', v)

  await Promise.all(
    helm.map(async (b) => {
      const name = `helm-${b.version}-linux-amd64.tar.gz`
      const archive = await helmArchive(b)
      const digest = await sha256Cached(archive)
      routes.set(`/helm/${name}`, { kind: 'file', path: archive, tamper: 'helm' })
      text(`/helm/${name}.sha256sum`, `${digest}  ${name}\n`)
      text(`/helm/${name}.sha256`, `${digest}\n`)
    }),
  )
  for (const [major, v] of newestBy(helm, (s) => `${s.major}`)) text(`/helm/helm${major}-latest-version`, `${v}\n`)
  for (const [, v] of newestBy(helm, () => '')) text('/helm/helm-latest-version', `${v}\n`)
  return routes
}

/** The newest version per group, as group -> 'vX.Y.Z'. */
function newestBy(bins: OfficialBinary[], group: (v: { major: number; minor: number }) => string): Map<string, string> {
  const best = new Map<string, number[]>()
  for (const b of bins) {
    const n = b.version.replace(/^v/, '').split('.').map(Number)
    const key = group({ major: n[0] ?? 0, minor: n[1] ?? 0 })
    const cur = best.get(key)
    if (!cur || compare(n, cur) > 0) best.set(key, n)
  }
  return new Map([...best].map(([k, n]) => [k, `v${n.join('.')}`]))
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/**
 * The release archive in the official layout (`linux-amd64/helm`), built once per binary
 * digest under the official-binaries cache. Not byte-identical to upstream's archive, so
 * the mirror serves its own checksum for it.
 */
async function helmArchive(b: OfficialBinary): Promise<string> {
  const digest = await sha256Cached(b.path)
  const dir = join(officialBinariesCacheDir(), 'helm-archives', digest.slice(0, 16))
  const archive = join(dir, `helm-${b.version}-linux-amd64.tar.gz`)
  if (existsSync(archive)) return archive
  await mkdir(dir, { recursive: true })
  const tmp = await mkdtemp(join(dir, '.tmp-'))
  try {
    await mkdir(join(tmp, 'linux-amd64'))
    await copyFile(b.path, join(tmp, 'linux-amd64', 'helm'))
    await run('tar', ['-czf', join(tmp, 'out.tar.gz'), '-C', tmp, 'linux-amd64'])
    await rename(join(tmp, 'out.tar.gz'), archive) // atomic: concurrent builders both succeed
    return archive
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

/** SHA-256 of a file, remembered in `<file>.sha256` next to it while size and mtime hold. */
async function sha256Cached(path: string): Promise<string> {
  const s = await stat(path)
  const key = `${s.size} ${s.mtimeMs}`
  const sidecar = `${path}.sha256`
  const saved = await readFile(sidecar, 'utf8').catch(() => '')
  const [hex, ...rest] = saved.trim().split(' ')
  if (hex && /^[0-9a-f]{64}$/.test(hex) && rest.join(' ') === key) return hex
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  const digest = hash.digest('hex')
  await writeFile(sidecar, `${digest} ${key}\n`).catch(() => undefined) // a read-only cache is fine
  return digest
}

// --- Fixtures from upstream, for machines where MILVUS_ACTION_FIXTURES is not set ----------

export interface FixtureDirs {
  kubePrometheus: string
  helmRepo: string
  grafana: string
}

export const UPSTREAM_KUBE_PROMETHEUS = 'https://github.com/prometheus-operator/kube-prometheus/archive/refs/tags'
export const UPSTREAM_MILVUS_REPO = 'https://zilliztech.github.io/milvus-helm'
/** Milvus' dashboard at the tag of the Milvus the pinned chart (5.0.19) deploys. */
export const UPSTREAM_MILVUS_DASHBOARD =
  'https://raw.githubusercontent.com/milvus-io/milvus/v2.6.15/deployments/monitor/grafana/milvus-dashboard.json'

/**
 * The fixture directories: $MILVUS_ACTION_FIXTURES when set, else the same artifacts
 * downloaded from upstream once into the cache (kube-prometheus tag archives, and the
 * Milvus charts with an index.yaml whose URLs are relative, like the shared fixtures).
 */
export async function fixtureDirs(
  kubePrometheusVersions: string[] = ['v0.18.0'],
  milvusChartVersions: string[] = ['5.0.19'],
): Promise<FixtureDirs> {
  const fixtures = process.env['MILVUS_ACTION_FIXTURES']
  if (fixtures)
    return { kubePrometheus: join(fixtures, 'kube-prometheus'), helmRepo: join(fixtures, 'helm-repo'), grafana: join(fixtures, 'grafana') }
  const root = join(officialBinariesCacheDir(), '..', 'fixtures')
  const dirs = { kubePrometheus: join(root, 'kube-prometheus'), helmRepo: join(root, 'helm-repo'), grafana: join(root, 'grafana') }
  await mkdir(dirs.kubePrometheus, { recursive: true })
  await mkdir(dirs.helmRepo, { recursive: true })
  await mkdir(dirs.grafana, { recursive: true })
  await downloadOnce(UPSTREAM_MILVUS_DASHBOARD, join(dirs.grafana, 'milvus-dashboard.json'))
  for (const v of kubePrometheusVersions) {
    await downloadOnce(
      `${UPSTREAM_KUBE_PROMETHEUS}/${v}.tar.gz`,
      join(dirs.kubePrometheus, `kube-prometheus-${v.replace(/^v/, '')}.tar.gz`),
    )
  }
  type Entry = { version: string; urls: string[] }
  // Downloaded before: the index.yaml written below lists every chart asked for, and each is here.
  const indexFile = join(dirs.helmRepo, 'index.yaml')
  const cached = existsSync(indexFile)
    ? ((parseYaml(await readFile(indexFile, 'utf8')) as { entries?: Record<string, Entry[]> } | null)?.entries?.['milvus'] ?? [])
    : []
  if (milvusChartVersions.every((v) => cached.some((e) => e.version === v) && existsSync(join(dirs.helmRepo, `milvus-${v}.tgz`))))
    return dirs
  const index = parseYaml(await (await get(`${UPSTREAM_MILVUS_REPO}/index.yaml`)).text()) as {
    entries: Record<string, Entry[]>
  }
  const entries: Entry[] = []
  for (const version of milvusChartVersions) {
    const entry = index.entries['milvus']?.find((e) => e.version === version)
    const chartUrl = entry?.urls[0]
    if (!entry || !chartUrl) throw new Error(`milvus chart ${version} is not in ${UPSTREAM_MILVUS_REPO}/index.yaml`)
    const name = `milvus-${version}.tgz`
    await downloadOnce(new URL(chartUrl, `${UPSTREAM_MILVUS_REPO}/`).href, join(dirs.helmRepo, name))
    entries.push({ ...entry, urls: [name] })
  }
  await writeFile(indexFile, stringifyYaml({ apiVersion: 'v1', entries: { milvus: entries } }))
  return dirs
}

async function get(url: string): Promise<Response> {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url} answered HTTP ${res.status}`)
  return res
}

async function downloadOnce(url: string, dest: string): Promise<void> {
  if (existsSync(dest)) return
  const tmp = `${dest}.${process.pid}.tmp`
  await writeFile(tmp, Buffer.from(await (await get(url)).arrayBuffer()))
  await rename(tmp, dest)
}

// --- CLI ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'kube-prometheus-dir': { type: 'string' },
      'helm-repo-dir': { type: 'string' },
    },
  })
  const kubePrometheusDir = values['kube-prometheus-dir']
  const mirror = await startMirror({
    host: values.host,
    port: Number(values.port),
    kubePrometheusDir,
    helmRepoDir: values['helm-repo-dir'],
  })
  const dir =
    kubePrometheusDir ?? (process.env['MILVUS_ACTION_FIXTURES'] ? join(process.env['MILVUS_ACTION_FIXTURES'], 'kube-prometheus') : '')
  const tags =
    dir && existsSync(dir)
      ? (await readdir(dir)).flatMap((f) => /^kube-prometheus-(.+)\.tar\.gz$/.exec(basename(f))?.slice(1) ?? []).map((v) => `v${v}`)
      : []
  const out = {
    url: mirror.url,
    kubectlBaseUrl: mirror.kubectlBaseUrl,
    helmBaseUrl: mirror.helmBaseUrl,
    helmRepoUrl: mirror.helmRepoUrl,
    grafanaDashboardUrl: mirror.grafanaDashboardUrl,
    kubePrometheusUrls: Object.fromEntries(tags.map((t) => [t, mirror.kubePrometheusUrl(t)])),
  }
  process.stdout.write(JSON.stringify(out) + '\n')
  const stop = (): void => void mirror.close().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`mirror: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
