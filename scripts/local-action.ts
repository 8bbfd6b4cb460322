// Runs the bundled action against your current kubeconfig (a kind cluster on a laptop, say),
// as the GitHub runner would: inputs from .env (`INPUT_NAMESPACE=milvus` or `namespace=milvus`),
// outputs and the job summary printed, then the post step once you press Enter.
//
//   npm run local-action [-- path/to/.env]
import { existsSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { makeRunner, type StepResult } from '../local-cluster/runner.ts'

export function readInputs(file: string): Record<string, string> {
  const inputs: Record<string, string> = {}
  if (!existsSync(file)) return inputs
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*(?:INPUT_)?([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (!m || line.trimStart().startsWith('#')) continue
    inputs[m[1]!.toLowerCase()] = m[2]!.replace(/^(['"])(.*)\1$/, '$2').replace(/\\n/g, '\n')
  }
  return inputs
}

export function printResult(r: StepResult): void {
  process.stdout.write('\n== outputs\n')
  for (const [k, v] of Object.entries(r.outputs)) process.stdout.write(`${k.padEnd(32)} ${v}\n`)
  process.stdout.write('\n== job summary\n')
  process.stdout.write(
    r.summary
      .replace(/<\/(tr|h\d|p|li)>/g, '\n')
      .replace(/<\/t[dh]>/g, '  ')
      .replace(/<[^>]+>/g, '')
      .replace(/&amp;/g, '&')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/\n{3,}/g, '\n\n'),
  )
}

async function main(): Promise<void> {
  const inputs = readInputs(process.argv[2] ?? '.env')
  const runner = makeRunner({ env: process.env.KUBECONFIG ? { KUBECONFIG: process.env.KUBECONFIG } : {} })
  const r = await runner.main(inputs, { onStdout: (c) => process.stdout.write(c) })
  printResult(r)
  if (r.code === 0 && process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stdout })
    await rl.question('\nThe URLs above stay up until the post step. Press Enter to run it... ')
    rl.close()
  }
  const post = await runner.post(r.state, { env: process.env.KUBECONFIG ? { KUBECONFIG: process.env.KUBECONFIG } : {} })
  process.stdout.write(post.stdout)
  process.exit(r.code || post.code)
}

if (import.meta.main) await main()
