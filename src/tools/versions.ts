// Version inputs: parsing what the user wrote, and resolving it to an exact 'vX.Y.Z'.
import { defaultFetch, exists, fetchText, HttpStatusError, type HttpFetch, type RequestOptions } from './download.ts'
import { helmChecksumUrl, helmLatestUrl, kubectlStableUrl, type Arch, type Os } from './platform.ts'
import type { VersionSpec } from '../types.ts'

export const DEFAULT_KUBECTL_VERSION = 'v1.35.2'
export const DEFAULT_HELM_VERSION = 'v4.1.4'

/** Helm majors this action knows how to download and drive. */
export const SUPPORTED_HELM_MAJORS: readonly number[] = [3, 4]

// No leading zeros, so '1.035' is rejected rather than silently read as 1.35.
const NUM = '(0|[1-9]\\d*)'
// SemVer pre-release identifiers, as upstream tags them ('-rc.1', '-alpha.0').
const PRE = '(-[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?'
const EXACT = new RegExp(`^v?${NUM}\\.${NUM}\\.${NUM}${PRE}$`)
const MAJOR_MINOR = new RegExp(`^v?${NUM}\\.${NUM}$`)
const MAJOR = new RegExp(`^v?${NUM}$`)

/**
 * kubectl-version: 'vX.Y.Z' or 'X.Y.Z' (exact, pre-releases like 'v1.35.0-rc.1' included),
 * 'X.Y' (newest stable patch of that minor), or 'latest' (newest stable release).
 */
export function parseKubectlVersion(raw: string): VersionSpec {
  const s = raw.trim()
  if (s.toLowerCase() === 'latest') return { kind: 'latest' }
  const exact = EXACT.exec(s)
  if (exact) return { kind: 'exact', version: `v${s.replace(/^v/, '')}` }
  const line = MAJOR_MINOR.exec(s)
  if (line) return { kind: 'line', major: Number(line[1]), minor: Number(line[2]) }
  throw new Error(
    `Invalid kubectl version ${JSON.stringify(raw)}: expected an exact version such as ` +
      `'v1.35.2' (or '1.35.2'), a minor line such as '1.35' (its newest stable patch), or 'latest'.`,
  )
}

/**
 * helm-version: 'vX.Y.Z' or 'X.Y.Z' (exact), 'X' or 'X.Y' (newest stable release of that
 * line), or 'latest'. Only Helm 3 and 4 are accepted.
 */
export function parseHelmVersion(raw: string): VersionSpec {
  const s = raw.trim()
  if (s.toLowerCase() === 'latest') return { kind: 'latest' }
  const exact = EXACT.exec(s)
  const line = MAJOR_MINOR.exec(s) ?? MAJOR.exec(s)
  const match = exact ?? line
  if (!match) {
    throw new Error(
      `Invalid helm version ${JSON.stringify(raw)}: expected an exact version such as ` +
        `'v4.1.4' (or '4.1.4'), a major or minor line such as '4' or '3.17' (its newest ` +
        `stable release), or 'latest'.`,
    )
  }
  const major = Number(match[1])
  if (!SUPPORTED_HELM_MAJORS.includes(major)) {
    const why = major < 3 ? 'Helm 2 and older are end-of-life' : 'that major is not supported yet'
    throw new Error(
      `Unsupported helm version ${JSON.stringify(raw)}: ${why}; ` +
        `this action supports Helm 3 and Helm 4 (e.g. '3', '3.17', 'v4.1.4', 'latest').`,
    )
  }
  if (exact) return { kind: 'exact', version: `v${s.replace(/^v/, '')}` }
  return match[2] === undefined ? { kind: 'line', major } : { kind: 'line', major, minor: Number(match[2]) }
}

// ---------------------------------------------------------------------------------------
// Resolution: a VersionSpec to an exact 'vX.Y.Z', reading only the download mirror (never
// the GitHub API, which rate-limits), and never falling back to a default on error.

const STABLE = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/

export interface Semver {
  major: number
  minor: number
  patch: number
}

export function formatVersion(v: Semver): string {
  return `v${v.major}.${v.minor}.${v.patch}`
}

/** Reads a one-line version pointer (stable.txt, helm-latest-version). */
export function parsePointer(text: string, url: string): Semver {
  const s = text.trim()
  const m = STABLE.exec(s)
  if (!m) {
    throw new Error(`${url} answered ${JSON.stringify(s.slice(0, 80))}, which is not a release version such as v1.35.2`)
  }
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) }
}

export async function resolveKubectlVersion(
  spec: VersionSpec,
  baseUrl: string,
  http: HttpFetch = defaultFetch,
  request: RequestOptions = {},
): Promise<string> {
  if (spec.kind === 'exact') return spec.version
  if (spec.kind === 'line' && spec.minor === undefined) {
    throw new Error(`kubectl version line ${spec.major} needs a minor, such as '${spec.major}.35'`)
  }
  const line = spec.kind === 'line' ? { major: spec.major, minor: spec.minor ?? 0 } : undefined
  const url = kubectlStableUrl(baseUrl, line)
  const v = parsePointer(await fetchText(http, url, request), url)
  if (line && (v.major !== line.major || v.minor !== line.minor)) {
    throw new Error(`${url} answered ${formatVersion(v)}, which is not in the requested line ${line.major}.${line.minor}`)
  }
  return formatVersion(v)
}

/** Probe bounds for Helm lines; see highestPresent. */
export const PROBE_WINDOW = 8
export const PROBE_LIMIT = 100

/**
 * The highest n >= from for which `present(n)` holds, probing windows of `window` numbers
 * in parallel and moving on while a window has a hit. Gaps shorter than a window (a pulled
 * patch release) are crossed; a whole window of misses ends the walk. Never probes n >=
 * `limit`: reaching it with hits still coming is an error rather than a guess.
 */
export async function highestPresent(
  present: (n: number) => Promise<boolean>,
  from: number,
  window = PROBE_WINDOW,
  limit = PROBE_LIMIT,
): Promise<number | undefined> {
  let best: number | undefined
  for (let start = from; start < limit; start += window) {
    const ns = Array.from({ length: Math.min(window, limit - start) }, (_, i) => start + i)
    const hits = await Promise.all(ns.map(present))
    const last = hits.lastIndexOf(true)
    if (last < 0) return best
    best = ns[last]
  }
  throw new Error(`Gave up probing after ${limit} consecutive versions; the mirror answers for every one of them`)
}

export interface HelmResolveOptions {
  os: Os
  arch: Arch
  http?: HttpFetch
  /** The run's budget and retry settings for every request. */
  request?: RequestOptions
}

/**
 * Helm versions, from get.helm.sh files only:
 * - 'X' / 'X.Y': the newest release whose `.sha256sum` exists for this os/arch. The walk
 *   starts at the `helmX-latest-version` pointer when the mirror has one (few requests,
 *   and a stale CDN copy of it is corrected by probing upward), else at X.0.0 / X.Y.0.
 *   Minors are found by their `.0` release, then patches of the newest minor. At most
 *   PROBE_LIMIT minors and PROBE_LIMIT patches are probed, PROBE_WINDOW at a time.
 * - 'latest': the line of the newest supported major (Helm 4). Not the generic
 *   `helm-latest-version` pointer: it has lagged releases before, and once a Helm 5 ships
 *   it would name a major this action cannot drive.
 */
export async function resolveHelmVersion(spec: VersionSpec, baseUrl: string, opts: HelmResolveOptions): Promise<string> {
  const http = opts.http ?? defaultFetch
  if (spec.kind === 'exact') return spec.version
  if (spec.kind === 'latest') {
    return resolveHelmVersion({ kind: 'line', major: Math.max(...SUPPORTED_HELM_MAJORS) }, baseUrl, opts)
  }

  const { major, minor } = spec
  const hint = await readLineHint(http, baseUrl, major, opts.request ?? {})
  const probe = (m: number, p: number): Promise<boolean> =>
    exists(http, helmChecksumUrl(baseUrl, formatVersion({ major, minor: m, patch: p }), opts.os, opts.arch), opts.request)

  let m = minor
  if (m === undefined) {
    m = await highestPresent((n) => probe(n, 0), hint?.minor ?? 0)
    // A mirror may hold the pointed-at release without its minor's .0.
    if (hint && (m === undefined || m < hint.minor) && (await probe(hint.minor, hint.patch))) m = hint.minor
  }
  const fromPatch = hint && hint.minor === m ? hint.patch : 0
  const p = m === undefined ? undefined : await highestPresent((n) => probe(m, n), fromPatch)
  if (m === undefined || p === undefined) {
    const line = minor === undefined ? `${major}` : `${major}.${minor}`
    const example = helmChecksumUrl(baseUrl, formatVersion({ major, minor: m ?? minor ?? 0, patch: fromPatch }), opts.os, opts.arch)
    throw new Error(`No Helm ${line} release for ${opts.os}/${opts.arch} found at ${baseUrl} (probed e.g. ${example})`)
  }
  return formatVersion({ major, minor: m, patch: p })
}

/** The `helmX-latest-version` pointer, or undefined where the mirror has none. */
async function readLineHint(http: HttpFetch, baseUrl: string, major: number, request: RequestOptions): Promise<Semver | undefined> {
  const url = helmLatestUrl(baseUrl, major)
  let text: string
  try {
    text = await fetchText(http, url, request)
  } catch (err) {
    if (err instanceof HttpStatusError && (err.status === 404 || err.status === 410)) return undefined
    throw err
  }
  const v = parsePointer(text, url)
  return v.major === major ? v : undefined
}
