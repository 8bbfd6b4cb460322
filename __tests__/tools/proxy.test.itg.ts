// Version look-ups, checksums and archives through a proxy named by the environment, against
// the loopback mirror served on this machine's non-loopback address (loopback hosts are never
// proxied: kubectl's rule, and @actions/tool-cache's).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { officialBinaries } from '../../local-cluster/official-binaries.ts'
import { startMirror, type Mirror } from '../../local-cluster/mirror.ts'
import { defaultFetch, fetchText } from '../../src/tools/download.ts'
import { installKubectl } from '../../src/tools/install.ts'
import { resolveKubectlVersion } from '../../src/tools/versions.ts'
import { nonLoopbackAddress, startHttpProxy, type TestProxy } from '../support/http-proxy.ts'

const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']
const ip = await nonLoopbackAddress()

describe.skipIf(!ip)('downloads through the environment proxy', () => {
  const saved = Object.fromEntries(PROXY_VARS.map((k) => [k, process.env[k]]))
  let mirror: Mirror
  let proxy: TestProxy
  let scratch: string

  beforeAll(async () => {
    mirror = await startMirror({ host: ip, binaries: await officialBinaries() })
    proxy = await startHttpProxy('127.0.0.1')
    scratch = await mkdtemp(join(tmpdir(), 'proxy-download-test-'))
  }, 600_000)
  afterAll(async () => {
    await mirror?.close()
    await proxy?.close()
    if (scratch) await rm(scratch, { recursive: true, force: true })
  })
  beforeEach(async () => {
    const runner = await mkdtemp(join(scratch, 'runner-'))
    process.env.RUNNER_TOOL_CACHE = join(runner, 'tool-cache')
    process.env.RUNNER_TEMP = join(runner, 'temp')
    process.env.HTTP_PROXY = proxy.url
    process.env.HTTPS_PROXY = proxy.url
  })
  afterEach(() => {
    for (const k of PROXY_VARS) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
    proxy.log.length = 0
  })

  it('the version look-up is sent to the proxy (absolute URI, as Go sends http URLs)', async () => {
    expect(await resolveKubectlVersion({ kind: 'latest' }, mirror.kubectlBaseUrl)).toBe('v1.35.2')
    expect(proxy.log).toEqual([`GET ${mirror.kubectlBaseUrl}/release/stable.txt`])
  })

  it('a tool download: the checksum and the binary through undici, both via the proxy', { timeout: 120_000 }, async () => {
    const before = mirror.requests.length
    // v1.32.3 has no pinned digest: its checksum file is read (the mirror stands in for upstream).
    const got = await installKubectl({ kind: 'exact', version: 'v1.32.3' }, mirror.kubectlBaseUrl, {
      os: 'linux',
      arch: 'amd64',
      upstream: mirror.kubectlBaseUrl,
    })
    expect(got.version).toBe('v1.32.3')
    // undici sends http URLs to the proxy as absolute URIs, as Go does.
    expect(proxy.log).toEqual([
      `GET ${mirror.kubectlBaseUrl}/release/v1.32.3/bin/linux/amd64/kubectl.sha256`,
      `GET ${mirror.kubectlBaseUrl}/release/v1.32.3/bin/linux/amd64/kubectl`,
    ])
    expect(mirror.requests.slice(before).map((r) => r.path)).toEqual([
      '/kubectl/release/v1.32.3/bin/linux/amd64/kubectl.sha256',
      '/kubectl/release/v1.32.3/bin/linux/amd64/kubectl',
    ])
  })

  it('NO_PROXY exempts the mirror: look-up and download go direct', { timeout: 120_000 }, async () => {
    process.env.NO_PROXY = ip
    expect(await resolveKubectlVersion({ kind: 'line', major: 1, minor: 32 }, mirror.kubectlBaseUrl)).toBe('v1.32.3')
    await installKubectl({ kind: 'exact', version: 'v1.35.2' }, mirror.kubectlBaseUrl, {
      os: 'linux',
      arch: 'amd64',
      upstream: mirror.kubectlBaseUrl,
    })
    expect(proxy.log).toEqual([])
  })

  it('a loopback URL is never proxied', async () => {
    const local = await startMirror({ binaries: await officialBinaries() })
    try {
      expect(await fetchText(defaultFetch, `${local.kubectlBaseUrl}/release/stable.txt`)).toBe('v1.35.2')
      expect(proxy.log).toEqual([])
    } finally {
      await local.close()
    }
  })

  it('with the proxy stopped, the look-up fails naming it', async () => {
    const gone = await startHttpProxy('127.0.0.1')
    await gone.close()
    process.env.HTTP_PROXY = gone.url
    await expect(resolveKubectlVersion({ kind: 'latest' }, mirror.kubectlBaseUrl)).rejects.toThrow(
      `Could not reach ${mirror.kubectlBaseUrl}/release/stable.txt via proxy ${gone.url} (HTTP_PROXY): connect ECONNREFUSED`,
    )
  })
})
