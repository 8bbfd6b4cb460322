// The README is what users copy: its first commands must set themselves up on a fresh clone, its
// complete workflow must be a workflow that can pass as written, and the facts it and the pages of
// docs/ state (the targets query, the runner version, how to pin and verify a release) must be the
// code's. The README stays a five-minute read; its links, and those of docs/, lead somewhere.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { INPUT_DEFAULTS } from '../src/inputs.ts'
import { targetsPath } from '../src/scrape/target-wait.ts'
import {
  codeBlocks,
  curlGlobProblem,
  docsPage,
  expressions,
  headingAnchors,
  LONG_LIVED_RECIPES,
  markdownLinks,
  markdownPages,
  outputReferences,
  readme,
  readmeWorkflow,
  readmeSection,
  readmeWorkflowSteps,
  recipeInputs,
  simpleCommands,
  withOutputs,
} from './support/readme.ts'

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url))
const action = parse(readFileSync(root('action.yml'), 'utf8')) as { outputs?: Record<string, unknown>; runs?: { using?: string } }
const declaredOutputs = new Set(Object.keys(action.outputs ?? {}))
const pkg = JSON.parse(readFileSync(root('package.json'), 'utf8')) as { scripts: Record<string, string> }
const text = readme()

describe('README first commands', () => {
  const first = codeBlocks(text).find((b) => b.lang === 'sh')
  const commands = simpleCommands(first?.code ?? '')

  it('are the demo, then the tests', () => {
    expect(commands.map((c) => c.join(' '))).toEqual(['sudo npm run demo', 'sudo npm test'])
  })

  it('are where CONTRIBUTING.md starts too', () => {
    const contributing = readFileSync(root('CONTRIBUTING.md'), 'utf8')
    const firstThere = codeBlocks(contributing).find((b) => b.lang === 'sh')
    expect(simpleCommands(firstThere?.code ?? '')).toEqual(commands)
  })

  it('each run the set-up before anything needs Node 24 or the local cluster', () => {
    expect(pkg.scripts.demo).toMatch(/^bash scripts\/setup\.sh demo && /)
    expect(pkg.scripts.test).toMatch(/^bash scripts\/setup\.sh test && /)
  })

  it('the set-up script is valid bash and reuses the cluster build instead of copying it', () => {
    execFileSync('bash', ['-n', root('scripts/setup.sh')])
    const setup = readFileSync(root('scripts/setup.sh'), 'utf8')
    expect(setup).toContain('npm ci')
    expect(setup).toContain('bash local-cluster/build.sh')
    expect(readFileSync(root('.ci/run'), 'utf8')).toMatch(/^npm test\b/m)
  })
})

describe('README complete workflow', () => {
  const { workflow, source } = readmeWorkflow(text)
  const steps = readmeWorkflowSteps(text)
  const action = steps.find((s) => s.uses?.startsWith('org/milvus-monitoring-action@'))
  const runSteps = steps.filter((s) => s.run !== undefined)
  const sample = Object.fromEntries([...declaredOutputs].map((o) => [o, `http://127.0.0.1:40123`]))

  it('is a workflow: a trigger, no token permissions by default, one job with steps', () => {
    expect(workflow.on).toBeTruthy()
    expect(workflow.permissions).toEqual({})
    expect(Object.keys(workflow.jobs ?? {})).toHaveLength(1)
    expect(steps.length).toBeGreaterThan(2)
  })

  it('runs the action with an id, passing only declared inputs', () => {
    expect(action?.id).toBeTruthy()
    for (const name of Object.keys(action?.with ?? {})) expect(Object.keys(INPUT_DEFAULTS), `input ${name}`).toContain(name)
  })

  it('has shell lines in steps named for what they check', () => {
    expect(runSteps.length).toBeGreaterThanOrEqual(3)
    for (const step of runSteps) {
      expect(step.name).not.toBe(step.lines[0])
      expect(step.lines.length).toBeGreaterThan(0)
    }
  })

  it("reads only outputs action.yml declares, of the action's step", () => {
    const refs = runSteps.flatMap((s) => outputReferences(s.run ?? ''))
    expect(refs.length).toBeGreaterThan(0)
    for (const [id, output] of refs) {
      expect(id).toBe(action?.id)
      expect(declaredOutputs, `steps.${id}.outputs.${output}`).toContain(output)
    }
    // No other expression (a typo'd context would be an empty string at run time).
    for (const step of runSteps) expect(expressions(step.run ?? '').length).toBe(outputReferences(step.run ?? '').length)
  })

  it('is valid bash once the outputs are in', () => {
    for (const step of runSteps) {
      const script = withOutputs(step.run ?? '', action?.id ?? '', sample)
      expect(() => execFileSync('bash', ['-n', '-c', script], { stdio: 'pipe' }), step.name).not.toThrow()
    }
  })

  it('sends every PromQL query as written: no curl globbing of {} or []', () => {
    const curls = runSteps.flatMap((s) => simpleCommands(withOutputs(s.run ?? '', action?.id ?? '', sample))).filter((c) => c[0] === 'curl')
    expect(curls.length).toBeGreaterThan(0)
    expect(curls.some((c) => c.some((w) => w.includes('{')))).toBe(true)
    for (const c of curls) expect(curlGlobProblem(c), c.join(' ')).toBeUndefined()
  })

  it('the curl check catches the globbing mistake', () => {
    const [broken] = simpleCommands(`curl -fsS "http://127.0.0.1:1/api/v1/query?query=up{namespace=\\"milvus\\"}"`)
    expect(curlGlobProblem(broken!)).toMatch(/without -g/)
    const [post] = simpleCommands(`curl -fsS --data-urlencode 'query=up{a="b"}' http://127.0.0.1:1/api/v1/query`)
    expect(curlGlobProblem(post!)).toMatch(/without -G/)
    const [ok] = simpleCommands(`curl -fsS -g 'http://127.0.0.1:1/api/v1/query?query=up{a="b"}'`)
    expect(curlGlobProblem(ok!)).toBeUndefined()
  })

  it('pins third-party actions with the SHA and version the repository workflows use', () => {
    const workflows = ['ci.yml', 'e2e.yml', 'check-dist.yml'].map((f) => readFileSync(root(`.github/workflows/${f}`), 'utf8')).join('\n')
    const pins = [...source.matchAll(/uses:\s+(?!org\/milvus-monitoring-action@)(\S+@\S+.*)$/gm)].map((m) => m[1] ?? '')
    expect(pins.length).toBeGreaterThan(0)
    for (const pin of pins) {
      expect(pin).toMatch(/@[0-9a-f]{40} # v\d+\.\d+\.\d+$/)
      expect(workflows, pin).toContain(`uses: ${pin}`)
    }
  })
})

describe('README statements', () => {
  it('the phase by phase page names the targets query the code sends', () => {
    const phases = docsPage('phases.md')
    expect(phases).toContain(targetsPath(''))
    expect(phases).not.toContain('state=active')
    expect(text).not.toContain('state=active')
  })

  it('names the minimum runner version of the runtime action.yml declares', () => {
    const minimum: Record<string, string> = { node24: 'v2.327.1' }
    const using = action.runs?.using ?? ''
    expect(minimum[using], `runtime ${using}`).toBeDefined()
    expect(text).toContain(`runner ${minimum[using]} or later`)
    expect(text).toContain(`\`${using}\``)
  })

  it('says that kubectl and helm go first on PATH, as installTools does', () => {
    const install = readFileSync(root('src/tools/install.ts'), 'utf8')
    expect(install).toMatch(/core\.addPath\(join\(kubectl\.path/)
    expect(text).toMatch(/kubectl and helm it installed first on `PATH`/)
  })
})

describe('README long-lived recipes', () => {
  it.each(LONG_LIVED_RECIPES)('%s: an e2e file runs it, and it passes only declared inputs', (name) => {
    expect(existsSync(root(`__tests__/e2e/recipe-${name}.test.ts`))).toBe(true)
    const declared = new Set(Object.keys((parse(readFileSync(root('action.yml'), 'utf8')) as { inputs: object }).inputs))
    const inputs = recipeInputs(name)
    expect(Object.keys(inputs).length).toBeGreaterThan(0)
    for (const k of Object.keys(inputs)) expect(declared, k).toContain(k)
  })

  it('say what each path changes and what it never touches', () => {
    const section = readme().split('### Nightly on a long-lived cluster')[1]!.split('\n### ')[0]!
    expect(section.match(/It\s+changes:/g)).toHaveLength(2)
    expect(section.match(/Never\s+touched/g)).toHaveLength(2)
  })
})

describe('versions and pinning (docs/versions.md)', () => {
  const section = docsPage('versions.md')
  const release = parse(readFileSync(root('.github/workflows/release.yml'), 'utf8')) as {
    jobs: Record<string, { steps: Array<{ uses?: string; with?: Record<string, string> }> }>
  }
  const attested = Object.values(release.jobs)
    .flatMap((j) => j.steps)
    .find((s) => s.uses?.startsWith('actions/attest-build-provenance@'))
    ?.with?.['subject-path']?.split('\n')
    .map((p) => p.trim())
    .filter(Boolean)

  it('shows a pin by commit SHA with the version in a comment, as the README does', () => {
    const pin = /uses: org\/milvus-monitoring-action@<40-hex commit SHA> # v\d+\.\d+\.\d+/
    expect(section).toMatch(pin)
    const inReadme = readmeSection('Versions and pinning', text)
    expect(inReadme).toMatch(pin)
    expect(inReadme).toContain('(docs/versions.md)')
  })

  it('explains the major tag the release workflow moves', () => {
    expect(section).toContain('`@v1`')
    expect(section).toContain('.github/workflows/release.yml')
  })

  it('verifies every file the release attests, against the workflow that signs it', () => {
    const verify = codeBlocks(section).find((b) => b.lang === 'sh')?.code ?? ''
    expect(verify).toContain('gh attestation verify')
    expect(verify).toContain('--signer-workflow org/milvus-monitoring-action/.github/workflows/release.yml')
    const loop = /for f in ([^;]+);/.exec(verify)?.[1]?.split(/\s+/) ?? []
    expect(attested?.length).toBeGreaterThan(0)
    for (const pattern of attested ?? []) {
      const covered = loop.some(
        (g) => g === pattern || (g.endsWith('/*.js') && pattern.startsWith(g.slice(0, -4)) && pattern.endsWith('.js')),
      )
      expect(covered, pattern).toBe(true)
    }
  })
})

describe('README length and links', () => {
  it('is a five-minute read: at most 300 lines, table cells of at most 100 characters', () => {
    expect(text.split('\n').length).toBeLessThanOrEqual(300)
    const cells = text
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .flatMap((l) => l.slice(1, -1).split(' | '))
      .map((c) => c.trim())
    expect(cells.length).toBeGreaterThan(0)
    for (const cell of cells) expect(cell.length, cell).toBeLessThanOrEqual(100)
  })

  it.each(markdownPages())('%s: every relative link names a file, and a heading of it', (page) => {
    const links = markdownLinks(readFileSync(root(page), 'utf8')).filter((l) => !/^[a-z]+:/.test(l.path))
    for (const { path, fragment } of links) {
      const target = path === '' ? page : normalize(join(dirname(page), path))
      expect(existsSync(root(target)), `${page}: ${path}`).toBe(true)
      if (fragment === '' || !target.endsWith('.md')) continue
      expect(headingAnchors(readFileSync(root(target), 'utf8')), `${page}: ${path}#${fragment}`).toContain(fragment)
    }
  })

  it('links every page of docs/', () => {
    const linked = new Set(markdownLinks(text).map((l) => normalize(l.path)))
    for (const page of markdownPages().filter((p) => p.startsWith('docs/'))) expect(linked, page).toContain(page)
  })
})
