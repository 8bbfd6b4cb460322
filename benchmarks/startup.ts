// Start-up time and peak memory of the bundled action (dist/main/index.js), without a cluster.
//
//   npx node benchmarks/startup.ts [runs]      (default 15; prints figures, asserts nothing)
//
// Start-up: from spawn() to the first line on stdout, with the environment the runner gives a
// step (INPUT_*, GITHUB_* command files, RUNNER_TEMP, RUNNER_TOOL_CACHE); the process is killed
// once that line arrives. Peak memory: the RSS high-water mark of the node process as
// `/usr/bin/time -f %M` reports it (Debian package `time`), for three runs that stop before any
// cluster work: bad inputs; no kubeconfig; and the tools installed from a loopback mirror while
// the API server (a closed loopback port) never answers, until a 10s budget runs out.
// The full run's peak, with a cluster, is in benchmarks/action.ts. Nothing leaves loopback.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { closedPort, makeRunner } from '../local-cluster/runner.ts'
import { startMirror } from '../local-cluster/mirror.ts'

const RUNS = Number(process.argv[2] ?? 15)
const MEMORY_RUNS = 5
const ROOT = join(import.meta.dirname, '..')
const BUNDLE = join(ROOT, 'dist', 'main', 'index.js')
const TIME = '/usr/bin/time'
const TARGET_STARTUP_MS = 300

if (!existsSync(BUNDLE)) {
  console.error(`${BUNDLE} is missing: run \`npm run build\` first`)
  process.exit(1)
}
if (!process.versions.node.startsWith('24')) {
  console.error(`warning: this is Node ${process.versions.node}; the action runs on Node 24 (use \`npx node benchmarks/startup.ts\`)`)
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const scratch = mkdtempSync(join(tmpdir(), 'startup-bench-'))
const nowhere = `http://127.0.0.1:${await closedPort()}`
const minimalInputs = {
  'kubectl-base-url': `${nowhere}/kubectl`,
  'helm-base-url': `${nowhere}/helm`,
  'kube-prometheus-url': `${nowhere}/kube-prometheus.tar.gz`,
  'milvus-chart-repo': `${nowhere}/helm-repo`,
}

/** The environment of one step, as local-cluster/runner.ts builds it. */
function stepEnv(inputs: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(scratch, 'step-'))
  mkdirSync(join(dir, 'temp'))
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: dir,
    KUBECONFIG: join(dir, 'no-kubeconfig'),
    RUNNER_TOOL_CACHE: join(dir, 'tool-cache'),
    RUNNER_TEMP: join(dir, 'temp'),
    GITHUB_ACTIONS: 'true',
  }
  for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY', 'GITHUB_ENV', 'GITHUB_PATH']) {
    env[name] = join(dir, name.toLowerCase())
    writeFileSync(env[name], '')
  }
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v
  return env
}

/** ms from spawn() to the first complete stdout line; the process is then killed. */
function timeToFirstLine(): Promise<{ ms: number; line: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [BUNDLE], { env: stepEnv(minimalInputs), stdio: ['ignore', 'pipe', 'ignore'] })
    let buffered = ''
    let done = false
    child.stdout.on('data', (c: Buffer) => {
      if (done) return
      buffered += c.toString()
      const nl = buffered.indexOf('\n')
      if (nl < 0) return
      done = true
      const ms = performance.now() - started
      child.kill('SIGKILL')
      child.once('close', () => resolve({ ms, line: buffered.slice(0, nl) }))
    })
    child.once('error', reject)
    child.once('close', (code) => {
      if (!done) reject(new Error(`the action exited (${code}) before printing a line`))
    })
  })
}

// --- start-up
const startup: number[] = []
let firstLine = ''
for (let i = 0; i < RUNS; i++) {
  const r = await timeToFirstLine()
  startup.push(r.ms)
  firstLine = r.line
}
const fmt = (x: number) => x.toFixed(0)
console.log(`dist/main/index.js on Node ${process.versions.node}, ${RUNS} runs`)
console.log(`first line: ${JSON.stringify(firstLine)}`)
console.log(
  `start-up to first stdout line: median ${fmt(median(startup))} ms, p90 ${fmt(percentile(startup, 90))} ms ` +
    `(target <= ${TARGET_STARTUP_MS} ms: ${percentile(startup, 90) <= TARGET_STARTUP_MS ? 'met' : 'NOT met'})`,
)
console.log(`  runs (ms): ${startup.map(fmt).join(', ')}`)

// --- peak memory
if (!existsSync(TIME)) {
  console.log(`peak memory: not measured: ${TIME} is missing (apt-get install time)`)
} else {
  const mirror = await startMirror()
  const apiDown = `https://127.0.0.1:${await closedPort()}`
  const kubeconfig = join(scratch, 'kubeconfig-api-down')
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: down\n  cluster:\n    server: ${apiDown}\n    insecure-skip-tls-verify: true\n` +
      `users:\n- name: u\n  user:\n    token: not-a-secret\ncontexts:\n- name: down\n  context: {cluster: down, user: u}\ncurrent-context: down\n`,
  )
  const fromMirror = { ...minimalInputs, 'kubectl-base-url': mirror.kubectlBaseUrl, 'helm-base-url': mirror.helmBaseUrl }
  const scenarios: Array<{ name: string; inputs: Record<string, string>; env: Record<string, string> }> = [
    { name: 'bad inputs (validation only)', inputs: { ...minimalInputs, namespace: 'Not_A_Label', timeout: 'soon' }, env: {} },
    { name: 'no kubeconfig (fails in preflight)', inputs: fromMirror, env: { KUBECONFIG: join(scratch, 'no-kubeconfig') } },
    { name: 'tools installed, API server down, 10s budget', inputs: { ...fromMirror, timeout: '10s' }, env: { KUBECONFIG: kubeconfig } },
  ]
  try {
    console.log(`peak memory (RSS high-water mark, ${TIME} -f %M), ${MEMORY_RUNS} runs each (a figure, no target):`)
    for (const s of scenarios) {
      const peaks: number[] = []
      let last = ''
      for (let i = 0; i < MEMORY_RUNS; i++) {
        // A fresh tool cache each run, so every install is cold.
        const runner = makeRunner({ wrap: [TIME, '-f', 'maxrss_kb=%M'], env: { HOME: scratch, ...s.env } })
        const r = await runner.main(s.inputs)
        rmSync(dirname(runner.toolCache), { recursive: true, force: true })
        const m = /maxrss_kb=(\d+)\s*$/.exec(r.stderr)
        if (!m) throw new Error(`no maxrss in the output of ${s.name}:\n${r.stderr.slice(-2000)}`)
        peaks.push(Number(m[1]) / 1024)
        last =
          r.stdout
            .split('\n')
            .find((l) => l.startsWith('::error::'))
            ?.slice(0, 100) ?? `exit ${r.code}`
      }
      const max = Math.max(...peaks)
      console.log(`  ${s.name.padEnd(46)} median ${median(peaks).toFixed(1)} MB, max ${max.toFixed(1)} MB  [ended: ${last}]`)
    }
  } finally {
    await mirror.close()
  }
}
rmSync(scratch, { recursive: true, force: true })
