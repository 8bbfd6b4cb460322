// The bundled dist/main/index.js, run as the GitHub runner runs it (INPUT_* variables and the
// GITHUB_* command files, Node 24, no network namespace), on the failures a user meets before
// any cluster work starts: bad inputs, no kubeconfig, a kubeconfig whose server is down.
// Every URL the action could fetch is on loopback: the release mirror or a closed port.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMirror, type Mirror } from '../local-cluster/mirror.ts'
import { closedPort, makeRunner as newRunner, ROOT, type Runner, type StepResult } from '../local-cluster/runner.ts'

const BUNDLE = join(ROOT, 'dist', 'main', 'index.js')

let mirror: Mirror
let home: string
const runners: Runner[] = []

/** A runner as the harness makes it, removed after the tests (a run may cache ~120 MB of tools). */
function makeRunner(o: Parameters<typeof newRunner>[0]): Runner {
  const runner = newRunner(o)
  runners.push(runner)
  return runner
}

/** stdout and stderr as a reader sees them: workflow-command escapes decoded. */
function shown(r: StepResult): string {
  const decode = (s: string) => s.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%25', '%')
  return `${decode(r.stdout)}\n${decode(r.stderr)}`
}

const errors = (r: StepResult) => r.stdout.split('\n').filter((l) => l.startsWith('::error'))

function report(r: StepResult): string {
  return `exit ${r.code} after ${Math.round(r.ms)} ms\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}`
}

// A stack frame: "    at fn (file:line:col)" or "    at file:line:col".
const STACK_FRAME = /^\s*at\s+(\S+\s+\()?\S*:\d+:\d+\)?\s*$/m

/** Inputs that keep every download on loopback. */
async function loopbackInputs(): Promise<Record<string, string>> {
  return {
    'kubectl-base-url': mirror.kubectlBaseUrl,
    'helm-base-url': mirror.helmBaseUrl,
    'milvus-chart-repo': mirror.helmRepoUrl,
    'kube-prometheus-url': `http://127.0.0.1:${await closedPort()}/kube-prometheus.tar.gz`,
  }
}

beforeAll(async () => {
  if (!existsSync(BUNDLE)) {
    throw new Error(`${BUNDLE} is missing: run \`npm run build\` first (these tests run the bundle, not src/)`)
  }
  mirror = await startMirror() // the official binaries: npm pack on first use, then cached
  home = mkdtempSync(join(tmpdir(), 'dist-test-home-'))
}, 600_000)

afterAll(async () => {
  await mirror?.close()
  for (const r of runners) rmSync(dirname(r.toolCache), { recursive: true, force: true })
  if (home) rmSync(home, { recursive: true, force: true })
})

describe('dist/main/index.js as the runner runs it', () => {
  it('runs under Node 24, the runtime action.yml declares', () => {
    expect(
      process.versions.node.startsWith('24'),
      `vitest runs on Node ${process.versions.node}; run it through npm/npx so the node devDependency is used`,
    ).toBe(true)
    expect(existsSync(BUNDLE)).toBe(true)
  })

  it('several bad inputs: one error naming each, no stack trace, no outputs, nothing downloaded', async () => {
    const runner = makeRunner({ env: { HOME: home, KUBECONFIG: join(home, 'no-kubeconfig') } })
    const before = mirror.requests.length
    const r = await runner.main({
      ...(await loopbackInputs()),
      'kubectl-version': '1.x.banana',
      namespace: 'Milvus_NS',
      values: 'etcd: [replicaCount: 1\n  oops',
      'milvus-mode': 'distributed',
      timeout: 'forever',
    })

    expect(r.code, report(r)).not.toBe(0)
    const annotations = errors(r)
    expect(annotations, report(r)).toHaveLength(1)
    const message = annotations[0]!.replaceAll('%0A', '\n')
    for (const name of ['kubectl-version', 'namespace', 'values', 'milvus-mode', 'timeout']) {
      expect(message, `the error should name ${name}`).toMatch(new RegExp(`^\\s*- ${name}:`, 'm'))
    }
    // Inputs that were fine are not blamed.
    for (const name of ['helm-version', 'kubectl-base-url', 'kube-prometheus-url', 'release-name']) {
      expect(message).not.toMatch(new RegExp(`^\\s*- ${name}:`, 'm'))
    }
    expect(shown(r)).not.toMatch(STACK_FRAME)
    expect(r.outputs).toEqual({})
    expect(readdirSync(runner.toolCache)).toEqual([])
    expect(mirror.requests.slice(before)).toEqual([])
  })

  it('no kubeconfig: fails saying there is no reachable cluster and how to get one', async () => {
    const runner = makeRunner({ env: { HOME: home, KUBECONFIG: join(home, 'no-such-kubeconfig') } })
    const r = await runner.main(await loopbackInputs())

    expect(r.code, report(r)).not.toBe(0)
    const annotations = errors(r)
    expect(annotations, report(r)).toHaveLength(1)
    const message = annotations[0]!
    expect(message).toMatch(/no reachable Kubernetes cluster/i)
    expect(message).toContain('KUBECONFIG')
    expect(message).toMatch(/\bkind\b/)
    expect(shown(r)).not.toMatch(STACK_FRAME)
    expect(r.outputs).toEqual({})
  }, 120_000)

  it('a kubeconfig whose server is a closed loopback port: fails naming that server', async () => {
    const port = await closedPort()
    const server = `https://127.0.0.1:${port}`
    const kubeconfig = join(home, `kubeconfig-${port}`)
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: down',
        '  cluster:',
        `    server: ${server}`,
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: someone',
        '  user:',
        '    token: not-a-secret',
        'contexts:',
        '- name: down',
        '  context: {cluster: down, user: someone}',
        'current-context: down',
        '',
      ].join('\n'),
    )
    const runner = makeRunner({ env: { HOME: home, KUBECONFIG: kubeconfig } })
    const r = await runner.main(await loopbackInputs())

    expect(r.code, report(r)).not.toBe(0)
    const annotations = errors(r)
    expect(annotations, report(r)).toHaveLength(1)
    expect(annotations[0], report(r)).toContain(server)
    expect(shown(r)).not.toMatch(STACK_FRAME)
    expect(r.outputs).toEqual({})
  }, 180_000)
})

// ncc splits lazily imported modules into numbered chunks beside index.js. A chunk left out of a
// commit breaks every run of that commit at its first import, while the working tree still works.
describe('dist/ chunks', () => {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' })
  const inGit = git('rev-parse', '--is-inside-work-tree').stdout.trim() === 'true'

  /** The chunk files an entry point loads, directly or through other chunks. */
  function chunksOf(dir: string): string[] {
    const seen = new Set<string>()
    const queue = ['index.js']
    while (queue.length > 0) {
      const file = join(dir, queue.pop()!)
      if (!existsSync(file)) continue
      for (const m of readFileSync(file, 'utf8').matchAll(/\b[\w$]+\.e\((\d+)\)/g)) {
        const chunk = `${m[1]}.index.js`
        if (!seen.has(chunk)) queue.push(chunk)
        seen.add(chunk)
      }
    }
    return [...seen].sort()
  }

  it.each(['main', 'post'])('dist/%s: every chunk its index.js loads is there, and committed', (entry) => {
    const dir = join(ROOT, 'dist', entry)
    const chunks = chunksOf(dir)
    expect(chunks.length, 'the entry loads its heavy modules lazily: no chunk found means the pattern is stale').toBeGreaterThan(0)
    const missing = chunks.filter((c) => !existsSync(join(dir, c)))
    expect(missing, `run \`npm run build\`: dist/${entry} lacks chunks`).toEqual([])
    if (!inGit) return
    const tracked = new Set(git('ls-files', `dist/${entry}`).stdout.split('\n').filter(Boolean))
    const untracked = chunks.map((c) => `dist/${entry}/${c}`).filter((p) => !tracked.has(p))
    expect(untracked, 'commit dist/ whole (`git add -A dist`): a commit without these chunks fails at its first import').toEqual([])
  })
})
