// A real Prometheus server for tests: the binary local-cluster/build.sh builds, started on a
// free loopback port with a temporary config and TSDB, and restartable on the same port.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

function pinnedVersion(): string {
  const env = readFileSync(join(REPO, 'local-cluster/versions.env'), 'utf8')
  const m = /^PROMETHEUS_VERSION=(\S+)/m.exec(env)
  if (!m?.[1]) throw new Error('PROMETHEUS_VERSION missing from local-cluster/versions.env')
  return m[1]
}

/** The cache build.sh fills; the same defaults as the script. */
export function cacheBin(): string {
  const cache =
    process.env.LOCAL_CLUSTER_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'milvus-monitoring-action', 'local-cluster')
  return join(cache, 'bin')
}

/**
 * Path of the pinned Prometheus binary, building it first on a fresh machine (minutes; cached
 * after, and build.sh skips finished builds, so calling this is cheap). Its stamp file, not the
 * binary, says a build finished.
 */
export async function ensurePrometheus(): Promise<string> {
  const bin = cacheBin()
  const binary = join(bin, 'prometheus')
  if (existsSync(join(bin, `.prometheus-${pinnedVersion()}`)) && existsSync(binary)) return binary
  await new Promise<void>((ok, fail) => {
    const child = spawn('bash', [join(REPO, 'local-cluster/build.sh'), 'prometheus'], { stdio: 'inherit' })
    child.once('error', fail)
    child.once('exit', (code) => (code === 0 ? ok() : fail(new Error(`build.sh prometheus exited with ${code}`))))
  })
  return binary
}

/** A port nothing listens on right now (the kernel's pick for an ephemeral listener). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(0, '127.0.0.1', ok)
  })
  const address = server.address()
  await new Promise((ok) => server.close(ok))
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

export interface PrometheusProcess {
  readonly url: string
  readonly port: number
  /** Rewrites the config and applies it through /-/reload. */
  reload(config: string): Promise<void>
  /** Kills the process (SIGKILL, a crash) and waits for it to be gone. */
  kill(): Promise<void>
  /** Starts it again on the same port and data directory; resolves when ready. */
  start(): Promise<void>
  /** Stops it and removes its files. */
  stop(): Promise<void>
  /** The tail of its log, for failure messages. */
  logs(): string
}

const running = new Set<PrometheusProcess>()

/** Stops every Prometheus this module started; for afterEach/afterAll. */
export async function stopAllPrometheus(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()))
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((ok) => child.once('exit', () => ok()))
}

/** Starts Prometheus with `config` (YAML) and resolves once /-/ready answers 200. */
export async function startPrometheus(config: string): Promise<PrometheusProcess> {
  const binary = await ensurePrometheus()
  const dir = await mkdtemp(join(tmpdir(), 'prometheus-test-'))
  const configFile = join(dir, 'prometheus.yml')
  await writeFile(configFile, config)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  let log = ''

  const launch = async () => {
    const args = [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
    ]
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    child = proc
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      log = (log + chunk).slice(-20_000)
    })
    const gone = exited(proc).then(() => {
      throw new Error(`prometheus exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${log}`)
    })
    gone.catch(() => {})
    // Bounded backoff on /-/ready; it answers 503 until the TSDB is open.
    const deadline = Date.now() + 60_000
    for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
      const ready = await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      )
      if (ready) return
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 60 s:\n${log}`)
      await Promise.race([delay(wait), gone])
    }
  }

  const handle: PrometheusProcess = {
    url,
    port,
    async reload(next) {
      await writeFile(configFile, next)
      const res = await fetch(`${url}/-/reload`, { method: 'POST' })
      if (!res.ok) throw new Error(`reload failed: HTTP ${res.status} ${await res.text()}`)
    },
    async kill() {
      if (!child) return
      child.kill('SIGKILL')
      await exited(child)
    },
    async start() {
      await launch()
    },
    async stop() {
      running.delete(handle)
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const hard = setTimeout(() => child?.kill('SIGKILL'), 10_000)
        await exited(child)
        clearTimeout(hard)
      }
      await rm(dir, { recursive: true, force: true })
    },
    logs: () => log,
  }
  running.add(handle)
  try {
    await launch()
  } catch (err) {
    await handle.stop()
    throw err
  }
  return handle
}

/** JSON of a GET on Prometheus' HTTP API. */
export async function prometheusApi(prom: PrometheusProcess, pathAndQuery: string): Promise<unknown> {
  const res = await fetch(prom.url + pathAndQuery)
  if (!res.ok) throw new Error(`${pathAndQuery}: HTTP ${res.status} ${await res.text()}`)
  return res.json()
}
