// The README's complete workflow under a runner this project did not write: nektos/act in host
// mode (`-P ubuntu-latest=-self-hosted`), built by local-cluster/build.sh. The local cluster stands
// in for the kind step, which is left out; actions/checkout comes first and the action is the
// checked-out repository (`uses: ./`); the mirror inputs and KUBECONFIG reach the workflow as
// `--env`, which its `with:` reads through `${{ env.* }}`. act runs inside the cluster's network
// namespace, where nothing but the cluster and its mirror is reachable.
//
// What act does that matters here (v0.2.89):
// - `actions/checkout` of the repository under test is never fetched: act copies the working
//   directory into the job's workspace instead (honouring .gitignore), and `uses: ./` runs the
//   action from that copy, so the checkout step is what puts dist/ where the action runs.
// - INPUT_* variables of the job's env are removed before a `uses:` step, so inputs can only come
//   through `with:`.
// - In host mode a JavaScript action runs on the first `node` in PATH, whatever its version.
// - Without `-P`, act asks interactively for a default image; with a config file (actrc) it reads
//   more flags; it asks `gh auth token` for a GITHUB_TOKEN and api.nektosact.com for notices.
//   The run gets its own HOME and XDG directories, a token and ACT_DISABLE_VERSION_CHECK, so none
//   of that applies.
// - In host mode each variable of act's own environment that act does not set itself reaches
//   every step (under CI, the outer runner's), so act starts with a few chosen ones only.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import YAML from 'yaml'
import { layout } from '../../local-cluster/layout.ts'
import { localCluster, mirrorInputs, type LocalCluster } from '../../local-cluster/client.ts'
import { readmeWorkflow, readmeWorkflowSteps, outputReferences, simpleCommands, withOutputs } from '../support/readme.ts'
import { ROOT } from '../../local-cluster/runner.ts'

const E2E = process.env.MILVUS_ACTION_E2E !== '0'
const MIN = 60_000

const ACT = join(layout().binDir, 'act')
// This case's own namespace, new on each run, and release, so it needs nothing another case or an
// earlier run left. (A deleted namespace can stay Terminating for good on the local cluster: the
// namespace controller waits for discovery of kube-prometheus' metrics.k8s.io, which nothing serves.)
const NAMESPACE = `milvus-act-${Date.now().toString(36)}`
const RELEASE = 'readme-act'
const WORKFLOW_FILE = '.github/workflows/readme-complete-workflow.yml'

type Step = Record<string, unknown> & { uses?: string; run?: string; id?: string; with?: Record<string, unknown> }

/** Whether a README step is the one that runs this action. */
function isAction(step: { uses?: string }): boolean {
  return step.uses?.startsWith('org/milvus-monitoring-action@') ?? false
}

/** The checkout this project's own CI uses, pinned as it is there. */
function checkoutRef(): string {
  const ci = YAML.parse(readFileSync(join(ROOT, '.github', 'workflows', 'ci.yml'), 'utf8')) as { jobs: Record<string, { steps: Step[] }> }
  const uses = Object.values(ci.jobs)
    .flatMap((j) => j.steps)
    .find((s) => s.uses?.startsWith('actions/checkout@'))?.uses
  if (!uses) throw new Error('ci.yml has no actions/checkout step')
  return uses
}

/**
 * The README's workflow as this case runs it: the kind step left out, actions/checkout first,
 * the action as `./` in this case's namespace and release, its mirror inputs read from the env
 * context. The README's shell steps are kept, with the README's namespace in their queries
 * replaced by this case's. Returns the workflow and the env variables its `with:` reads.
 */
function actWorkflow(clusterEnv: Record<string, string>): {
  workflow: Record<string, unknown>
  envKeys: string[]
  readmeNamespace: string
} {
  const workflow = structuredClone(readmeWorkflow().workflow) as Record<string, unknown> & { jobs: Record<string, { steps: Step[] }> }
  const job = Object.values(workflow.jobs)[0]!
  const kind = job.steps.filter((s) => s.uses?.startsWith('helm/kind-action@'))
  expect(kind, 'the README workflow has one kind step').toHaveLength(1)
  const action = job.steps.find(isAction)
  expect(action, 'the README workflow runs the action').toBeDefined()
  const readmeNamespace = String(action!.with?.namespace ?? 'milvus')

  // Each mirror input as `${{ env.X }}`, X the cluster's variable mirrorInputs reads it from.
  const asEnv = Object.fromEntries(Object.keys(clusterEnv).map((k) => [k, `\${{ env.${k} }}`]))
  const fromEnv = mirrorInputs(asEnv)
  const envKeys = Object.values(fromEnv).map((v) => /env\.(\w+)/.exec(v)![1]!)

  const steps: Step[] = [{ uses: checkoutRef() }]
  const quoted = `namespace="${readmeNamespace}"`
  let queries = 0
  for (const s of job.steps) {
    if (kind.includes(s)) continue
    if (s === action) {
      steps.push({ ...s, uses: './', with: { ...s.with, namespace: NAMESPACE, 'release-name': RELEASE, ...fromEnv } })
    } else if (typeof s.run === 'string') {
      queries += s.run.split(quoted).length - 1
      steps.push({ ...s, run: s.run.split(quoted).join(`namespace="${NAMESPACE}"`) })
    } else {
      steps.push(s)
    }
  }
  // Otherwise the README's query would read another case's Milvus in its namespace.
  expect(queries, `a README shell step queries ${quoted}`).toBeGreaterThan(0)
  job.steps = steps
  return { workflow, envKeys, readmeNamespace }
}

/** A copy of the repository as committed plus its working changes (dist/ as built), in a new git repository. */
function repositoryCopy(dir: string): void {
  const files = execFileSync('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && existsSync(join(ROOT, f)))
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true })
    cpSync(join(ROOT, f), join(dir, f), { verbatimSymlinks: true })
  }
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', '-c', 'commit.gpgsign=false', ...args], {
      stdio: 'ignore',
    })
  git('init', '-q', '-b', 'main')
  git('add', '-A')
  git('commit', '-q', '-m', 'the repository under test')
}

interface ActEntry {
  msg: string
  level: string
  step?: string
  stepID?: string[]
  stage?: string
  stepResult?: string
  jobResult?: string
  raw_output?: boolean
  command?: string
  name?: string
  arg?: string
}

interface ActRun {
  code: number | null
  entries: ActEntry[]
  log: string
}

function runAct(cluster: LocalCluster, cwd: string, home: string, env: Record<string, string>, timeoutMs: number): Promise<ActRun> {
  const args = [
    '-W',
    WORKFLOW_FILE,
    '-P',
    'ubuntu-latest=-self-hosted',
    '--no-cache-server',
    '--json',
    // A token, so act does not ask `gh auth token` for the machine's own.
    '--secret',
    'GITHUB_TOKEN=unused',
    ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
  ]
  const processEnv = {
    // The action's `node24` runs on the first node in PATH: the Node 24 that runs the tests.
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    ACT_DISABLE_VERSION_CHECK: '1',
    LANG: 'C.UTF-8',
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cluster.wrap[0]!, [...cluster.wrap.slice(1), ACT, ...args], {
      cwd,
      env: processEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    child.stdout.on('data', (c: Buffer) => (log += c.toString()))
    child.stderr.on('data', (c: Buffer) => (log += c.toString()))
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const entries = log.split('\n').flatMap((l) => {
        if (!l.startsWith('{')) return []
        try {
          return [JSON.parse(l) as ActEntry]
        } catch {
          return []
        }
      })
      resolve({ code, entries, log })
    })
  })
}

/** The address of a Service's ready endpoint, for an in-cluster URL such as http://prometheus-k8s.monitoring.svc:9090. */
async function endpointOf(cluster: LocalCluster, inClusterUrl: string): Promise<string> {
  const u = new URL(inClusterUrl)
  const [service, namespace] = u.hostname.split('.')
  const svc = await cluster.kubectlJson<{ spec: { ports: Array<{ name?: string; port: number }> } }>([
    'get',
    'service',
    '-n',
    namespace!,
    service!,
  ])
  const port = svc.spec.ports.find((p) => p.port === Number(u.port))!
  const slices = await cluster.kubectlJson<{
    items: Array<{
      endpoints: Array<{ addresses: string[]; conditions: { ready?: boolean } }>
      ports: Array<{ name?: string; port: number }>
    }>
  }>(['get', 'endpointslices', '-n', namespace!, '-l', `kubernetes.io/service-name=${service}`])
  for (const s of slices.items) {
    const target = s.ports.find((p) => (p.name ?? '') === (port.name ?? ''))
    const ready = (s.endpoints ?? []).find((e) => e.conditions.ready !== false)
    if (target && ready) return `http://${ready.addresses[0]}:${target.port}`
  }
  throw new Error(`no ready endpoint for ${inClusterUrl}`)
}

describe.runIf(E2E)("the README's complete workflow under nektos/act", () => {
  let cluster: LocalCluster
  let work: string

  beforeAll(async () => {
    if (!existsSync(ACT)) throw new Error(`${ACT} is missing: bash local-cluster/build.sh act`)
    for (const f of ['dist/main/index.js', 'dist/post/index.js']) {
      if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: npm run build`)
    }
    cluster = await localCluster()
    work = mkdtempSync(join(tmpdir(), 'act-readme-'))
  }, 30 * MIN)

  afterAll(async () => {
    // The release and its namespace, without waiting for the namespace to go.
    if (cluster) {
      await cluster.helm(['uninstall', RELEASE, '-n', NAMESPACE, '--ignore-not-found', '--wait']).catch(() => '')
      await cluster.kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=false'])
    }
    if (work && !process.env.KEEP_ACT_WORKDIR) rmSync(work, { recursive: true, force: true })
  }, 5 * MIN)

  it(
    'runs green: every step, the outputs the shell steps use, the Milvus target up in Prometheus',
    async () => {
      const repo = join(work, 'repo')
      const home = join(work, 'home')
      mkdirSync(repo)
      mkdirSync(home)
      repositoryCopy(repo)
      const { workflow, envKeys, readmeNamespace } = actWorkflow(cluster.env)
      writeFileSync(join(repo, WORKFLOW_FILE), YAML.stringify(workflow))

      const env: Record<string, string> = { KUBECONFIG: cluster.env.KUBECONFIG! }
      for (const k of envKeys) env[k] = cluster.env[k]!
      const started = Date.now()
      const r = await runAct(cluster, repo, home, env, 15 * MIN)
      console.log(`act ran the README workflow in ${Math.round((Date.now() - started) / 1000)} s`)
      writeFileSync(join(cluster.logDir, 'act-readme-workflow.log'), r.log)
      const why = `act exit ${r.code}; its log in ${join(cluster.logDir, 'act-readme-workflow.log')}, last lines:\n${r.log.slice(-6000)}`

      expect(r.code, why).toBe(0)
      const job = r.entries.filter((e) => e.jobResult !== undefined)
      expect(
        job.map((e) => e.jobResult),
        why,
      ).toEqual(['success'])

      // Each step of the workflow ran its main stage and succeeded: the README's steps in their
      // order (the kind step left out), after the checkout, and the action's post step after them.
      const readmeSteps = readmeWorkflowSteps().filter((s) => !s.uses?.startsWith('helm/kind-action@'))
      const results = r.entries.filter((e) => e.stepResult !== undefined)
      const mains = results.filter((e) => e.stage === 'Main')
      expect(
        mains.map((e) => e.step),
        why,
      ).toEqual([checkoutRef(), ...readmeSteps.map((s) => (isAction(s) ? './' : s.name))])
      expect(
        mains.map((e) => e.stepResult),
        why,
      ).toEqual(mains.map(() => 'success'))
      const actionId = readmeSteps.find(isAction)!.id!
      const post = results.filter((e) => e.stage === 'Post')
      expect(
        post.map((e) => [e.stepID?.[0], e.stepResult]),
        why,
      ).toEqual([[actionId, 'success']])

      // The outputs, as act recorded them from the action's GITHUB_OUTPUT.
      const outputs = Object.fromEntries(
        r.entries.filter((e) => e.command === 'set-output' && e.stepID?.[0] === actionId).map((e) => [e.name!, e.arg!]),
      )
      expect(outputs['target-health']).toBe('up')
      expect(outputs['service-monitor']).toBe(`${NAMESPACE}/${RELEASE}-milvus-standalone`)
      // Every output the README's shell steps read was set, to an address on the runner.
      const used = readmeSteps.flatMap((s) => outputReferences(s.run ?? '')).filter(([id]) => id === actionId)
      expect(used.length).toBeGreaterThan(0)
      for (const [, name] of used) expect(outputs[name], name).toMatch(/^(http:\/\/)?127\.0\.0\.1:\d+$/)
      // act substituted them into the scripts: an `echo` step printed what the README's text says.
      for (const s of readmeSteps.filter((x) => x.run)) {
        const commands = simpleCommands(
          withOutputs(s.run!.split(`namespace="${readmeNamespace}"`).join(`namespace="${NAMESPACE}"`), actionId, outputs),
        )
        if (commands.length !== 1 || commands[0]![0] !== 'echo') continue
        const printed = r.entries.filter((e) => e.raw_output && e.step === s.name).map((e) => e.msg.trim())
        expect(printed, s.name).toContain(commands[0]!.slice(1).join(' '))
      }

      // The cluster: the release and its ServiceMonitor in this case's namespace, and Prometheus
      // (the one the run used, through its Service's endpoint: the forwards ended with the post
      // step) scraping the Milvus target, up.
      const release = JSON.parse(await cluster.helm(['status', RELEASE, '-n', NAMESPACE, '-o', 'json'])) as { info: { status: string } }
      expect(release.info.status).toBe('deployed')
      await cluster.kubectl(['get', 'servicemonitor', '-n', NAMESPACE, `${RELEASE}-milvus-standalone`])
      const prometheus = await endpointOf(cluster, outputs['prometheus-url-in-cluster']!)
      const query = await cluster.get(`${prometheus}/api/v1/query?query=${encodeURIComponent(`up{namespace="${NAMESPACE}"}`)}`)
      expect(query.status, query.body).toBe(200)
      const result = (JSON.parse(query.body) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } })
        .data.result
      expect(result.length, query.body).toBeGreaterThan(0)
      expect(result.map((x) => x.value[1])).toEqual(result.map(() => '1'))
      const targets = await cluster.get(
        `${prometheus}/api/v1/targets?state=active&scrapePool=${encodeURIComponent(outputs['scrape-pool']!)}`,
      )
      const active = (JSON.parse(targets.body) as { data: { activeTargets: Array<{ health: string; labels: Record<string, string> }> } })
        .data.activeTargets
      expect(active.length, targets.body).toBeGreaterThan(0)
      expect(active.map((t) => [t.labels.namespace, t.health])).toEqual(active.map(() => [NAMESPACE, 'up']))
    },
    20 * MIN,
  )
})
