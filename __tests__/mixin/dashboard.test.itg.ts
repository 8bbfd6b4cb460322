// The dashboard's save and read-back against the local cluster's Grafana stand-in over HTTP, as
// jobs on one cluster meet it: they share the stack's Grafana and save the same dashboard (one
// uid) at the same moment, typically when a Grafana that was starting begins to answer them all.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { grafanaHandler } from '../../local-cluster/standins.ts'
import { saveDashboard, type GrafanaLogin } from '../../src/mixin/dashboard.ts'

const login: GrafanaLogin = { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`, from: 'test' }
const dashboard = {
  uid: 'milvus-test',
  title: 'Milvus',
  templating: { list: [{ type: 'datasource', name: 'datasource', query: 'prometheus' }] },
}

describe("the dashboard's save in a Grafana other jobs save it in too", () => {
  let server: http.Server
  let base: string
  beforeAll(async () => {
    server = http.createServer(grafanaHandler())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('five jobs saving the same dashboard at once all succeed; each reads back its version or a later one', async () => {
    const saved = await Promise.all(Array.from({ length: 5 }, () => saveDashboard(base, login, dashboard)))
    expect(new Set(saved.map((s) => s.version)).size).toBe(5)
    for (const s of saved) {
      expect(s.uid).toBe('milvus-test')
      expect(s.datasource).toBe('prometheus')
      expect(s.readBackVersion).toBeGreaterThanOrEqual(s.version)
    }
    // The interleaving this guards against happened: some job read back another's later save.
    expect(saved.some((s) => s.readBackVersion > s.version)).toBe(true)
  })

  it('a Grafana that does not keep what it accepted is an error', async () => {
    // Its search does not list the dashboard it accepted.
    const grafana = grafanaHandler()
    const forgetful = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url?.startsWith('/api/search')) return res.writeHead(200).end('[]')
      grafana(req, res)
    })
    await new Promise<void>((resolve) => forgetful.listen(0, '127.0.0.1', resolve))
    try {
      const at = `http://127.0.0.1:${(forgetful.address() as AddressInfo).port}`
      await expect(saveDashboard(at, login, dashboard)).rejects.toThrow(/accepted dashboard milvus-test but does not show version 1/)
    } finally {
      await new Promise<void>((resolve) => forgetful.close(() => resolve()))
    }
  })
})
