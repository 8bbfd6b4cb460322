// src/tools/: getting kubectl and helm onto the runner. platform.ts knows the upstream URL
// layouts, versions.ts turns `helm-version`/`kubectl-version` into an exact release, download.ts
// fetches (within the run's budget, retrying transient failures), checksum.ts and pinned.ts
// verify, cache.ts writes tool-cache entries that concurrent jobs can share; this file puts it
// together. Nothing here talks to the cluster.
//
// Installs kubectl and helm into the runner's tool cache. Safe to run both installs concurrently,
// and two jobs installing the same tool at once on one runner host: all state lives in per-call
// locals and private folders, and an entry enters the cache by an atomic rename.
import * as core from '@actions/core'
import * as tc from '@actions/tool-cache'
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { evictEntry, placeEntry, stageEntry, writeFileAtomic } from './cache.ts'
import { fingerprint, parseChecksum, sameFingerprint, sha256File, type Fingerprint } from './checksum.ts'
import { defaultFetch, downloadFile, fetchText, HttpStatusError, type HttpFetch, type RequestOptions, type Transfers } from './download.ts'
import { pinnedDigest, type PinnedDigest } from './pinned.ts'
import {
  getArch,
  getPlatform,
  HELM_UPSTREAM,
  helmArchiveName,
  helmArchiveUrl,
  helmChecksumUrl,
  KUBECTL_UPSTREAM,
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
  /** The run's budget: every request and retry ends with it. */
  signal?: AbortSignal
  transfers?: Transfers
  /** The `kubectl-sha256` / `helm-sha256` input: the SHA-256 of the file downloaded. */
  sha256?: string
  /** allow-insecure-downloads: an https URL may redirect to http. */
  allowInsecure?: boolean
  /** Where the official checksum files are read when the base URL is a mirror (tests point it elsewhere). */
  upstream?: string
  /** The pinned digests (tests replace them). */
  pinned?: typeof pinnedDigest
  /** Per-attempt stall limit and first backoff of every request (tests shorten them). */
  stallMs?: number
  backoffMs?: number
}

/**
 * Cache entry layout, next to the binary `<tool>`:
 * - `<tool>.sha256`: digest of the binary as verified at install time (for kubectl the
 *   download; for helm the binary extracted from the verified archive). The entry enters the
 *   cache whole, by a rename (cache.ts), so every entry has it.
 * - `<tool>.fingerprint.json`: size, mtime, ctime and inode of the binary when it was last
 *   hashed. An optimisation only: hashing both ~60 MB binaries takes 150-400 ms here, more
 *   than the whole warm-install budget, while a stat takes microseconds. A binary whose
 *   fingerprint differs (edited, restored from a cache archive, copied) is hashed in full.
 *
 * A cached binary that fails its check is evicted and downloaded again (with a warning)
 * rather than refused: the likely causes are disk corruption or a half-written restore, and
 * the fresh copy is verified anyway. This guards against accidents, not against someone who can
 * write to the tool cache (they can rewrite the digest too).
 */
const DIGEST_SUFFIX = '.sha256'
const FINGERPRINT_SUFFIX = '.fingerprint.json'

interface ToolSpec {
  name: 'kubectl' | 'helm'
  upstream: string
  resolve(spec: VersionSpec, baseUrl: string, os: Os, arch: Arch, http: HttpFetch, req: RequestOptions): Promise<string>
  downloadUrl(baseUrl: string, version: string, os: Os, arch: Arch): string
  checksumUrl(baseUrl: string, version: string, os: Os, arch: Arch): string
  checksumName(version: string, os: Os, arch: Arch): string | undefined
  /** Finds the binary in the verified download; `scratch` is removed afterwards. */
  unpack(download: string, os: Os, arch: Arch, url: string): Promise<{ binary: string; scratch?: string }>
}

const KUBECTL: ToolSpec = {
  name: 'kubectl',
  upstream: KUBECTL_UPSTREAM,
  resolve: (spec, baseUrl, _os, _arch, http, req) => resolveKubectlVersion(spec, baseUrl, http, req),
  downloadUrl: kubectlUrl,
  checksumUrl: kubectlChecksumUrl,
  checksumName: () => undefined,
  unpack: async (download) => ({ binary: download }),
}

const HELM: ToolSpec = {
  name: 'helm',
  upstream: HELM_UPSTREAM,
  resolve: (spec, baseUrl, os, arch, http, req) => resolveHelmVersion(spec, baseUrl, { os, arch, http, request: req }),
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

/** One install's settings, resolved from InstallOptions. */
interface Context {
  os: Os
  arch: Arch
  http: HttpFetch
  req: RequestOptions
  opts: InstallOptions
}

async function install(tool: ToolSpec, spec: VersionSpec, baseUrl: string, opts: InstallOptions): Promise<InstalledTool> {
  const ctx: Context = {
    os: opts.os ?? getPlatform(),
    arch: opts.arch ?? getArch(),
    http: opts.http ?? defaultFetch,
    req: {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.transfers ? { transfers: opts.transfers } : {}),
      ...(opts.stallMs ? { stallMs: opts.stallMs } : {}),
      ...(opts.backoffMs ? { backoffMs: opts.backoffMs } : {}),
      allowInsecure: opts.allowInsecure === true,
    },
    opts,
  }
  const { os, arch } = ctx
  // Exact versions need no request; 'latest' and lines ask the mirror every time.
  const version = await tool.resolve(spec, baseUrl, os, arch, ctx.http, ctx.req)
  if (spec.kind !== 'exact') core.info(`${tool.name}: '${describe(spec)}' resolved to ${version}`)
  const pin = (opts.pinned ?? pinnedDigest)(tool.name, version, os, arch)

  const cached = tc.find(tool.name, version, arch)
  if (cached) {
    const binary = join(cached, tool.name)
    // A cached kubectl must also be the one the input or the pin names (helm's input is the
    // archive's digest, which the cache does not keep).
    const named =
      tool.name === 'kubectl' && opts.sha256
        ? { sha256: opts.sha256, what: `the ${tool.name}-sha256 input` }
        : pin
          ? { sha256: pin.sha256, what: 'the pinned digest' }
          : undefined
    const problem = await checkCached(binary, named)
    if (!problem) {
      core.info(`${tool.name} ${version}: using the verified cached copy ${binary}`)
      return { path: binary, version }
    }
    core.warning(`${tool.name} ${version}: the cached copy ${binary} ${problem}; evicting it and downloading again`)
    // Evict first, so a failed download cannot leave the bad copy to be found next time.
    await evictEntry(cached)
  }
  return { path: await downloadAndCache(tool, version, baseUrl, pin, ctx), version }
}

/** Returns why the cached binary cannot be trusted, or undefined when it can. */
async function checkCached(binary: string, named?: { sha256: string; what: string }): Promise<string | undefined> {
  let expected: string
  try {
    expected = (await readFile(binary + DIGEST_SUFFIX, 'utf8')).trim()
  } catch {
    return `has no recorded digest (${binary}${DIGEST_SUFFIX})`
  }
  if (named && named.sha256 !== expected) return `has SHA-256 ${expected}, not ${named.sha256} as ${named.what} says`
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
  await writeFileAtomic(binary + FINGERPRINT_SUFFIX, JSON.stringify(now))
  return undefined
}

async function readFingerprint(binary: string): Promise<Fingerprint | undefined> {
  try {
    return JSON.parse(await readFile(binary + FINGERPRINT_SUFFIX, 'utf8')) as Fingerprint
  } catch {
    return undefined
  }
}

/** A digest a file must have, and what says so (for the log and the mismatch message). */
interface Reference {
  sha256: string
  source: string
}

/**
 * What the download is verified against, strongest first: the `*-sha256` input; the digest
 * pinned in the action for this version and platform; the official checksum file from upstream
 * (dl.k8s.io, get.helm.sh) even when the base URL is a mirror; when upstream cannot be read, the
 * mirror's checksum file, with a warning that it comes from the server that served the binary.
 * Where only the binary inside an archive is pinned (helm), the archive is checked against the
 * checksum file beside it and the binary against the pin.
 */
async function downloadReference(
  tool: ToolSpec,
  version: string,
  baseUrl: string,
  pin: PinnedDigest | undefined,
  ctx: Context,
): Promise<Reference> {
  const { os, arch, opts } = ctx
  if (opts.sha256) return { sha256: opts.sha256, source: `the ${tool.name}-sha256 input` }
  if (pin?.subject === 'download')
    return { sha256: pin.sha256, source: `the digest the action pins for ${tool.name} ${version} ${os}/${arch}` }
  const upstream = opts.upstream ?? tool.upstream
  const name = tool.checksumName(version, os, arch)
  const mirrorSum = tool.checksumUrl(baseUrl, version, os, arch)
  // The binary inside is pinned: the archive is checked against the file beside it only so that
  // a damaged one is refused before it is unpacked; the pin is what verifies.
  if (pin) return { sha256: parseChecksum(await readChecksum(tool, version, mirrorSum, ctx), mirrorSum, name), source: mirrorSum }
  if (sameBase(baseUrl, upstream))
    return { sha256: parseChecksum(await readChecksum(tool, version, mirrorSum, ctx), mirrorSum, name), source: mirrorSum }

  const upstreamSum = tool.checksumUrl(upstream, version, os, arch)
  // Upstream is asked briefly: an air-gapped runner must not spend its budget on it.
  const brief = AbortSignal.any([AbortSignal.timeout(UPSTREAM_CHECK_MS), ...(ctx.req.signal ? [ctx.req.signal] : [])])
  try {
    const text = await fetchText(ctx.http, upstreamSum, { ...ctx.req, signal: brief })
    return { sha256: parseChecksum(text, upstreamSum, name), source: upstreamSum }
  } catch (err) {
    ctx.req.signal?.throwIfAborted()
    const why = brief.aborted ? `no answer within ${UPSTREAM_CHECK_MS / 1000} s` : (err as Error).message
    const sha256 = parseChecksum(await readChecksum(tool, version, mirrorSum, ctx), mirrorSum, name)
    core.warning(
      `${tool.name} ${version}: the official checksum ${upstreamSum} could not be read (${why}); verifying against ${mirrorSum}, ` +
        `which the mirror serves beside the binary and so cannot tell a mirror that serves something else. ` +
        `Set ${tool.name}-sha256 to verify ${tool.name} independently of the mirror.`,
    )
    return { sha256, source: mirrorSum }
  }
}

const UPSTREAM_CHECK_MS = 20_000

function sameBase(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '')
}

async function readChecksum(tool: ToolSpec, version: string, url: string, ctx: Context): Promise<string> {
  try {
    return await fetchText(ctx.http, url, ctx.req)
  } catch (err) {
    throw notFound(tool, version, url, err, ctx) ?? err
  }
}

/** The message of a version this mirror does not have (a 404), or undefined for other failures. */
function notFound(tool: ToolSpec, version: string, url: string, err: unknown, ctx: Context): Error | undefined {
  if (!(err instanceof HttpStatusError) || err.status !== 404) return undefined
  return new Error(
    `${tool.name} ${version} for ${ctx.os}/${ctx.arch} was not found: ${url} answered HTTP 404. ` +
      `Check that this version exists, or ask for a line or 'latest' instead.`,
    { cause: err },
  )
}

function mismatch(url: string, actual: string, ref: Reference, baseUrl: string): Error {
  return new Error(
    `Checksum mismatch for ${url}: its SHA-256 is ${actual} but ${ref.source} says ${ref.sha256}. ` +
      `The download was corrupted or altered on the way; nothing was installed. Retry the job, ` +
      `and if it persists check the mirror or proxy serving ${baseUrl}.`,
  )
}

async function downloadAndCache(
  tool: ToolSpec,
  version: string,
  baseUrl: string,
  pin: PinnedDigest | undefined,
  ctx: Context,
): Promise<string> {
  const { os, arch } = ctx
  const url = tool.downloadUrl(baseUrl, version, os, arch)
  // The reference first: a checksum file is small, so a missing version fails fast with a clear message.
  const ref = await downloadReference(tool, version, baseUrl, pin, ctx)

  const temps: string[] = []
  try {
    const scratch = await mkdtemp(join(await tempDir(), `${tool.name}-`))
    temps.push(scratch)
    const download = join(scratch, url.split('/').pop() ?? tool.name)
    core.info(`${tool.name} ${version}: downloading ${url}`)
    try {
      await downloadFile(ctx.http, url, download, ctx.req)
    } catch (err) {
      ctx.req.signal?.throwIfAborted()
      throw (
        notFound(tool, version, url, err, ctx) ??
        new Error(`Could not download ${tool.name} ${version} from ${url}: ${(err as Error).message}`, { cause: err })
      )
    }
    const actual = await sha256File(download)
    if (actual !== ref.sha256) throw mismatch(url, actual, ref, baseUrl)
    core.info(`${tool.name} ${version}: SHA-256 ${actual} of ${url} matches ${ref.source}`)

    const { binary: unpacked, scratch: unpackedIn } = await tool.unpack(download, os, arch, url)
    if (unpackedIn) temps.push(unpackedIn)
    const binaryDigest = unpacked === download ? actual : await sha256File(unpacked)
    if (pin?.subject === 'binary') {
      const pinRef = { sha256: pin.sha256, source: `the digest the action pins for the ${tool.name} ${version} ${os}/${arch} binary` }
      if (binaryDigest !== pin.sha256) throw mismatch(`${url} (${os}-${arch}/${tool.name} inside)`, binaryDigest, pinRef, baseUrl)
      core.info(`${tool.name} ${version}: SHA-256 ${binaryDigest} of the binary in ${url} matches ${pinRef.source}`)
    }

    // Only the binary and its digest go into the cache, not LICENSE/README from the archive. The
    // entry is built in a private folder of the tool cache and renamed into place whole.
    const stage = await stageEntry(tool.name, version, arch)
    temps.push(stage)
    const staged = join(stage, tool.name)
    await copyFile(unpacked, staged)
    await chmod(staged, 0o755)
    await writeFile(staged + DIGEST_SUFFIX, binaryDigest + '\n')
    await writeFile(staged + FINGERPRINT_SUFFIX, JSON.stringify(await fingerprint(staged)))
    const entry = await placeEntry(stage, tool.name, version, arch, async (existing) => {
      const problem = await checkCached(join(existing, tool.name), { sha256: binaryDigest, what: 'this download' })
      if (problem) core.warning(`${tool.name} ${version}: the tool cache entry ${existing} ${problem}; replacing it`)
      else core.info(`${tool.name} ${version}: another job cached the same binary at ${existing} a moment ago; using it`)
      return problem === undefined
    })
    const binary = join(entry, tool.name)
    core.info(`${tool.name} ${version}: verified and cached at ${binary}`)
    return binary
  } finally {
    await Promise.all(temps.map((p) => rm(p, { recursive: true, force: true })))
  }
}

async function tempDir(): Promise<string> {
  const dir = process.env['RUNNER_TEMP']
  if (!dir) throw new Error('RUNNER_TEMP is not set; it is set on every GitHub Actions runner')
  await mkdir(dir, { recursive: true })
  return dir
}

function describe(spec: VersionSpec): string {
  if (spec.kind === 'line') return spec.minor === undefined ? `${spec.major}` : `${spec.major}.${spec.minor}`
  return spec.kind === 'exact' ? spec.version : 'latest'
}

/**
 * Both tools at once, put first on PATH for later steps. `signal` is the run's budget; `transfers`
 * lists the downloads under way, for the message of a budget that runs out during them.
 */
export async function installTools(
  inputs: Inputs,
  signal?: AbortSignal,
  transfers?: Transfers,
): Promise<{ kubectl: InstalledTool; helm: InstalledTool }> {
  const common: InstallOptions = {
    ...(signal ? { signal } : {}),
    ...(transfers ? { transfers } : {}),
    allowInsecure: inputs.allowInsecureDownloads,
  }
  const [kubectl, helm] = await Promise.all([
    installKubectl(inputs.kubectlVersion, inputs.kubectlBaseUrl, {
      ...common,
      ...(inputs.kubectlSha256 ? { sha256: inputs.kubectlSha256 } : {}),
    }),
    installHelm(inputs.helmVersion, inputs.helmBaseUrl, { ...common, ...(inputs.helmSha256 ? { sha256: inputs.helmSha256 } : {}) }),
  ])
  core.addPath(join(kubectl.path, '..'))
  core.addPath(join(helm.path, '..'))
  core.info(`kubectl ${kubectl.version} at ${kubectl.path}; helm ${helm.version} at ${helm.path}`)
  return { kubectl, helm }
}
