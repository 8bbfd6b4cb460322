import { describe, expect, it } from 'vitest'
import {
  DEFAULT_HELM_VERSION,
  DEFAULT_KUBECTL_VERSION,
  parseHelmVersion,
  parseKubectlVersion,
} from '../src/versions.ts'
import type { VersionSpec } from '../src/types.ts'

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
