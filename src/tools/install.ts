// src/tools/: getting kubectl and helm onto the runner. platform.ts knows the upstream URL
// layouts, versions.ts turns `helm-version`/`kubectl-version` into an exact release, download.ts
// reads small texts, checksum.ts verifies; this file puts it together into the tool cache.
// Nothing here talks to the cluster.
//
// Installs kubectl and helm into the runner's tool cache, verified against the official
// checksums. Safe to run both installs concurrently: all state lives in per-call locals and
// in per-tool cache directories.
import * as core from '@actions/core'
import * as tc from '@actions/tool-cache'
import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fingerprint, parseChecksum, sameFingerprint, sha256File, type Fingerprint } from './checksum.ts'
import { defaultFetch, fetchText, HttpStatusError, type HttpFetch } from './download.ts'
import {
  getArch,
  getPlatform,
  helmArchiveName,
  helmArchiveUrl,
  helmChecksumUrl,
  kubectlChecksumUrl,
  kubectlUrl,
  type Arch,
  type Os,
} from './platform.ts'
import type { Inputs, InstalledTool, VersionSpec } from '../types.ts'
import { resolveHelmVersion, resolveKubectlVersion } from './versions.ts'

export interface InstallOptions {
  http?: HttpFetch
  os?: Os
  arch?: Arch
}

/**
 * Cache entry layout, next to the binary `<tool>`:
 * - `<tool>.sha256`: digest of the binary as verified at install time (for kubectl the
 *   official one; for helm the binary extracted from the verified archive). Written before
 *   tool-cache marks the entry complete, so every complete entry has it.
 * - `<tool>.fingerprint.json`: size, mtime, ctime and inode of the binary when it was last
 *   hashed. An optimisation only: hashing both ~60 MB binaries takes 150-400 ms here, more
 *   than the whole warm-install budget, while a stat takes microseconds. A binary whose
 *   fingerprint differs (edited, restored from a cache archive, copied) is hashed in full.
 *
 * A cached binary that fails its check is evicted and downloaded again (with a warning)
 * rather than refused: the likely causes are disk corruption or a half-written restore, and
 * the fresh copy is verified against the official checksum anyway. This guards against
 * accidents, not against someone who can write to the tool cache (they can rewrite the
 * digest too).
 */
const DIGEST_SUFFIX = '.sha256'
const FINGERPRINT_SUFFIX = '.fingerprint.json'

interface ToolSpec {
  name: 'kubectl' | 'helm'
  resolve(spec: VersionSpec, baseUrl: string, os: Os, arch: Arch, http: HttpFetch): Promise<string>
  downloadUrl(baseUrl: string, version: string, os: Os, arch: Arch): string
  checksumUrl(baseUrl: string, version: string, os: Os, arch: Arch): string
  checksumName(version: string, os: Os, arch: Arch): string | undefined
  /** Finds the binary in the verified download; `scratch` is removed afterwards. */
  unpack(download: string, os: Os, arch: Arch, url: string): Promise<{ binary: string; scratch?: string }>
}

const KUBECTL: ToolSpec = {
  name: 'kubectl',
  resolve: (spec, baseUrl, _os, _arch, http) => resolveKubectlVersion(spec, baseUrl, http),
  downloadUrl: kubectlUrl,
  checksumUrl: kubectlChecksumUrl,
  checksumName: () => undefined,
  unpack: async (download) => ({ binary: download }),
}

const HELM: ToolSpec = {
  name: 'helm',
  resolve: (spec, baseUrl, os, arch, http) => resolveHelmVersion(spec, baseUrl, { os, arch, http }),
  downloadUrl: helmArchiveUrl,
  checksumUrl: helmChecksumUrl,
  checksumName: helmArchiveName,
  async unpack(download, os, arch, url) {
    const scratch = await tc.extractTar(download)
    // Official archives hold `<os>-<arch>/helm` plus LICENSE and README.md.
    const binary = join(scratch, `${os}-${arch}`, 'helm')
    if (!existsSync(binary)) {
      await rm(scratch, { recursive: true, force: true })
      throw new Error(`The archive ${url} has no ${os}-${arch}/helm inside`)
    }
    return { binary, scratch }
  },
}

export function installKubectl(spec: VersionSpec, baseUrl: string, opts: InstallOptions = {}): Promise<InstalledTool> {
  return install(KUBECTL, spec, baseUrl, opts)
}

export function installHelm(spec: VersionSpec, baseUrl: string, opts: InstallOptions = {}): Promise<InstalledTool> {
  return install(HELM, spec, baseUrl, opts)
}

async function install(tool: ToolSpec, spec: VersionSpec, baseUrl: string, opts: InstallOptions): Promise<InstalledTool> {
  const os = opts.os ?? getPlatform()
  const arch = opts.arch ?? getArch()
  const http = opts.http ?? defaultFetch
  // Exact versions need no request; 'latest' and lines ask the mirror every time.
  const version = await tool.resolve(spec, baseUrl, os, arch, http)
  if (spec.kind !== 'exact') core.info(`${tool.name}: '${describe(spec)}' resolved to ${version}`)

  const cached = tc.find(tool.name, version, arch)
  if (cached) {
    const binary = join(cached, tool.name)
    const problem = await checkCached(binary)
    if (!problem) {
      core.info(`${tool.name} ${version}: using the verified cached copy ${binary}`)
      return { path: binary, version }
    }
    core.warning(`${tool.name} ${version}: the cached copy ${binary} ${problem}; evicting it and downloading again`)
    // Evict first, so a failed download cannot leave the bad copy to be found next time.
    await rm(`${cached}.complete`, { force: true })
    await rm(cached, { recursive: true, force: true })
  }
  return { path: await downloadAndCache(tool, version, baseUrl, os, arch, http), version }
}

/** Returns why the cached binary cannot be trusted, or undefined when it can. */
async function checkCached(binary: string): Promise<string | undefined> {
  let expected: string
  try {
    expected = (await readFile(binary + DIGEST_SUFFIX, 'utf8')).trim()
  } catch {
    return `has no recorded digest (${binary}${DIGEST_SUFFIX})`
  }
  let now: Fingerprint
  try {
    now = await fingerprint(binary)
  } catch {
    return 'is missing'
  }
  const recorded = await readFingerprint(binary)
  if (recorded && sameFingerprint(recorded, now)) {
    core.debug(`${binary}: fingerprint unchanged since it was hashed, skipping the full hash`)
    return undefined
  }
  const actual = await sha256File(binary)
  if (actual !== expected) return `has SHA-256 ${actual}, expected ${expected} (modified or corrupted)`
  core.debug(`${binary}: hashed in full, digest matches; recording its fingerprint`)
  await writeFile(binary + FINGERPRINT_SUFFIX, JSON.stringify(now))
  return undefined
}

async function readFingerprint(binary: string): Promise<Fingerprint | undefined> {
  try {
    return JSON.parse(await readFile(binary + FINGERPRINT_SUFFIX, 'utf8')) as Fingerprint
  } catch {
    return undefined
  }
}

async function downloadAndCache(tool: ToolSpec, version: string, baseUrl: string, os: Os, arch: Arch, http: HttpFetch): Promise<string> {
  const url = tool.downloadUrl(baseUrl, version, os, arch)
  const sumUrl = tool.checksumUrl(baseUrl, version, os, arch)
  // The checksum first: it is small, so a missing version fails fast with a clear message.
  let sumText: string
  try {
    sumText = await fetchText(http, sumUrl)
  } catch (err) {
    if (err instanceof HttpStatusError && err.status === 404) {
      throw new Error(
        `${tool.name} ${version} for ${os}/${arch} was not found: ${sumUrl} answered HTTP 404. ` +
          `Check that this version exists, or ask for a line or 'latest' instead.`,
        { cause: err },
      )
    }
    throw err
  }
  const expected = parseChecksum(sumText, sumUrl, tool.checksumName(version, os, arch))

  core.info(`${tool.name} ${version}: downloading ${url}`)
  let download: string
  try {
    download = await tc.downloadTool(url)
  } catch (err) {
    throw new Error(`Could not download ${tool.name} ${version} from ${url}: ${(err as Error).message}`, { cause: err })
  }
  const temps = [download]
  try {
    const actual = await sha256File(download)
    if (actual !== expected) {
      throw new Error(
        `Checksum mismatch for ${url}: its SHA-256 is ${actual} but ${sumUrl} says ${expected}. ` +
          `The download was corrupted or altered on the way; nothing was installed. Retry the job, ` +
          `and if it persists check the mirror or proxy serving ${baseUrl}.`,
      )
    }
    core.debug(`${url}: SHA-256 ${actual} matches ${sumUrl}`)

    const { binary: unpacked, scratch } = await tool.unpack(download, os, arch, url)
    if (scratch) temps.push(scratch)
    // Only the binary and its digest go into the cache, not LICENSE/README from the archive.
    const stage = await mkdtemp(join(tempDir(), `${tool.name}-`))
    temps.push(stage)
    const staged = join(stage, tool.name)
    await rename(unpacked, staged) // same filesystem (RUNNER_TEMP): no copy
    await chmod(staged, 0o755)
    const binaryDigest = unpacked === download ? actual : await sha256File(staged)
    await writeFile(staged + DIGEST_SUFFIX, binaryDigest + '\n')
    const cachedDir = await tc.cacheDir(stage, tool.name, version, arch)

    const binary = join(cachedDir, tool.name)
    await chmod(binary, 0o755)
    await writeFile(binary + FINGERPRINT_SUFFIX, JSON.stringify(await fingerprint(binary)))
    core.info(`${tool.name} ${version}: verified and cached at ${binary}`)
    return binary
  } finally {
    await Promise.all(temps.map((p) => rm(p, { recursive: true, force: true })))
  }
}

function tempDir(): string {
  const dir = process.env['RUNNER_TEMP']
  if (!dir) throw new Error('RUNNER_TEMP is not set; it is set on every GitHub Actions runner')
  return dir
}

function describe(spec: VersionSpec): string {
  if (spec.kind === 'line') return spec.minor === undefined ? `${spec.major}` : `${spec.major}.${spec.minor}`
  return spec.kind === 'exact' ? spec.version : 'latest'
}

/** Both tools at once, put first on PATH for later steps. */
export async function installTools(inputs: Inputs): Promise<{ kubectl: InstalledTool; helm: InstalledTool }> {
  const [kubectl, helm] = await Promise.all([installKubectl(inputs.kubectlVersion, inputs.kubectlBaseUrl), installHelm(inputs.helmVersion, inputs.helmBaseUrl)])
  core.addPath(join(kubectl.path, '..'))
  core.addPath(join(helm.path, '..'))
  core.info(`kubectl ${kubectl.version} at ${kubectl.path}; helm ${helm.version} at ${helm.path}`)
  return { kubectl, helm }
}
