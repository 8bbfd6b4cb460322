import { describe, expect, it } from 'vitest'
import {
  getArch,
  getPlatform,
  helmArchiveUrl,
  helmChecksumUrl,
  helmLatestUrl,
  kubectlChecksumUrl,
  kubectlStableUrl,
  kubectlUrl,
  type Arch,
  type Os,
} from '../../src/tools/platform.ts'

describe('getPlatform / getArch', () => {
  it.each([
    ['linux', 'linux'],
    ['darwin', 'darwin'],
  ])('platform %s -> %s', (platform, want) => {
    expect(getPlatform(platform)).toBe(want)
  })

  it.each([
    ['win32', /Unsupported runner OS 'Windows'.*Linux and macOS/],
    ['freebsd', /Unsupported runner OS 'freebsd'/],
  ])('platform %s is refused', (platform, why) => {
    expect(() => getPlatform(platform)).toThrow(why)
  })

  it.each([
    ['x64', 'amd64'],
    ['arm64', 'arm64'],
  ])('arch %s -> %s', (arch, want) => {
    expect(getArch(arch)).toBe(want)
  })

  it.each(['ia32', 'arm', 's390x', 'ppc64'])('arch %s is refused', (arch) => {
    expect(() => getArch(arch)).toThrow(new RegExp(`Unsupported runner architecture '${arch}'.*amd64.*arm64`))
  })

  it('defaults to this process', () => {
    expect(['linux', 'darwin']).toContain(getPlatform())
    expect(['amd64', 'arm64']).toContain(getArch())
  })
})

const K8S = 'https://dl.k8s.io'
const HELM = 'https://get.helm.sh'

describe('kubectl URLs', () => {
  it.each<[Os, Arch, string]>([
    ['linux', 'amd64', `${K8S}/release/v1.35.2/bin/linux/amd64/kubectl`],
    ['linux', 'arm64', `${K8S}/release/v1.35.2/bin/linux/arm64/kubectl`],
    ['darwin', 'amd64', `${K8S}/release/v1.35.2/bin/darwin/amd64/kubectl`],
    ['darwin', 'arm64', `${K8S}/release/v1.35.2/bin/darwin/arm64/kubectl`],
  ])('%s/%s', (os, arch, want) => {
    expect(kubectlUrl(K8S, 'v1.35.2', os, arch)).toBe(want)
    expect(kubectlChecksumUrl(K8S, 'v1.35.2', os, arch)).toBe(`${want}.sha256`)
  })

  it.each([
    [undefined, `${K8S}/release/stable.txt`],
    [{ major: 1, minor: 35 }, `${K8S}/release/stable-1.35.txt`],
    [{ major: 1, minor: 9 }, `${K8S}/release/stable-1.9.txt`],
  ])('stable pointer for %j', (minor, want) => {
    expect(kubectlStableUrl(K8S, minor)).toBe(want)
  })

  it('tolerates a trailing slash on the base', () => {
    expect(kubectlUrl(`${K8S}/`, 'v1.35.2', 'linux', 'amd64')).toBe(`${K8S}/release/v1.35.2/bin/linux/amd64/kubectl`)
    expect(kubectlStableUrl(`${K8S}//`)).toBe(`${K8S}/release/stable.txt`)
  })
})

describe('helm URLs', () => {
  it.each<[Os, Arch, string]>([
    ['linux', 'amd64', `${HELM}/helm-v4.1.4-linux-amd64.tar.gz`],
    ['linux', 'arm64', `${HELM}/helm-v4.1.4-linux-arm64.tar.gz`],
    ['darwin', 'amd64', `${HELM}/helm-v4.1.4-darwin-amd64.tar.gz`],
    ['darwin', 'arm64', `${HELM}/helm-v4.1.4-darwin-arm64.tar.gz`],
  ])('%s/%s', (os, arch, want) => {
    expect(helmArchiveUrl(HELM, 'v4.1.4', os, arch)).toBe(want)
    expect(helmChecksumUrl(HELM, 'v4.1.4', os, arch)).toBe(`${want}.sha256sum`)
  })

  it.each([
    [undefined, `${HELM}/helm-latest-version`],
    [3, `${HELM}/helm3-latest-version`],
    [4, `${HELM}/helm4-latest-version`],
  ])('latest pointer for major %j', (major, want) => {
    expect(helmLatestUrl(HELM, major)).toBe(want)
  })
})
