// The chart download of `helm template` (the release's check) against a chart repository that
// accepts the connection and never answers, with the official helm: the run's signal ends it,
// and helm is gone when the call settles, instead of outliving the run's timeout.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { officialBinaries } from '../../local-cluster/official-binaries.ts'
import { Helm } from '../../src/cluster/helm.ts'
import { stopRunningTools } from '../../src/cluster/kubectl.ts'

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('helm template from a stalled chart repository', () => {
  const held: Array<() => void> = []
  let server: Server | undefined
  afterAll(async () => {
    for (const release of held) release()
    await new Promise((r) => server?.close(r) ?? r(undefined))
  })

  it('ends when the signal aborts, with no helm left running', { timeout: 60_000 }, async () => {
    server = createServer((_req, res) => held.push(() => res.destroy()))
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const repo = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const bins = await officialBinaries()
    const helm = new Helm(bins.find((b) => b.tool === 'helm' && b.version === 'v4.1.4')!.path, {}, 'v4.1.4')
    const started = Date.now()
    const rendered = helm.template(
      { release: 'r', namespace: 'milvus', chart: { chart: 'milvus', repo, version: '5.0.19' }, valuesFiles: [] },
      AbortSignal.timeout(1500),
    )
    await expect(rendered).rejects.toThrow(/helm template/)
    // The chart repository was asked, and never answered: the abort, not helm, ended it.
    expect(held.length).toBeGreaterThan(0)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(await stopRunningTools(0)).toBe(0)
  })
})
