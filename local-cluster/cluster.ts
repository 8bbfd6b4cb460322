// The local cluster: a real Kubernetes control plane with kwok's fake nodes, inside a network
// namespace of its own where every pod IP is a local address, so real processes (Prometheus,
// a Milvus metrics stand-in) answer for pods. See docs/local-cluster.md.
//
//   node local-cluster/cluster.ts up [--nodes N] [--timeline instant|runner]
//                                                  start (idempotent), print how to use it; the runner
//                                                  timeline pulls images and waits probes as a runner does
//   node local-cluster/cluster.ts down             stop everything, remove the namespace
//   node local-cluster/cluster.ts downloads        fetch what the mirror serves (up does it too), on the host
//   node local-cluster/cluster.ts env              print the environment file
//   node local-cluster/cluster.ts exec -- CMD...   run CMD inside the namespace with KUBECONFIG set
//   node local-cluster/cluster.ts outage           stop the API server for 5 s, then start it again
//   node local-cluster/cluster.ts forget-images     empty the runner timeline's image stores (a new runner)
//   node local-cluster/cluster.ts hold-namespace-events on|off
//                                                  hold back (or release) prometheus-operator's namespace watch events
//   node local-cluster/cluster.ts serve            (internal) the supervisor, run inside the namespace
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { until } from './procs.ts'
import { layout, NETWORK, type Layout } from './layout.ts'
import { prepareDownloads, readDownloads, writeDownloads } from './downloads.ts'
import type { Profile } from './timeline/controller.ts'

const here = dirname(fileURLToPath(import.meta.url))

function parseArgs(argv: string[]): { cmd: string; nodes: number; timeline: Profile; rest: string[] } {
  const [cmd = 'up', ...tail] = argv
  let nodes = Number(process.env.LOCAL_CLUSTER_NODES ?? 1)
  let timeline = process.env.LOCAL_CLUSTER_TIMELINE ?? 'instant'
  const rest: string[] = []
  for (let i = 0; i < tail.length; i++) {
    const a = tail[i]!
    if (a === '--nodes') nodes = Number(tail[++i])
    else if (a === '--timeline') timeline = tail[++i] ?? ''
    else if (a === '--') {
      rest.push(...tail.slice(i + 1))
      break
    } else rest.push(a)
  }
  if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`--nodes must be a positive integer, got ${nodes}`)
  if (timeline !== 'instant' && timeline !== 'runner') throw new Error(`--timeline must be instant or runner, got ${timeline}`)
  return { cmd, nodes, timeline, rest }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function readPid(l: Layout): number | undefined {
  try {
    const pid = Number(readFileSync(l.pidFile, 'utf8'))
    return pid > 0 && pidAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

function netnsExists(name: string): boolean {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .some((line) => line.split(' ')[0] === name)
}

function createNetns(name: string): void {
  if (netnsExists(name)) execFileSync('ip', ['netns', 'del', name])
  execFileSync('ip', ['netns', 'add', name])
  const inNs = (...args: string[]) => execFileSync('ip', ['netns', 'exec', name, ...args])
  inNs('ip', 'link', 'set', 'lo', 'up')
  // Every address of these ranges is local inside the namespace only; the host is untouched.
  for (const cidr of NETWORK.localRanges) inNs('ip', 'route', 'add', 'local', cidr, 'dev', 'lo')
}

async function up(nodes: number, timeline: Profile): Promise<void> {
  const l = layout()
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the local cluster needs root for its network namespace (ip netns): run it with sudo')
  }
  const running = readPid(l)
  if (running && existsSync(l.readyFile)) {
    const ready = JSON.parse(readFileSync(l.readyFile, 'utf8')) as { nodes: number; timeline?: Profile }
    if (ready.nodes === nodes && (ready.timeline ?? 'instant') === timeline) {
      process.stderr.write(`local cluster already running (pid ${running})\n`)
      // One started before its downloads were recorded: record them (cached, so no fetch).
      if (!existsSync(l.downloadsFile)) writeDownloads(l.downloadsFile, await prepareDownloads())
      printUsage(l)
      return
    }
    process.stderr.write(
      `local cluster running with ${ready.nodes} nodes, timeline ${ready.timeline ?? 'instant'}; restarting with ${nodes}, ${timeline}\n`,
    )
  }
  // Here, on the host: inside the namespace there is no network (no DNS, no route out), and
  // before the build, so an offline machine learns it at once and a running cluster is left alone.
  const fetching = Date.now()
  const downloads = await prepareDownloads()
  process.stderr.write(`the mirror's downloads are ready (${((Date.now() - fetching) / 1000).toFixed(1)} s)\n`)
  await down({ quiet: true })
  execFileSync('bash', [join(here, 'build.sh')], { stdio: ['ignore', 'inherit', 'inherit'] })
  mkdirSync(l.logDir, { recursive: true })
  writeDownloads(l.downloadsFile, downloads)
  createNetns(l.netns)
  const out = openSync(join(l.logDir, 'serve.log'), 'a')
  const child = spawn(
    'ip',
    ['netns', 'exec', l.netns, process.execPath, fileURLToPath(import.meta.url), 'serve', '--nodes', String(nodes), '--timeline', timeline],
    {
      detached: true,
      stdio: ['ignore', out, out],
      env: process.env,
      // Not the checkout's directory: the cluster outlives it, and Prometheus panics at start-up
      // (getwd) when its working directory was removed.
      cwd: l.runDir,
    },
  )
  closeSync(out)
  child.unref()
  writeFileSync(l.pidFile, String(child.pid))
  const started = Date.now()
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  let failed = false
  void exited.then(() => (failed = true))
  // Ends on ready, on a reported failure, or when the supervisor dies: whichever comes first.
  await until('the local cluster to become ready', async () => failed || existsSync(l.failedFile) || existsSync(l.readyFile), 600_000)
    .then(() => {
      if (!existsSync(l.readyFile))
        throw new Error(`local cluster failed to start: ${readIfExists(l.failedFile) || 'its supervisor exited'}\nlogs: ${l.logDir}`)
    })
    .catch(async (e: unknown) => {
      process.stderr.write(readIfExists(join(l.logDir, 'serve.log')).split('\n').slice(-40).join('\n') + '\n')
      await down({ quiet: true })
      throw e
    })
  process.stderr.write(`local cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
  printUsage(l)
}

function readIfExists(f: string): string {
  try {
    return readFileSync(f, 'utf8')
  } catch {
    return ''
  }
}

function printUsage(l: Layout): void {
  process.stdout.write(readFileSync(l.envFile, 'utf8'))
  process.stderr.write(
    `\nThe cluster lives in network namespace ${l.netns}; run commands there with\n` +
      `  npm run cluster -- exec -- kubectl get nodes\n` +
      `or source ${l.envFile} inside \`ip netns exec ${l.netns} bash\`. Stop it with: npm run cluster -- down\n`,
  )
}

async function down(opts: { quiet?: boolean } = {}): Promise<void> {
  const l = layout()
  const pid = readPid(l)
  if (pid) {
    // The supervisor leads its own process group: a stray child dies with it.
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + 30_000
    while (pidAlive(pid) && Date.now() < deadline) await sleep(100)
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // the group is gone
    }
  }
  // Anything still holding the namespace (a port-forward supervisor left by a test, say) goes too.
  if (netnsExists(l.netns)) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', l.netns], { encoding: 'utf8' }).split('\n').filter(Boolean)
      for (const p of pids) process.kill(Number(p), 'SIGKILL')
    } catch {
      // gone already
    }
    execFileSync('ip', ['netns', 'del', l.netns])
  }
  rmSync(l.runDir, { recursive: true, force: true })
  if (!opts.quiet) process.stderr.write('local cluster stopped\n')
}

async function main(): Promise<void> {
  const { cmd, nodes, timeline, rest } = parseArgs(process.argv.slice(2))
  const l = layout()
  switch (cmd) {
    case 'up':
      return up(nodes, timeline)
    case 'down':
      return down()
    case 'downloads': {
      const { binaries, fixtures } = await prepareDownloads()
      process.stdout.write(
        [...binaries.map((b) => `${b.tool} ${b.version}: ${b.path}`), ...Object.entries(fixtures).map(([k, d]) => `${k}: ${d}`)].join(
          '\n',
        ) + '\n',
      )
      return
    }
    case 'outage': {
      const pid = readPid(l)
      if (!pid) throw new Error('the local cluster is not running')
      process.kill(pid, 'SIGUSR2')
      return
    }
    case 'forget-images': {
      const pid = readPid(l)
      if (!pid) throw new Error('the local cluster is not running')
      process.kill(pid, 'SIGUSR1')
      return
    }
    case 'hold-namespace-events':
      if (rest[0] === 'on') writeFileSync(l.holdNamespaceEventsFile, `${new Date().toISOString()}\n`)
      else if (rest[0] === 'off') rmSync(l.holdNamespaceEventsFile, { force: true })
      else throw new Error('usage: cluster.ts hold-namespace-events on|off')
      return
    case 'env':
      process.stdout.write(readFileSync(l.envFile, 'utf8'))
      return
    case 'exec': {
      if (!readPid(l)) throw new Error('the local cluster is not running: npm run cluster -- up')
      const env = { ...process.env, ...readEnvFile(l.envFile) }
      // The official kubectl and helm the cluster serves are on PATH there.
      const dirs = readDownloads(l.downloadsFile)
        .binaries.filter((b) => /^v1\.35|^v4/.test(b.version))
        .map((b) => dirname(b.path))
      env.PATH = [...new Set(dirs), env.PATH].join(':')
      const r = spawn('ip', ['netns', 'exec', l.netns, ...rest], { stdio: 'inherit', env })
      const code = await new Promise<number>((resolve) => r.on('exit', (c) => resolve(c ?? 1)))
      process.exit(code)
      return
    }
    case 'serve': {
      const { serve } = await import('./serve.ts')
      return serve(nodes, timeline)
    }
    default:
      throw new Error(`unknown command ${cmd}: use up, down, downloads, env, exec or serve`)
  }
}

export function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(?:export )?([A-Z_][A-Z0-9_-]*)=(.*)$/.exec(line)
    if (m) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1')
  }
  return env
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(1)
  })
}
