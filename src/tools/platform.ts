// Runner platform detection and the upstream download URL layouts (dl.k8s.io, get.helm.sh).

export type Os = 'linux' | 'darwin'
export type Arch = 'amd64' | 'arm64'

/** Where kubectl and helm are published; a `*-base-url` elsewhere is a mirror. */
export const KUBECTL_UPSTREAM = 'https://dl.k8s.io'
export const HELM_UPSTREAM = 'https://get.helm.sh'

/** Maps Node's process.platform to the OS names used in release URLs. */
export function getPlatform(platform: string = process.platform): Os {
  if (platform === 'linux' || platform === 'darwin') return platform
  const name = platform === 'win32' ? 'Windows' : platform
  throw new Error(
    `Unsupported runner OS '${name}': this action runs on Linux and macOS runners only ` +
      `(it needs a Kubernetes cluster reachable from the runner).`,
  )
}

/** Maps Node's process.arch to the architecture names used in release URLs. */
export function getArch(arch: string = process.arch): Arch {
  if (arch === 'x64') return 'amd64'
  if (arch === 'arm64') return 'arm64'
  throw new Error(`Unsupported runner architecture '${arch}': this action supports x64 (amd64) and arm64 only.`)
}

/** `${base}/release/vX.Y.Z/bin/<os>/<arch>/kubectl`, as on dl.k8s.io. */
export function kubectlUrl(base: string, version: string, os: Os, arch: Arch): string {
  return `${trim(base)}/release/${version}/bin/${os}/${arch}/kubectl`
}

/** The checksum next to the binary: a bare hex digest. */
export function kubectlChecksumUrl(base: string, version: string, os: Os, arch: Arch): string {
  return `${kubectlUrl(base, version, os, arch)}.sha256`
}

/** `stable.txt` for the newest release, `stable-X.Y.txt` for the newest patch of a minor. */
export function kubectlStableUrl(base: string, minor?: { major: number; minor: number }): string {
  const file = minor ? `stable-${minor.major}.${minor.minor}.txt` : 'stable.txt'
  return `${trim(base)}/release/${file}`
}

export function helmArchiveName(version: string, os: Os, arch: Arch): string {
  return `helm-${version}-${os}-${arch}.tar.gz`
}

/** `${base}/helm-vX.Y.Z-<os>-<arch>.tar.gz`, as on get.helm.sh. */
export function helmArchiveUrl(base: string, version: string, os: Os, arch: Arch): string {
  return `${trim(base)}/${helmArchiveName(version, os, arch)}`
}

/** The checksum next to the archive: `<hex>  <archive name>`. */
export function helmChecksumUrl(base: string, version: string, os: Os, arch: Arch): string {
  return `${helmArchiveUrl(base, version, os, arch)}.sha256sum`
}

/**
 * get.helm.sh publishes one-line pointers: `helm-latest-version` (newest release of any
 * major) and `helm3-latest-version` / `helm4-latest-version` (newest of one major).
 */
export function helmLatestUrl(base: string, major?: number): string {
  return `${trim(base)}/${major === undefined ? 'helm' : `helm${major}`}-latest-version`
}

// Inputs promise no trailing slash; tolerate one anyway so a URL never gets '//'.
function trim(base: string): string {
  return base.replace(/\/+$/, '')
}
