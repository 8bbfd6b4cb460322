// SHA-256 of files, parsing of upstream checksum files, and cheap file fingerprints.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'

const HEX64 = /^[0-9a-f]{64}$/

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Reads a checksum file: either a bare digest (dl.k8s.io `.sha256`) or sha256sum output
 * `<hex>  <name>` (get.helm.sh `.sha256sum`). When the file names a file, it must be
 * `expectedName`, so a mirror serving the wrong file's checksum is caught.
 */
export function parseChecksum(text: string, url: string, expectedName?: string): string {
  const line = text.trim().split('\n')[0]?.trim() ?? ''
  const [digest = '', name] = line.split(/\s+/, 2)
  const hex = digest.toLowerCase()
  if (!HEX64.test(hex)) {
    throw new Error(`Malformed checksum file ${url}: expected a SHA-256 hex digest, got ${JSON.stringify(line.slice(0, 100))}`)
  }
  const named = name?.replace(/^\*/, '') // sha256sum marks binary mode with '*'
  if (named !== undefined && expectedName !== undefined && named !== expectedName) {
    throw new Error(`Checksum file ${url} is for ${JSON.stringify(named)}, not ${JSON.stringify(expectedName)}`)
  }
  return hex
}

/**
 * What identifies one write of a file without reading it. ctime and inode change on any
 * content write or utimes() call, so restoring the mtime after an edit does not hide it.
 */
export interface Fingerprint {
  size: number
  mtimeMs: number
  ctimeMs: number
  ino: number
}

export async function fingerprint(path: string): Promise<Fingerprint> {
  const s = await stat(path)
  return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino }
}

export function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino
}
