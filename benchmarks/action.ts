// The action against the documented manual procedure (benchmarks/manual.sh), on the local
// cluster, from a clean cluster to "Prometheus reports the Milvus target up", for several node
// counts. Prints figures beside their targets (memory has none); asserts nothing.
//
//   npx node benchmarks/action.ts [--runs 3] [--nodes 1,1000] [--timeline runner|instant] [--shared] [--keep]
//
// The cluster runs a GitHub-hosted runner's timeline by default (local-cluster/timeline/: image
// pulls, probe delays, Milvus after its dependencies), with the nodes' image stores emptied
// before every timed run, as on a new runner; --timeline instant makes every pod Ready at once.
//
// By default it runs its own instance of the local cluster (network namespace
// milvus-action-bench, state in /tmp/milvus-monitoring-action-bench), because changing the node
// count restarts the cluster and would pull the shared one (milvus-action) from under whoever
// uses it; --shared uses the shared one instead. --keep leaves the instance running at the end.
// Needs root (ip netns), /usr/bin/time (Debian package `time`), curl, jq, and dist/ built.
//
// Each run starts from a clean cluster: benchmarks/manual.sh cleanup (kube-prometheus and
// Milvus removed, namespaces gone) before it, untimed. The action runs through the runner
// harness with a fresh tool cache (a new runner: kubectl and helm are installed from the
// cluster's loopback mirror); its post step (cleanup: false) stops its port-forwards. The
// action's own cleanup is not used: on this cluster it stalls (see BENCHMARKS.md).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { makeRunner, ROOT, type StepResult } from '../local-cluster/runner.ts'
import { mirrorInputs } from '../local-cluster/client.ts'
import { readEnvFile } from '../local-cluster/cluster.ts'
import { layout } from '../local-cluster/layout.ts'
import { officialBinaries } from '../local-cluster/official-binaries.ts'

const TARGET_RATIO = 0.5 // action <= 0.5 x manual
const TARGET_FLOOR_RATIO = 1.15 // action <= 1.15 x the physical floor
const TARGET_LAG_MS = 1000 // action's "target up" <= 1 s after the first successful scrape
/** One configuration reload of Prometheus, ms: the floor's allowance between Ready and the scrape that can succeed. */
const RELOAD_MS = 1000
const TARGET_GROWTH = 1.5 // time(1000 nodes) <= 1.5 x time(1 node)
const TIME = '/usr/bin/time'

// Wrapper mode, inside the runner's command: `action.ts --peak-of CMD...` runs CMD and prints
// the RSS high-water mark (VmHWM) of that one process, polled from /proc, as node_vmhwm_kb=.
// `/usr/bin/time -f %M` around it reports the largest process of the whole tree instead
// (it includes the kubectl and helm children the action runs).
if (process.argv[2] === '--peak-of') {
  const [cmd, ...rest] = process.argv.slice(3)
  const child = spawn(cmd!, rest, { stdio: 'inherit' })
  let peakKb = 0
  const poll = () => {
    try {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      if (m) peakKb = Math.max(peakKb, Number(m[1]))
    } catch {
      // exited between two polls
    }
  }
  const timer = setInterval(poll, 20)
  const code = await new Promise<number>((ok) => child.on('exit', (c, signal) => ok(c ?? (signal ? 128 : 1))))
  clearInterval(timer)
  process.stderr.write(`node_vmhwm_kb=${peakKb}\n`)
  process.exit(code)
}

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    nodes: { type: 'string', default: '1,1000' },
    timeline: { type: 'string', default: 'runner' },
    shared: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
})
const RUNS = Number(args.runs)
const NODE_COUNTS = args.nodes.split(',').map(Number)
if (!Number.isInteger(RUNS) || RUNS < 1 || NODE_COUNTS.some((n) => !Number.isInteger(n) || n < 1)) {
  throw new Error('--runs and --nodes take positive integers (--nodes as a comma-separated list)')
}

if (!args.shared) {
  process.env['LOCAL_CLUSTER_NETNS'] ??= 'milvus-action-bench'
  process.env['LOCAL_CLUSTER_STATE'] ??= '/tmp/milvus-monitoring-action-bench'
}
// The cluster's mirror serves the shared fixtures when there are any (as .ci/run does).
const sharedFixtures = join(ROOT, '..', 'shared', 'fixtures')
if (!process.env['MILVUS_ACTION_FIXTURES'] && existsSync(sharedFixtures)) process.env['MILVUS_ACTION_FIXTURES'] = sharedFixtures

for (const [what, ok] of [
  [`${join(ROOT, 'dist', 'main', 'index.js')} (run \`npm run build\`)`, existsSync(join(ROOT, 'dist', 'main', 'index.js'))],
  [`${TIME} (apt-get install time)`, existsSync(TIME)],
] as const) {
  if (!ok) throw new Error(`missing: ${what}`)
}

const CLUSTER = join(ROOT, 'local-cluster', 'cluster.ts')
const MANUAL = join(ROOT, 'benchmarks', 'manual.sh')
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const OUT = join(process.env['BENCH_OUT'] ?? '/tmp/milvus-action-bench-results', stamp)
mkdirSync(OUT, { recursive: true })

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'n/a')
const met = (ok: boolean) => (ok ? 'met' : 'NOT met')
const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`)

interface Cluster {
  nodes: number
  env: Record<string, string>
  wrap: string[]
}

function clusterUp(nodes: number): Cluster {
  log(`local cluster with ${nodes} node(s) (netns ${layout().netns})`)
  const t = performance.now()
  execFileSync(process.execPath, [CLUSTER, 'up', '--nodes', String(nodes), '--timeline', args.timeline], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: process.env,
  })
  log(`cluster ready in ${sec(performance.now() - t)}`)
  const l = layout()
  return { nodes, env: readEnvFile(l.envFile), wrap: ['ip', 'netns', 'exec', l.netns] }
}

/** kubectl and helm at the versions the action installs by default, for the manual script. */
async function toolPath(): Promise<string> {
  const bins = await officialBinaries()
  const dirs = bins.filter((b) => b.version === 'v1.35.2' || b.version === 'v4.1.4').map((b) => dirname(b.path))
  return [...new Set(dirs), process.env['PATH'] ?? ''].join(':')
}

async function manual(
  cluster: Cluster,
  cmd: 'run' | 'cleanup',
  logFile: string,
): Promise<{ totalMs: number; workMs: number; waitMs: number }> {
  const env = {
    ...process.env,
    ...cluster.env,
    PATH: await toolPath(),
    KUBE_PROMETHEUS_URL: cluster.env['LOCAL_CLUSTER_KUBE_PROMETHEUS_URL'] ?? '',
    MILVUS_REPO: cluster.env['LOCAL_CLUSTER_HELM_REPO_URL'] ?? '',
  }
  const child = spawn(cluster.wrap[0]!, [...cluster.wrap.slice(1), 'bash', MANUAL, cmd], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (out += c.toString()))
  const code = await new Promise<number>((ok) => child.on('close', (c) => ok(c ?? 1)))
  writeFileSync(logFile, out)
  if (code !== 0) throw new Error(`manual.sh ${cmd} exited ${code}; see ${logFile}\n${out.slice(-2000)}`)
  const m = /^MANUAL_RESULT (\{.*\})$/m.exec(out)
  return m ? JSON.parse(m[1]!) : { totalMs: NaN, workMs: NaN, waitMs: NaN }
}

/** formatDuration's output ('850ms', '42s', '1m 05s', '1h 02m 03s') back to ms (1 s precision). */
function parseShownDuration(text: string): number {
  const ms = /^(\d+)ms$/.exec(text)
  if (ms) return Number(ms[1])
  const m = /^(?:(\d+)h )?(?:(\d+)m )?(\d+)s$/.exec(text)
  return m ? (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3])) * 1000 : NaN
}

/** The job summary's phase table. */
function phases(summary: string): Record<string, number> {
  const table = summary.split('<h3>Phase timings</h3>')[1] ?? ''
  const out: Record<string, number> = {}
  for (const m of table.matchAll(/<tr><td>([^<]*)<\/td><td>([^<]*)<\/td><\/tr>/g)) out[m[1]!] = parseShownDuration(m[2]!)
  return out
}

/** A new runner: no image on any node (the timeline pulls everything again). */
function forgetImages(): void {
  execFileSync(process.execPath, [CLUSTER, 'forget-images'], { stdio: ['ignore', 'ignore', 'inherit'], env: process.env })
}

async function inCluster(cluster: Cluster, cmd: string, cmdArgs: string[]): Promise<string> {
  return execFileSync(cluster.wrap[0]!, [...cluster.wrap.slice(1), cmd, ...cmdArgs], {
    env: { ...process.env, KUBECONFIG: cluster.env['KUBECONFIG']!, PATH: await toolPath() },
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  })
}

interface Floor {
  /**
   * ms from the run's start to the physical floor of what the action reports (the target up in
   * every Prometheus replica, so a query through the Service finds it up, and Milvus Ready): for
   * each replica, its next scrape of the target once the replica is Ready plus one reload and
   * Milvus' container runs (it answers /metrics before it is Ready, and Prometheus scrapes
   * endpoints that are not ready); the latest of those and Milvus' Ready.
   */
  floorMs: number
  /** ms from the target's first successful scrape in every replica (the latest replica's first) to the action's "target up". */
  lagMs: number
  /**
   * ms from the first moment the action may say "up" (the target up and Milvus Ready, the later
   * of the first successful scrape and Milvus' readiness: the action also waits for the release)
   * to its "target up". Milvus answers /metrics before it is
   * Ready and Prometheus scrapes endpoints that are not ready, so the first scrape can come first.
   */
  lagAfterReadyMs: number
}

/**
 * The floor and the detection lag of a run that started at `startWall` and saw the target up at
 * `upWall` (ms epoch): pod readiness from the timeline's ready-at annotations (ms; the Ready
 * condition's time, to the second, without them), scrape times from each Prometheus replica's
 * raw `up` samples (its scrape schedule: the first sample plus multiples of the interval).
 */
async function floorOf(cluster: Cluster, startWall: number, upWall: number): Promise<Floor> {
  type Pod = {
    metadata: { namespace: string; annotations?: Record<string, string>; labels?: Record<string, string> }
    status: { podIP?: string; conditions?: Array<{ type: string; status: string; lastTransitionTime: string }> }
  }
  const pods = (
    JSON.parse(
      await inCluster(cluster, 'kubectl', ['get', 'pods', '-A', '-l', 'app.kubernetes.io/name in (prometheus,milvus)', '-o', 'json']),
    ) as { items: Pod[] }
  ).items
  const readyAt = (p: Pod) =>
    Date.parse(
      p.metadata.annotations?.['local-cluster.milvus-monitoring-action/ready-at'] ??
        p.status.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime ??
        '',
    )
  const milvusPods = pods.filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'milvus')
  const milvusReady = Math.max(...milvusPods.map(readyAt))
  // When Milvus' container runs (the timeline's started-at; Ready's time without it, which only raises the floor).
  const milvusStarted = Math.max(
    ...milvusPods.map((p) => Date.parse(p.metadata.annotations?.['local-cluster.milvus-monitoring-action/started-at'] ?? '') || readyAt(p)),
  )
  const sm = JSON.parse(await inCluster(cluster, 'kubectl', ['get', 'servicemonitors', '-n', 'milvus', '-o', 'json'])) as {
    items: Array<{ spec: { endpoints: Array<{ interval?: string }> } }>
  }
  const interval = Number(/^(\d+)s$/.exec(sm.items[0]?.spec.endpoints[0]?.interval ?? '30s')?.[1] ?? 30) * 1000
  let floorEnd = milvusReady
  let firstUp = -Infinity
  const replicas: Array<{ pod: string; readyAt: number; firstSample: number; firstUp: number }> = []
  for (const p of pods.filter(
    (x) => x.metadata.namespace === 'monitoring' && x.metadata.labels?.['app.kubernetes.io/name'] === 'prometheus',
  )) {
    const answer = JSON.parse(
      await inCluster(cluster, 'curl', [
        '-sG',
        '--max-time',
        '10',
        `http://${p.status.podIP}:9090/api/v1/query`,
        '--data-urlencode',
        'query=up{namespace="milvus"}[30m]',
      ]),
    ) as {
      data: { result: Array<{ values: Array<[number, string]> }> }
    }
    // This run's samples only: the replica's data outlives the pods of earlier runs.
    const samples = answer.data.result
      .flatMap((r) => r.values)
      .map(([t, v]) => ({ t: t * 1000, up: v === '1' }))
      .filter((s) => s.t >= startWall)
    if (!samples.length) continue
    const first = Math.min(...samples.map((s) => s.t))
    const up = Math.min(...samples.filter((s) => s.up).map((s) => s.t))
    firstUp = Math.max(firstUp, up)
    const canSucceed = Math.max(readyAt(p) + RELOAD_MS, milvusStarted)
    floorEnd = Math.max(floorEnd, first + Math.ceil((canSucceed - first) / interval) * interval)
    replicas.push({ pod: (p.metadata as { name?: string }).name ?? '', readyAt: readyAt(p), firstSample: first, firstUp: up })
  }
  writeFileSync(
    join(OUT, `floor-${startWall}.json`),
    JSON.stringify({ startWall, upWall, milvusReady, milvusStarted, intervalMs: interval, replicas }, null, 2),
  )
  return { floorMs: floorEnd - startWall, lagMs: upWall - firstUp, lagAfterReadyMs: upWall - Math.max(milvusReady, firstUp) }
}

interface ActionRun {
  /** ms from spawn to the action seeing the target up on every Prometheus replica. */
  upMs: number
  floor: Floor
  totalMs: number
  workMs: number
  waitMs: number
  peakMb: number // the action's node process
  treePeakMb: number // the largest process of its tree (kubectl, helm included)
  phases: Record<string, number>
}

/**
 * Waiting, from the times the action's log lines arrived: the wait for the CRDs to be
 * Established (setup applied -> 'CRDs Established'), and everything from the first 'Applied
 * kube-prometheus' line (the operator and Prometheus) to the target up in every replica
 * (operator and Prometheus availability, helm --wait, the wiring check, the port-forwards
 * becoming ready, the target poll).
 */
function actionWait(lines: Array<{ ms: number; text: string }>): number {
  const at = (re: RegExp, from = 0) => {
    const i = lines.findIndex((l, j) => j >= from && re.test(l.text))
    return i < 0 ? undefined : { i, ms: lines[i]!.ms }
  }
  const group = at(/^::group::Apply kube-prometheus/)
  const setupDone = group && at(/^::endgroup::/, group.i)
  const established = at(/^CRDs Established/)
  const applied = at(/^Applied kube-prometheus/)
  // The same end as the run's time: the last "Milvus target: ... up" line (the target up in every replica).
  const upIndex = lines.findLastIndex((l) => /^Milvus target: .* target(s)? up/.test(l.text))
  const up = upIndex < 0 ? undefined : { i: upIndex, ms: lines[upIndex]!.ms }
  if (!setupDone || !established || !applied || !up) return NaN
  return established.ms - setupDone.ms + (up.ms - applied.ms)
}

async function action(cluster: Cluster, logFile: string): Promise<ActionRun> {
  const wrap = [...cluster.wrap, TIME, '-f', 'maxrss_kb=%M', process.execPath, import.meta.filename, '--peak-of']
  const runner = makeRunner({ wrap, env: { KUBECONFIG: cluster.env['KUBECONFIG']! } })
  const lines: Array<{ ms: number; text: string }> = []
  let partial = ''
  forgetImages()
  const startWall = Date.now()
  const started = performance.now()
  const r: StepResult = await runner.main(
    {
      ...mirrorInputs(cluster.env),
      timeout: '20m',
    },
    {
      onStdout: (chunk) => {
        const ms = performance.now() - started
        const parts = (partial + chunk).split('\n')
        partial = parts.pop() ?? ''
        for (const text of parts) lines.push({ ms, text })
      },
    },
  )
  writeFileSync(logFile, `${r.stdout}\n--- stderr\n${r.stderr}\n--- summary\n${r.summary}\n`)
  // The moment the action saw the target up on every Prometheus replica (its last such line);
  // the dashboard, the rules' health and the assertions come after it, before the exit.
  const upMs = lines.filter((l) => /^Milvus target: .* target(s)? up/.test(l.text)).at(-1)?.ms ?? NaN
  const floor =
    r.code === 0
      ? await floorOf(cluster, startWall, startWall + upMs).catch(() => ({ floorMs: NaN, lagMs: NaN, lagAfterReadyMs: NaN }))
      : { floorMs: NaN, lagMs: NaN, lagAfterReadyMs: NaN }
  // The post step stops the port-forwards; manual.sh cleanup then removes the rest.
  const post = await runner.post(r.state)
  writeFileSync(`${logFile}.post`, `${post.stdout}\n--- stderr\n${post.stderr}\n`)
  rmSync(dirname(runner.toolCache), { recursive: true, force: true }) // ~120 MB of tools per run
  if (r.code !== 0) throw new Error(`the action failed (exit ${r.code}); see ${logFile}\n${r.stdout.slice(-3000)}`)
  const kb = (re: RegExp) => Number(re.exec(r.stderr)?.[1] ?? NaN)
  const waitMs = actionWait(lines)
  return {
    upMs,
    floor,
    totalMs: r.ms,
    waitMs,
    workMs: r.ms - waitMs,
    peakMb: kb(/node_vmhwm_kb=(\d+)/) / 1024,
    treePeakMb: kb(/maxrss_kb=(\d+)/) / 1024,
    phases: phases(r.summary),
  }
}

interface NodeResult {
  nodes: number
  action: ActionRun[]
  manual: Array<{ totalMs: number; workMs: number; waitMs: number }>
}

const results: NodeResult[] = []
const save = () =>
  writeFileSync(join(OUT, 'results.json'), JSON.stringify({ date: new Date().toISOString(), runs: RUNS, results }, null, 2))

function report(): void {
  const lines: string[] = []
  const p = (s: string) => lines.push(s)
  p(`\naction vs manual procedure, start to "Milvus target up", ${args.timeline} timeline, median of ${RUNS} run(s) each (logs: ${OUT})`)
  for (const r of results) {
    const a = median(r.action.map((x) => x.upMs))
    const m = median(r.manual.map((x) => x.totalMs))
    const floor = median(r.action.map((x) => x.floor.floorMs))
    const lag = median(r.action.map((x) => x.floor.lagMs))
    const lagReady = median(r.action.map((x) => x.floor.lagAfterReadyMs))
    const peak = Math.max(...r.action.map((x) => x.peakMb))
    p(`\n${r.nodes} node(s):`)
    p(
      `  action  ${sec(a).padStart(8)}   waiting ${sec(median(r.action.map((x) => x.waitMs)))}, working ${sec(median(r.action.map((x) => x.workMs)))}   runs: ${r.action.map((x) => sec(x.upMs)).join(', ')}   (to its exit: ${r.action.map((x) => sec(x.totalMs)).join(', ')})`,
    )
    p(
      `  manual  ${sec(m).padStart(8)}   waiting ${sec(median(r.manual.map((x) => x.waitMs)))}, working ${sec(median(r.manual.map((x) => x.workMs)))}   runs: ${r.manual.map((x) => sec(x.totalMs)).join(', ')}`,
    )
    p(`  action / manual = ${(a / m).toFixed(2)}   (target <= ${TARGET_RATIO}: ${met(a / m <= TARGET_RATIO)})`)
    p(
      `  physical floor ${sec(floor)} (runs: ${r.action.map((x) => sec(x.floor.floorMs)).join(', ')}); action / floor = ${(a / floor).toFixed(2)}   (target <= ${TARGET_FLOOR_RATIO}: ${met(a / floor <= TARGET_FLOOR_RATIO)})`,
    )
    p(
      `  detection lag ${sec(lag)} (runs: ${r.action.map((x) => sec(x.floor.lagMs)).join(', ')})   (target <= ${TARGET_LAG_MS / 1000} s: ${met(lag <= TARGET_LAG_MS)})`,
    )
    p(
      `  detection lag after Milvus is Ready ${sec(lagReady)} (runs: ${r.action.map((x) => sec(x.floor.lagAfterReadyMs)).join(', ')})   (target <= ${TARGET_LAG_MS / 1000} s: ${met(lagReady <= TARGET_LAG_MS)})`,
    )
    const tree = Math.max(...r.action.map((x) => x.treePeakMb))
    p(
      `  action peak RSS ${peak.toFixed(1)} MB (node process; largest process of its tree incl. kubectl/helm: ${tree.toFixed(1)} MB; a figure, no target)`,
    )
    const names = [...new Set(r.action.flatMap((x) => Object.keys(x.phases)))]
    p(
      `  action phases (job summary, 1 s precision, overlapping): ${names.map((n) => `${n} ${sec(median(r.action.map((x) => x.phases[n] ?? NaN)))}`).join('; ')}`,
    )
  }
  const first = results.find((r) => r.nodes === Math.min(...NODE_COUNTS))
  const last = results.find((r) => r.nodes === Math.max(...NODE_COUNTS))
  if (first && last && first !== last) {
    const g = median(last.action.map((x) => x.upMs)) / median(first.action.map((x) => x.upMs))
    const gm = median(last.manual.map((x) => x.totalMs)) / median(first.manual.map((x) => x.totalMs))
    p(
      `\ngrowth ${first.nodes} -> ${last.nodes} nodes: action x${g.toFixed(2)} (target <= ${TARGET_GROWTH}: ${met(g <= TARGET_GROWTH)}), manual x${gm.toFixed(2)}`,
    )
  }
  console.log(lines.join('\n'))
}

let cluster: Cluster | undefined
try {
  for (const nodes of NODE_COUNTS) {
    cluster = clusterUp(nodes)
    const r: NodeResult = { nodes, action: [], manual: [] }
    results.push(r)
    for (let i = 1; i <= RUNS; i++) {
      const base = join(OUT, `n${nodes}-run${i}`)
      await manual(cluster, 'cleanup', `${base}-cleanup-before-action.log`)
      log(`${nodes} node(s), run ${i}/${RUNS}: action`)
      const a = await action(cluster, `${base}-action.log`)
      r.action.push(a)
      log(
        `  action ${sec(a.upMs)} to target up (${sec(a.totalMs)} to exit; waiting ${sec(a.waitMs)}), floor ${sec(a.floor.floorMs)}, lag ${sec(a.floor.lagMs)} (${sec(a.floor.lagAfterReadyMs)} after Ready), peak ${a.peakMb.toFixed(1)} MB`,
      )
      await manual(cluster, 'cleanup', `${base}-cleanup-before-manual.log`)
      log(`${nodes} node(s), run ${i}/${RUNS}: manual procedure`)
      forgetImages()
      const m = await manual(cluster, 'run', `${base}-manual.log`)
      r.manual.push(m)
      log(`  manual ${sec(m.totalMs)} (waiting ${sec(m.waitMs)})`)
      save()
    }
    await manual(cluster, 'cleanup', join(OUT, `n${nodes}-cleanup-after.log`))
  }
} finally {
  save()
  report()
  if (!args.shared && !args.keep && cluster) execFileSync(process.execPath, [CLUSTER, 'down'], { stdio: 'inherit', env: process.env })
}
