// Runs the bundled action as the GitHub runner does: INPUT_* variables, and the files behind
// GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY, with RUNNER_TOOL_CACHE and RUNNER_TEMP.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '..')

export interface StepResult {
  code: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
  ms: number
}

/** Parses the `name<<delimiter` / `name=value` format of GITHUB_OUTPUT and GITHUB_STATE. */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const value: string[] = []
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i]!)
      out[heredoc[1]!] = value.join('\n')
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
    }
  }
  return out
}

export interface Runner {
  toolCache: string
  /** Runs dist/main, then (unless skipPost) dist/post with the state main saved. */
  main(inputs: Record<string, string>, opts?: { env?: Record<string, string>; onStdout?: (chunk: string) => void }): Promise<StepResult>
  post(state: Record<string, string>, opts?: { env?: Record<string, string> }): Promise<StepResult>
}

/**
 * A runner whose steps share one tool cache, like the jobs of one machine. `wrap` prefixes the
 * command (e.g. `ip netns exec NAME`), `env` is added to every step's environment, `dist` is the
 * bundle to run (default: the repository's dist/; a benchmark runs another build beside it).
 */
export function makeRunner(o: { wrap?: string[]; env?: Record<string, string>; node?: string; dist?: string } = {}): Runner {
  const base = mkdtempSync(join(tmpdir(), 'action-runner-'))
  const toolCache = join(base, 'tool-cache')
  mkdirSync(toolCache)
  const node = o.node ?? process.execPath
  let n = 0

  async function step(
    entry: 'main' | 'post',
    inputs: Record<string, string>,
    extraEnv: Record<string, string>,
    onStdout?: (c: string) => void,
  ): Promise<StepResult> {
    const dir = join(base, `step-${++n}-${entry}`)
    mkdirSync(join(dir, 'temp'), { recursive: true })
    const files = { GITHUB_OUTPUT: 'output', GITHUB_STATE: 'state', GITHUB_STEP_SUMMARY: 'summary', GITHUB_ENV: 'env', GITHUB_PATH: 'path' }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      RUNNER_TOOL_CACHE: toolCache,
      RUNNER_TEMP: join(dir, 'temp'),
      GITHUB_ACTIONS: 'true',
      ...o.env,
      ...extraEnv,
    }
    for (const [k, f] of Object.entries(files)) {
      writeFileSync(join(dir, f), '')
      env[k] = join(dir, f)
    }
    for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v
    const cmd = [...(o.wrap ?? []), node, join(o.dist ?? join(ROOT, 'dist'), entry, 'index.js')]
    const started = performance.now()
    const child = spawn(cmd[0]!, cmd.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
      onStdout?.(c.toString())
    })
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)))
    return {
      code,
      stdout,
      stderr,
      ms: performance.now() - started,
      outputs: parseCommandFile(readFileSync(env.GITHUB_OUTPUT!, 'utf8')),
      state: parseCommandFile(readFileSync(env.GITHUB_STATE!, 'utf8')),
      summary: readFileSync(env.GITHUB_STEP_SUMMARY!, 'utf8'),
    }
  }

  return {
    toolCache,
    main: (inputs, opts = {}) => step('main', inputs, opts.env ?? {}, opts.onStdout),
    // The runner hands a post step its main step's state as STATE_<name>.
    post: (state, opts = {}) =>
      step('post', {}, { ...Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v])), ...opts.env }),
  }
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as { port: number }
  await new Promise((ok) => server.close(ok))
  return port
}
