// Version inputs: parsing what the user wrote, and resolving it to an exact 'vX.Y.Z'.
import type { VersionSpec } from './types.ts'

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
