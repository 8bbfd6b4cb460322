// One runner's install of kubectl and helm, for tests that start several at once on one tool
// cache. argv: kubectl-base-url helm-base-url; RUNNER_TOOL_CACHE and RUNNER_TEMP from the
// environment. Prints {kubectl, helm} paths as JSON; exits 1 with the message on failure.
import { installHelm, installKubectl } from '../../src/tools/install.ts'

const [kubectlBase = '', helmBase = ''] = process.argv.slice(2)
const platform = { os: 'linux', arch: 'amd64' } as const
try {
  const [kubectl, helm] = await Promise.all([
    installKubectl({ kind: 'exact', version: 'v1.35.2' }, kubectlBase, { ...platform, upstream: kubectlBase }),
    installHelm({ kind: 'exact', version: 'v4.1.4' }, helmBase, { ...platform, upstream: helmBase }),
  ])
  process.stdout.write(`${JSON.stringify({ kubectl: kubectl.path, helm: helm.path })}\n`)
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
