// The default run's tail, two bundles side by side: how long the step goes on after it saw the
// Milvus target up (the dashboard, its data check, the alert rules' health, the outputs), and
// the whole run, for a reference bundle (by default main's committed dist/) and this checkout's
// dist/. Prints figures; asserts nothing.
//
//   npx node benchmarks/tail.ts [--runs 3] [--old DIR] [--new DIR] [--timeline runner|instant] [--lock FILE] [--shared] [--keep]
//
// Like benchmarks/action.ts it runs its own instance of the local cluster (network namespace
// milvus-action-bench, state in /tmp/milvus-monitoring-action-bench) on the runner timeline
// unless --shared, and starts every run from a clean cluster (benchmarks/manual.sh cleanup, and
// the nodes' image stores emptied: a new runner). Runs alternate between the bundles, the first
// of each pair switching every round, so a drift of the machine's load falls on both. With
// --lock, each run (its cleanup included) holds that flock(1) file, e.g. /tmp/e2e.lock, so the
// runs do not share the CPUs with another user's end-to-end tests, and nobody waits long.
//
// --old: a folder with main/index.js and post/index.js; without it, `git archive main dist`
// into a temporary folder. Needs root (ip netns), flock with --lock, and dist/ built.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { mirrorInputs } from '../local-cluster/client.ts'
import { readEnvFile } from '../local-cluster/cluster.ts'
import { layout } from '../local-cluster/layout.ts'
import { officialBinaries } from '../local-cluster/official-binaries.ts'
import { makeRunner, ROOT } from '../local-cluster/runner.ts'

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    old: { type: 'string' },
    new: { type: 'string', default: join(ROOT, 'dist') },
    timeline: { type: 'string', default: 'runner' },
    lock: { type: 'string' },
    shared: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
})
const RUNS = Number(args.runs)
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs takes a positive integer')
if (!args.shared) {
  process.env['LOCAL_CLUSTER_NETNS'] ??= 'milvus-action-bench'
  process.env['LOCAL_CLUSTER_STATE'] ??= '/tmp/milvus-monitoring-action-bench'
}
const sharedFixtures = join(ROOT, '..', 'shared', 'fixtures')
if (!process.env['MILVUS_ACTION_FIXTURES'] && existsSync(sharedFixtures)) process.env['MILVUS_ACTION_FIXTURES'] = sharedFixtures

const CLUSTER = join(ROOT, 'local-cluster', 'cluster.ts')
const MANUAL = join(ROOT, 'benchmarks', 'manual.sh')
const OUT = join(process.env['BENCH_OUT'] ?? '/tmp/milvus-action-bench-results', `tail-${new Date().toISOString().replace(/[:.]/g, '-')}`)
mkdirSync(OUT, { recursive: true })
const log = (line: string) => process.stderr.write(`[tail ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'n/a')

/** main's committed bundle, unpacked once. */
function mainDist(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tail-main-dist-'))
  const tar = execFileSync('git', ['-C', ROOT, 'archive', 'main', 'dist'], { maxBuffer: 512 << 20 })
  execFileSync('tar', ['-x', '-C', dir], { input: tar })
  return join(dir, 'dist')
}
const bundles = [
  { name: 'old', dist: args.old ?? mainDist() },
  { name: 'new', dist: args.new },
]
for (const b of bundles)
  if (!existsSync(join(b.dist, 'main', 'index.js'))) throw new Error(`${b.name}: ${b.dist}/main/index.js is missing (npm run build?)`)

/** Holds `file` (flock) until the returned function is called; nothing when there is no file. */
async function hold(file: string | undefined): Promise<() => void> {
  if (!file) return () => undefined
  const child: ChildProcess = spawn('flock', [file, 'sh', '-c', 'echo held; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] })
  await new Promise<void>((ok, fail) => {
    child.stdout!.on('data', (c: Buffer) => c.toString().includes('held') && ok())
    child.on('exit', (code) => fail(new Error(`flock ${file} exited ${code}`)))
  })
  return () => child.stdin!.end()
}

async function toolPath(): Promise<string> {
  const dirs = (await officialBinaries()).filter((b) => b.version === 'v1.35.2' || b.version === 'v4.1.4').map((b) => dirname(b.path))
  return [...new Set(dirs), process.env['PATH'] ?? ''].join(':')
}

log(`local cluster (netns ${layout().netns}, timeline ${args.timeline})`)
execFileSync(process.execPath, [CLUSTER, 'up', '--nodes', '1', '--timeline', args.timeline], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: process.env,
})
const env = readEnvFile(layout().envFile)
const wrap = ['ip', 'netns', 'exec', layout().netns]
const PATH = await toolPath()

function cleanup(logFile: string): void {
  const out = execFileSync(wrap[0]!, [...wrap.slice(1), 'bash', MANUAL, 'cleanup'], {
    env: { ...process.env, ...env, PATH, KUBE_PROMETHEUS_URL: env['LOCAL_CLUSTER_KUBE_PROMETHEUS_URL'] ?? '' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  writeFileSync(logFile, out)
  if (args.timeline === 'runner') execFileSync(process.execPath, [CLUSTER, 'forget-images'], { stdio: ['ignore', 'ignore', 'inherit'] })
}

interface Run {
  bundle: string
  /** ms from spawn to the action's last "Milvus target: ... up" line (the target up in every replica). */
  upMs: number
  /** ms from spawn to the step's exit. */
  endMs: number
  /** Each phase's start (ms from spawn) and length, from the job summary's timeline. */
  phases: Record<string, { startMs: number; ms: number }>
}

/**
 * The phases of the job summary's timeline (its Mermaid gantt chart: each phase's start, ms since
 * the epoch, and length in ms), the starts made relative to `startWall`.
 */
function phasesOf(summary: string, startWall: number): Run['phases'] {
  const out: Run['phases'] = {}
  for (const m of summary.matchAll(/^ {2}(.+?) :[^,\n]*, p\d+, (\d+), (\d+)ms$/gm)) {
    out[m[1]!] = { startMs: Number(m[2]) - startWall, ms: Number(m[3]) }
  }
  return out
}

async function once(bundle: { name: string; dist: string }, base: string): Promise<Run> {
  const runner = makeRunner({ wrap, env: { KUBECONFIG: env['KUBECONFIG']! }, dist: bundle.dist })
  const lines: Array<{ ms: number; text: string }> = []
  let partial = ''
  const started = performance.now()
  const startWall = Date.now()
  const r = await runner.main(
    { ...mirrorInputs(env), timeout: '15m' },
    {
      onStdout: (chunk) => {
        const ms = performance.now() - started
        const parts = (partial + chunk).split('\n')
        partial = parts.pop() ?? ''
        for (const text of parts) lines.push({ ms, text })
      },
    },
  )
  writeFileSync(`${base}.log`, `${r.stdout}\n--- stderr\n${r.stderr}\n--- summary\n${r.summary}\n`)
  await runner.post(r.state) // stops the port-forwards; cleanup() removes the rest
  rmSync(dirname(runner.toolCache), { recursive: true, force: true })
  if (r.code !== 0) throw new Error(`${bundle.name} failed (exit ${r.code}); see ${base}.log`)
  const upMs = lines.filter((l) => /^Milvus target: .* target(s)? up/.test(l.text)).at(-1)?.ms ?? NaN
  return { bundle: bundle.name, upMs, endMs: r.ms, phases: phasesOf(r.summary, startWall) }
}

const runs: Run[] = []
const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function report(): void {
  const rows: Array<[string, (r: Run) => number]> = [
    ['target up (spawn to the last "Milvus target: ... up" line)', (r) => r.upMs],
    ['step end (spawn to exit)', (r) => r.endMs],
    ['tail = step end - target up', (r) => r.endMs - r.upMs],
  ]
  const lines = [`\nthe default run's tail, ${args.timeline} timeline, median of ${RUNS} run(s) per bundle (logs: ${OUT})`]
  lines.push(`old = ${bundles[0]!.dist}\nnew = ${bundles[1]!.dist}\n`)
  lines.push(`| Figure | old | new |`, `| --- | --- | --- |`)
  for (const [name, f] of rows) {
    const cell = (b: string) => {
      const mine = runs.filter((r) => r.bundle === b)
      return `${sec(median(mine.map(f)))} (${mine.map((r) => sec(f(r))).join(', ')})`
    }
    lines.push(`| ${name} | ${cell('old')} | ${cell('new')} |`)
  }
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.phases)))]
  // Where the mixin's phases sit against the target: start and end, from spawn.
  for (const n of names.filter((x) => /Alert rules|Grafana dashboard|Dashboard data|Milvus target up|PromQL/.test(x))) {
    const cell = (b: string) => {
      const mine = runs.filter((r) => r.bundle === b && r.phases[n])
      if (mine.length === 0) return '–'
      return `${sec(median(mine.map((r) => r.phases[n]!.startMs)))} → ${sec(median(mine.map((r) => r.phases[n]!.startMs + r.phases[n]!.ms)))}`
    }
    lines.push(`| phase "${n}", start → end (from spawn) | ${cell('old')} | ${cell('new')} |`)
  }
  console.log(lines.join('\n'))
}

try {
  for (let i = 1; i <= RUNS; i++) {
    for (const bundle of i % 2 ? bundles : [...bundles].reverse()) {
      const base = join(OUT, `run${i}-${bundle.name}`)
      const release = await hold(args.lock)
      try {
        cleanup(`${base}-cleanup.log`)
        log(`run ${i}/${RUNS}: ${bundle.name}`)
        const r = await once(bundle, base)
        runs.push(r)
        log(`  ${bundle.name}: target up ${sec(r.upMs)}, step end ${sec(r.endMs)}, tail ${sec(r.endMs - r.upMs)}`)
      } finally {
        release()
      }
      writeFileSync(join(OUT, 'results.json'), JSON.stringify({ runs }, null, 2))
    }
  }
} finally {
  report()
  if (!args.shared && !args.keep) execFileSync(process.execPath, [CLUSTER, 'down'], { stdio: 'inherit', env: process.env })
}
