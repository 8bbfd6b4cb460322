// Behind an HTTP proxy: the action's API client, kubectl, helm and the downloads go through it
// unless the proxy variables exempt them; with the proxy stopped, the preflight names it.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { E2E, e2e, failed, inputs, MIN, newRunner, SUPPORT, tempFile, useLocalCluster, removeWhenDone } from './support.ts'

describe.runIf(E2E)('behind a proxy', () => {
  useLocalCluster()

  it(
    'behind a proxy: every request the proxy variables do not exempt goes through it; with it stopped, the preflight names it',
    async () => {
      const { cluster } = e2e
      removeWhenDone('milvus-proxy', 'viaproxy')
      const logFile = tempFile('proxy.log', '')
      const [cmd, ...args] = [...cluster.wrap, process.execPath, join(SUPPORT, 'http-proxy-entry.ts'), '10.250.9.9', logFile]
      const proxy = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      const proxyUrl = await new Promise<string>((resolve) => proxy.stdout.once('data', (c: Buffer) => resolve(c.toString().trim())))
      // The mirror on a namespace address rather than loopback, which no proxy variable covers.
      const viaNamespace = (u: string) => u.replace('127.0.0.1', '10.250.0.1')
      const proxied = inputs({ expose: 'none', namespace: 'milvus-proxy', 'release-name': 'viaproxy' })
      for (const k of ['kubectl-base-url', 'helm-base-url', 'kube-prometheus-url', 'milvus-chart-repo'])
        proxied[k] = viaNamespace(proxied[k]!)
      proxied['allow-insecure-downloads'] = 'true' // the mirror is plain http, now off loopback
      const env = { HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl, NO_PROXY: '' }
      // A fresh runner: nothing in its tool cache, so the downloads happen too.
      const fresh = newRunner()
      try {
        const r = await fresh.main(proxied, { env })
        expect(r.code, failed(r)).toBe(0)
        await fresh.post(r.state)
        const log = readFileSync(logFile, 'utf8')
        const server = /server: https:\/\/(\S+)/.exec(readFileSync(cluster.env.KUBECONFIG!, 'utf8'))![1]
        // The action's API client, kubectl and helm: to the API server.
        expect(log).toContain(`CONNECT ${server}`)
        // The binaries (kubectl v1.35.2's checksum is pinned: no checksum file for it), helm's
        // checksum file, the archive, the chart repository.
        expect(log).toMatch(/GET http:\/\/10\.250\.0\.1:8099\/kubectl\/release\/v1\.35\.2\/bin\/linux\/amd64\/kubectl\n/)
        expect(log).toMatch(/GET http:\/\/10\.250\.0\.1:8099\/helm\/helm-v4\.1\.4-linux-amd64\.tar\.gz\.sha256sum/)
        expect(log).toMatch(/GET http:\/\/10\.250\.0\.1:8099\/kube-prometheus\/archive\//)
        expect(log).toMatch(/GET http:\/\/10\.250\.0\.1:8099\/helm-repo\/index\.yaml/)
        expect(r.stdout).toMatch(/reached via proxy http:\/\/10\.250\.9\.9:\d+/)
      } finally {
        proxy.kill('SIGTERM')
        await new Promise((res) => proxy.once('close', res))
      }
      const down = await fresh.main(proxied, { env })
      expect(down.code).not.toBe(0)
      expect(down.stdout).toMatch(/::error::.*did not answer within 20 s, asked via proxy http:\/\/10\.250\.9\.9:\d+/)
    },
    10 * MIN,
  )
})
