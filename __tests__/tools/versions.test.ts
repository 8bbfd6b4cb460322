import { describe, expect, it } from 'vitest'
import {
  DEFAULT_HELM_VERSION,
  DEFAULT_KUBECTL_VERSION,
  highestPresent,
  PROBE_WINDOW,
  parseHelmVersion,
  parseKubectlVersion,
  resolveHelmVersion,
  resolveKubectlVersion,
} from '../../src/tools/versions.ts'
import type { HttpFetch } from '../../src/tools/download.ts'
import type { VersionSpec } from '../../src/types.ts'

describe('parseKubectlVersion', () => {
  it.each<[string, VersionSpec]>([
    ['v1.35.2', { kind: 'exact', version: 'v1.35.2' }],
    ['1.35.2', { kind: 'exact', version: 'v1.35.2' }],
    [' v1.32.3 ', { kind: 'exact', version: 'v1.32.3' }],
    ['v1.35.0-rc.1', { kind: 'exact', version: 'v1.35.0-rc.1' }],
    ['1.36.0-alpha.0', { kind: 'exact', version: 'v1.36.0-alpha.0' }],
    ['1.35', { kind: 'line', major: 1, minor: 35 }],
    ['v1.35', { kind: 'line', major: 1, minor: 35 }],
    ['1.0', { kind: 'line', major: 1, minor: 0 }],
    ['latest', { kind: 'latest' }],
    ['Latest', { kind: 'latest' }],
  ])('%j -> %j', (raw, want) => {
    expect(parseKubectlVersion(raw)).toEqual(want)
  })

  it.each(['', 'stable', '1', 'v1', '1.35.2.1', '1.035.2', 'vv1.35.2', '1.35.x', '1.35.2+build', '1.35.2-'])(
    'rejects %j with a message naming the accepted forms',
    (raw) => {
      expect(() => parseKubectlVersion(raw)).toThrow(/Invalid kubectl version .*'v1\.35\.2'.*'1\.35'.*'latest'/)
    },
  )

  it('accepts its own default', () => {
    expect(parseKubectlVersion(DEFAULT_KUBECTL_VERSION)).toEqual({ kind: 'exact', version: 'v1.35.2' })
  })
})

describe('parseHelmVersion', () => {
  it.each<[string, VersionSpec]>([
    ['v4.1.4', { kind: 'exact', version: 'v4.1.4' }],
    ['3.17.2', { kind: 'exact', version: 'v3.17.2' }],
    ['v4.0.0-rc.1', { kind: 'exact', version: 'v4.0.0-rc.1' }],
    ['3', { kind: 'line', major: 3 }],
    ['v4', { kind: 'line', major: 4 }],
    ['4.1', { kind: 'line', major: 4, minor: 1 }],
    ['v3.17', { kind: 'line', major: 3, minor: 17 }],
    ['latest', { kind: 'latest' }],
  ])('%j -> %j', (raw, want) => {
    expect(parseHelmVersion(raw)).toEqual(want)
  })

  it.each(['', 'helm4', '4.1.4.0', '04', '4.x', 'newest'])('rejects malformed %j', (raw) => {
    expect(() => parseHelmVersion(raw)).toThrow(/Invalid helm version .*'v4\.1\.4'.*'3\.17'.*'latest'/)
  })

  it.each([
    ['2', /Helm 2 and older are end-of-life/],
    ['v2.17.0', /Helm 2 and older are end-of-life/],
    ['1.0', /Helm 2 and older are end-of-life/],
    ['5', /not supported yet/],
    ['v5.0.0', /not supported yet/],
    ['10.1', /not supported yet/],
  ])('rejects unsupported major %j', (raw, why) => {
    expect(() => parseHelmVersion(raw)).toThrow(why)
    expect(() => parseHelmVersion(raw)).toThrow(/supports Helm 3 and Helm 4/)
  })

  it('accepts its own default', () => {
    expect(parseHelmVersion(DEFAULT_HELM_VERSION)).toEqual({ kind: 'exact', version: 'v4.1.4' })
  })
})

// An in-memory mirror: path -> body; anything else is 404. Records every request.
function fakeHttp(base: string, files: Record<string, string>, statusOf: Record<string, number> = {}) {
  const calls: Array<{ method: string; url: string }> = []
  const http: HttpFetch = async (url, init) => {
    calls.push({ method: init?.method ?? 'GET', url })
    const path = url.slice(base.length)
    const status = statusOf[path] ?? (path in files ? 200 : 404)
    return { status, text: async () => files[path] ?? 'not found' }
  }
  return { http, calls }
}

const K = 'http://mirror/kubectl'
const H = 'http://mirror/helm'

describe('resolveKubectlVersion', () => {
  const files = { '/release/stable.txt': 'v1.35.2', '/release/stable-1.32.txt': 'v1.32.3\n', '/release/stable-1.33.txt': 'v1.34.0' }

  it.each<[VersionSpec, string, string | undefined]>([
    [{ kind: 'exact', version: 'v1.30.1' }, 'v1.30.1', undefined],
    [{ kind: 'latest' }, 'v1.35.2', '/release/stable.txt'],
    [{ kind: 'line', major: 1, minor: 32 }, 'v1.32.3', '/release/stable-1.32.txt'],
  ])('%j -> %s', async (spec, want, asked) => {
    const { http, calls } = fakeHttp(K, files)
    expect(await resolveKubectlVersion(spec, K, http)).toBe(want)
    expect(calls.map((c) => c.url)).toEqual(asked ? [K + asked] : [])
  })

  it.each<[VersionSpec, RegExp]>([
    [{ kind: 'line', major: 1, minor: 99 }, /GET http:\/\/mirror\/kubectl\/release\/stable-1\.99\.txt answered HTTP 404/],
    [{ kind: 'line', major: 1, minor: 33 }, /stable-1\.33\.txt answered v1\.34\.0, which is not in the requested line 1\.33/],
    [{ kind: 'line', major: 1 }, /needs a minor/],
  ])('%j fails with a message naming the URL', async (spec, why) => {
    const { http } = fakeHttp(K, files)
    await expect(resolveKubectlVersion(spec, K, http)).rejects.toThrow(why)
  })

  it.each(['<html>oops</html>', '', 'v1.35', '1.35.2'])('a malformed pointer %j is an error naming the URL', async (body) => {
    const { http } = fakeHttp(K, { '/release/stable.txt': body })
    await expect(resolveKubectlVersion({ kind: 'latest' }, K, http)).rejects.toThrow(
      /http:\/\/mirror\/kubectl\/release\/stable\.txt answered .*not a release version/,
    )
  })

  it('an unreachable mirror is an error naming the URL', async () => {
    const http: HttpFetch = async () => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') })
    }
    await expect(resolveKubectlVersion({ kind: 'latest' }, K, http)).rejects.toThrow(
      'Could not reach http://mirror/kubectl/release/stable.txt: connect ECONNREFUSED 127.0.0.1:1',
    )
  })
})

describe('highestPresent', () => {
  it.each<[string, number[], number, number | undefined]>([
    ['none present', [], 0, undefined],
    ['only the start', [0], 0, 0],
    ['a run', [0, 1, 2, 3], 0, 3],
    ['a run across windows', Array.from({ length: 21 }, (_, i) => i), 0, 20],
    ['a gap shorter than a window', [0, 1, 2, 5, 6], 0, 6],
    ['a gap across a window boundary', [0, 7, 9], 0, 9],
    ['a whole window of misses ends the walk', [0, 1, 12], 0, 1],
    ['starting above zero', [15, 16, 17], 15, 17],
    ['ignores numbers below the start', [1, 2, 3], 5, undefined],
  ])('%s', async (_name, present, from, want) => {
    const set = new Set(present)
    expect(await highestPresent(async (n) => set.has(n), from, 4, 100)).toBe(want)
  })

  it('probes a window at a time and never at or past the limit', async () => {
    const probed: number[] = []
    await expect(highestPresent(async (n) => (probed.push(n), true), 0, 4, 10)).rejects.toThrow(/Gave up probing after 10/)
    expect(Math.max(...probed)).toBe(9)
  })
})

describe('resolveHelmVersion', () => {
  const opts = (http: HttpFetch) => ({ os: 'linux' as const, arch: 'amd64' as const, http })
  const sums = (...versions: string[]) =>
    Object.fromEntries(versions.map((v) => [`/helm-${v}-linux-amd64.tar.gz.sha256sum`, `${'a'.repeat(64)}  helm-${v}-linux-amd64.tar.gz`]))
  // Upstream-like: every 3.x.0, a pulled patch (3.17.1), and Helm 4.
  const upstream = {
    ...sums(...Array.from({ length: 18 }, (_, m) => `v3.${m}.0`), 'v3.17.2', 'v3.17.3', 'v4.0.0', 'v4.0.1', 'v4.1.0', 'v4.1.4'),
    ...sums('v4.1.1', 'v4.1.2', 'v4.1.3'),
  }

  it.each<[string, VersionSpec, Record<string, string>, string]>([
    ['exact needs nothing', { kind: 'exact', version: 'v3.1.0' }, {}, 'v3.1.0'],
    ['latest is the newest Helm 4, via its pointer', { kind: 'latest' }, { ...upstream, '/helm4-latest-version': 'v4.1.4\n' }, 'v4.1.4'],
    ['latest ignores the generic pointer', { kind: 'latest' }, { ...upstream, '/helm-latest-version': 'v3.17.3' }, 'v4.1.4'],
    ['latest without pointers walks Helm 4', { kind: 'latest' }, upstream, 'v4.1.4'],
    ['a major without a hint walks from .0', { kind: 'line', major: 3 }, upstream, 'v3.17.3'],
    ['a minor without a hint walks from .0', { kind: 'line', major: 4, minor: 1 }, upstream, 'v4.1.4'],
    ['a major with a hint', { kind: 'line', major: 4 }, { ...upstream, '/helm4-latest-version': 'v4.1.4' }, 'v4.1.4'],
    ['a stale hint is corrected upward', { kind: 'line', major: 3 }, { ...upstream, '/helm3-latest-version': 'v3.16.0' }, 'v3.17.3'],
    ['a hint of another major is ignored', { kind: 'line', major: 3 }, { ...upstream, '/helm3-latest-version': 'v4.1.4' }, 'v3.17.3'],
    // A partial mirror (like the test mirror) holds only some releases, no .0.
    ['a partial mirror, major', { kind: 'line', major: 3 }, { ...sums('v3.17.2'), '/helm3-latest-version': 'v3.17.2' }, 'v3.17.2'],
    ['a partial mirror, minor', { kind: 'line', major: 4, minor: 1 }, { ...sums('v4.1.4'), '/helm4-latest-version': 'v4.1.4' }, 'v4.1.4'],
  ])('%s', async (_name, spec, files, want) => {
    const { http } = fakeHttp(H, files)
    expect(await resolveHelmVersion(spec, H, opts(http))).toBe(want)
  })

  it('probes with HEAD, in a bounded number of requests', async () => {
    const { http, calls } = fakeHttp(H, { ...upstream, '/helm3-latest-version': 'v3.17.3' })
    expect(await resolveHelmVersion({ kind: 'line', major: 3 }, H, opts(http))).toBe('v3.17.3')
    const probes = calls.filter((c) => c.url.endsWith('.sha256sum'))
    expect(probes.every((c) => c.method === 'HEAD')).toBe(true)
    // minors: a window from 17 (hit) and one of misses; patches: the same from 3
    expect(probes).toHaveLength(4 * PROBE_WINDOW)
  })

  it.each<[string, VersionSpec, Record<string, string>, Record<string, number>, RegExp]>([
    [
      'an unknown minor',
      { kind: 'line', major: 3, minor: 40 },
      upstream,
      {},
      /No Helm 3\.40 release for linux\/amd64 found at http:\/\/mirror\/helm .*helm-v3\.40\.0-linux-amd64/,
    ],
    ['an empty mirror', { kind: 'line', major: 4 }, {}, {}, /No Helm 4 release for linux\/amd64/],
    ['latest on an empty mirror', { kind: 'latest' }, {}, {}, /No Helm 4 release for linux\/amd64/],
    ['a malformed hint', { kind: 'line', major: 4 }, { '/helm4-latest-version': '<html>' }, {}, /helm4-latest-version answered "<html>"/],
    [
      'a forbidden probe',
      { kind: 'line', major: 4, minor: 1 },
      upstream,
      { '/helm-v4.1.2-linux-amd64.tar.gz.sha256sum': 403 },
      /HEAD .*helm-v4\.1\.2-linux-amd64\.tar\.gz\.sha256sum answered HTTP 403/,
    ],
    ['a forbidden hint', { kind: 'line', major: 4 }, upstream, { '/helm4-latest-version': 403 }, /helm4-latest-version answered HTTP 403/],
  ])('%s is an error', async (_name, spec, files, statusOf, why) => {
    const { http } = fakeHttp(H, files, statusOf)
    await expect(resolveHelmVersion(spec, H, opts(http))).rejects.toThrow(why)
  })
})
