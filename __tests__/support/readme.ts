// The README's "A complete workflow" example as data: its YAML, its steps, and each step's shell
// lines, so tests can check them structurally (readme.test.ts) or run them against the outputs
// of a real run (withOutputs puts the outputs where the workflow has its expressions). Also the
// pages of docs/, and the Markdown links of all of them.
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const README_PATH = fileURLToPath(new URL('../../README.md', import.meta.url))

export interface ReadmeStep {
  /** The step's `name`, else its `uses`, else its first shell line. */
  name: string
  id?: string
  uses?: string
  with?: Record<string, unknown>
  /** The `run:` script as the runner receives it (expressions not yet substituted). */
  run?: string
  /** The script's non-empty lines, in order; empty for a `uses:` step. */
  lines: string[]
}

export interface ReadmeWorkflow {
  /** The YAML text of the code block. */
  source: string
  workflow: {
    on?: unknown
    permissions?: unknown
    jobs?: Record<string, { 'runs-on'?: unknown; permissions?: unknown; steps?: Array<Record<string, unknown>> }>
  }
}

export function readme(): string {
  return readFileSync(README_PATH, 'utf8')
}

/** The text of a page of docs/, by its file name (`phases.md`). */
export function docsPage(name: string): string {
  return readFileSync(`${REPO_ROOT}docs/${name}`, 'utf8')
}

/** The repository's Markdown pages: README.md, CONTRIBUTING.md and docs/*.md, as paths from the root. */
export function markdownPages(): string[] {
  const docs = readdirSync(`${REPO_ROOT}docs`)
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`)
  return ['README.md', 'CONTRIBUTING.md', ...docs.sort()]
}

/** The `[text](target)` links of a Markdown text outside code, with `#fragment` split off. */
export function markdownLinks(markdown: string): Array<{ path: string; fragment: string }> {
  const prose = markdown.replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '')
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => {
    const target = m[1] ?? ''
    const hash = target.indexOf('#')
    return hash < 0 ? { path: target, fragment: '' } : { path: target.slice(0, hash), fragment: target.slice(hash + 1) }
  })
}

/** The anchors GitHub gives a Markdown text's headings: lower case, punctuation dropped, spaces as hyphens. */
export function headingAnchors(markdown: string): Set<string> {
  const prose = markdown.replace(/^```[\s\S]*?^```$/gm, '')
  return new Set(
    [...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      (m[1] ?? '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    ),
  )
}

/** The text of the `## <title>` section, up to the next `## ` heading. */
export function readmeSection(title: string, text = readme()): string {
  const start = text.indexOf(`\n## ${title}\n`)
  if (start < 0) throw new Error(`no section "## ${title}"`)
  const body = text.slice(start + 1)
  const next = body.indexOf('\n## ', 1)
  return next < 0 ? body : body.slice(0, next + 1)
}

/** The fenced code blocks of a Markdown text, with their info string (`yaml`, `sh`, ...). */
export function codeBlocks(markdown: string): Array<{ lang: string; code: string }> {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] ?? '', code: m[2] ?? '' }))
}

/** The one yaml block of the README's "A complete workflow" section, parsed. */
export function readmeWorkflow(text = readme()): ReadmeWorkflow {
  const blocks = codeBlocks(readmeSection('A complete workflow', text)).filter((b) => b.lang === 'yaml')
  if (blocks.length !== 1) throw new Error(`"A complete workflow" has ${blocks.length} yaml blocks, expected 1`)
  const source = blocks[0]!.code
  return { source, workflow: parse(source) as ReadmeWorkflow['workflow'] }
}

/** The steps of the complete workflow's (single) job, with each step's shell lines. */
export function readmeWorkflowSteps(text = readme()): ReadmeStep[] {
  const jobs = Object.values(readmeWorkflow(text).workflow.jobs ?? {})
  if (jobs.length !== 1) throw new Error(`the complete workflow has ${jobs.length} jobs, expected 1`)
  return (jobs[0]!.steps ?? []).map((raw) => {
    const run = typeof raw.run === 'string' ? raw.run : undefined
    const lines = (run ?? '').split('\n').filter((l) => l.trim() !== '')
    const step: ReadmeStep = {
      name: String(raw.name ?? raw.uses ?? lines[0] ?? ''),
      lines,
    }
    if (typeof raw.id === 'string') step.id = raw.id
    if (typeof raw.uses === 'string') step.uses = raw.uses
    if (raw.with !== null && typeof raw.with === 'object') step.with = raw.with as Record<string, unknown>
    if (run !== undefined) step.run = run
    return step
  })
}

const EXPRESSION = /\$\{\{\s*(.*?)\s*\}\}/g
const STEP_OUTPUT = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/

/** Every `${{ ... }}` expression of a script, as its inner text. */
export function expressions(script: string): string[] {
  return [...script.matchAll(EXPRESSION)].map((m) => m[1] ?? '')
}

/** The `steps.<id>.outputs.<name>` references of a script, as [id, name] pairs. */
export function outputReferences(script: string): Array<[string, string]> {
  return expressions(script).flatMap((e) => {
    const m = STEP_OUTPUT.exec(e)
    return m ? [[m[1] ?? '', m[2] ?? ''] as [string, string]] : []
  })
}

/**
 * The script as the runner hands it to the shell: each `${{ steps.<stepId>.outputs.X }}`
 * replaced by outputs[X]. Any other expression, or an output not in `outputs`, throws.
 */
export function withOutputs(script: string, stepId: string, outputs: Record<string, string>): string {
  return script.replace(EXPRESSION, (whole, inner: string) => {
    const m = STEP_OUTPUT.exec(inner)
    if (!m || m[1] !== stepId) throw new Error(`${whole}: not an output of step ${stepId}`)
    const value = outputs[m[2] ?? '']
    if (value === undefined) throw new Error(`${whole}: no output ${m[2]}`)
    return value
  })
}

/**
 * The simple commands of a shell script, each as its words with quotes removed: enough of the
 * shell's grammar for the README's one-liners (quotes, backslashes, pipes, lists).
 */
export function simpleCommands(script: string): string[][] {
  const commands: string[][] = []
  let words: string[] = []
  let word: string | undefined
  const endWord = () => {
    if (word !== undefined) words.push(word)
    word = undefined
  }
  const endCommand = () => {
    endWord()
    if (words.length > 0) commands.push(words)
    words = []
  }
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!
    if (c === '\\' && script[i + 1] === '\n') {
      i++
    } else if (c === '\\') {
      word = (word ?? '') + (script[++i] ?? '')
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1)
      if (end < 0) throw new Error(`unterminated ' in ${script}`)
      word = (word ?? '') + script.slice(i + 1, end)
      i = end
    } else if (c === '"') {
      let s = ''
      for (i++; i < script.length && script[i] !== '"'; i++) {
        if (script[i] === '\\' && '"\\$`'.includes(script[i + 1] ?? '')) i++
        s += script[i]
      }
      if (i >= script.length) throw new Error(`unterminated " in ${script}`)
      word = (word ?? '') + s
    } else if (c === '#' && word === undefined) {
      while (i + 1 < script.length && script[i + 1] !== '\n') i++
    } else if ('|;&\n'.includes(c)) {
      endCommand()
    } else if (c === ' ' || c === '\t') {
      endWord()
    } else {
      word = (word ?? '') + c
    }
  }
  endCommand()
  return commands
}

const GLOB = /[{}[\]]/

/**
 * Why a curl command would not send what it says, or undefined. curl reads {} and [] in a URL as
 * a glob pattern unless -g/--globoff; the usual way around it for a query string is -G with
 * --data-urlencode, which encodes the value into the URL's query.
 */
export function curlGlobProblem(words: string[]): string | undefined {
  if (words[0] !== 'curl') return undefined
  const shortFlags = words.filter((w) => /^-[a-zA-Z]+$/.test(w)).join('')
  const globoff = shortFlags.includes('g') || words.includes('--globoff')
  const get = shortFlags.includes('G') || words.includes('--get')
  const urls = words.filter((w) => /^[a-z][a-z0-9+.-]*:\/\//i.test(w))
  if (urls.length === 0) return `no URL in: ${words.join(' ')}`
  for (const url of urls) {
    if (GLOB.test(url) && !globoff) return `${url}: {} or [] in a URL without -g (--globoff)`
  }
  for (let i = 1; i < words.length; i++) {
    if (!/^(-d|--data(-urlencode|-raw)?)$/.test(words[i]!)) continue
    if (!get) return `${words[i]} ${words[i + 1]} without -G sends a POST body, not a query`
  }
  return undefined
}

/** The recipes of the README's "Nightly on a long-lived cluster", in order, each the name of its e2e file (`recipe-<name>.test.ts`). */
export const LONG_LIVED_RECIPES = ['kube-prometheus-stack', 'existing-release', 'milvus-operator'] as const

/** The `with:` inputs of a recipe of "Nightly on a long-lived cluster" (its yaml block, one step), as strings. */
export function recipeInputs(name: (typeof LONG_LIVED_RECIPES)[number], text = readme()): Record<string, string> {
  const start = text.indexOf('\n### Nightly on a long-lived cluster\n')
  if (start < 0) throw new Error('no section "### Nightly on a long-lived cluster"')
  const body = text.slice(start + 1)
  const section = body.slice(0, body.indexOf('\n### ', 1))
  const blocks = codeBlocks(section).filter((b) => b.lang === 'yaml')
  const block = blocks[LONG_LIVED_RECIPES.indexOf(name)]
  if (!block || blocks.length !== LONG_LIVED_RECIPES.length)
    throw new Error(`"Nightly on a long-lived cluster" has ${blocks.length} yaml blocks, expected ${LONG_LIVED_RECIPES.length}`)
  const steps = parse(block.code) as Array<{ uses?: string; with?: Record<string, unknown> }>
  return Object.fromEntries(Object.entries(steps[0]?.with ?? {}).map(([k, v]) => [k, String(v)]))
}
