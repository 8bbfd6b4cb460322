// SHA-256 of files, parsing of upstream checksum files, and cheap file fingerprints.
import { createHash } from 'node:crypto'
import { open, stat } from 'node:fs/promises'

const HEX64 = /^[0-9a-f]{64}$/

/**
 * The SHA-256 of a file, lowercase hex. Read through one reused 1 MiB buffer: a read stream
 * would leave a fresh buffer per chunk for the garbage collector, some 60 MB of them for kubectl
 * before a collection, and the process' memory would keep that peak. Rejects when the file
 * cannot be read.
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  const buffer = Buffer.allocUnsafe(1 << 20)
  const file = await open(path, 'r')
  try {
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
    }
  } finally {
    await file.close()
  }
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
