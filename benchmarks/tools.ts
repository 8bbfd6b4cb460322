// Cold and warm install of kubectl + helm in parallel (as the action does) from the loopback
// mirror. Run: npx node benchmarks/tools.ts [runs]   (not a test: prints medians in ms)
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { officialBinaries } from '../local-cluster/official-binaries.ts'
import { startMirror } from '../local-cluster/mirror.ts'
import { sha256File } from '../src/tools/checksum.ts'
import { installHelm, installKubectl } from '../src/tools/install.ts'

const RUNS = Number(process.argv[2] ?? 5)
const PLATFORM = { os: 'linux', arch: 'amd64' } as const

// Keep the ::debug:: chatter of @actions/core out of the report.
const write = process.stdout.write.bind(process.stdout)
const quiet = <T>(fn: () => Promise<T>): Promise<T> => {
  process.stdout.write = () => true
  return fn().finally(() => (process.stdout.write = write))
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now()
  await quiet(fn)
  return performance.now() - t
}

const binaries = await officialBinaries()
const mirror = await startMirror({ binaries })
const scratch = await mkdtemp(join(tmpdir(), 'tools-bench-'))
const installBoth = () =>
  Promise.all([
    installKubectl({ kind: 'exact', version: 'v1.35.2' }, mirror.kubectlBaseUrl, PLATFORM),
    installHelm({ kind: 'exact', version: 'v4.1.4' }, mirror.helmBaseUrl, PLATFORM),
  ])

try {
  const cold: number[] = []
  const warm: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const runner = await mkdtemp(join(scratch, 'runner-'))
    process.env['RUNNER_TOOL_CACHE'] = join(runner, 'tool-cache')
    process.env['RUNNER_TEMP'] = join(runner, 'temp')
    cold.push(await time(installBoth))
    const before = mirror.requests.length
    warm.push(await time(installBoth))
    if (mirror.requests.length !== before) throw new Error('the warm install made requests')
    await rm(runner, { recursive: true, force: true })
  }

  // What the fingerprint saves: a full hash of both cached binaries, as a warm check would need.
  const bins = binaries.filter((b) => b.version === 'v1.35.2' || b.version === 'v4.1.4').map((b) => b.path)
  const hashBoth: number[] = []
  for (let i = 0; i < RUNS; i++) hashBoth.push(await time(() => Promise.all(bins.map(sha256File))))

  const fmt = (xs: number[]) => `median ${median(xs).toFixed(1)} ms  (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`
  console.log(`kubectl v1.35.2 + helm v4.1.4 in parallel, N=${RUNS}`)
  console.log(`  cold tool cache:                 ${fmt(cold)}`)
  console.log(`  warm tool cache:                 ${fmt(warm)}`)
  console.log(`  sha256 of both binaries (~120 MB): ${fmt(hashBoth)}`)
} finally {
  await mirror.close()
  await rm(scratch, { recursive: true, force: true })
}
