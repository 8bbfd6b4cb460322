import { describe, expect, it } from 'vitest'
import { pinnedDigest, pinnedEntries } from '../../src/tools/pinned.ts'
import { DEFAULT_HELM_VERSION, DEFAULT_KUBECTL_VERSION } from '../../src/tools/versions.ts'

describe('the pinned digests', () => {
  it('cover the default versions on linux/amd64, where they were checked against the official binaries', () => {
    expect(pinnedDigest('kubectl', DEFAULT_KUBECTL_VERSION, 'linux', 'amd64')?.subject).toBe('download')
    expect(pinnedDigest('helm', DEFAULT_HELM_VERSION, 'linux', 'amd64')?.subject).toBe('binary')
  })

  it('pin only the default versions, as lowercase SHA-256 digests', () => {
    for (const e of pinnedEntries()) {
      expect(e.sha256).toMatch(/^[0-9a-f]{64}$/)
      expect(e.version).toBe(e.tool === 'kubectl' ? DEFAULT_KUBECTL_VERSION : DEFAULT_HELM_VERSION)
      expect(e.platform).toMatch(/^(linux|darwin)\/(amd64|arm64)$/)
    }
  })

  it('answer nothing for a version or platform without an entry', () => {
    expect(pinnedDigest('kubectl', 'v1.32.3', 'linux', 'amd64')).toBeUndefined()
    expect(pinnedDigest('helm', DEFAULT_HELM_VERSION, 'darwin', 'arm64')).toBeUndefined()
  })
})
