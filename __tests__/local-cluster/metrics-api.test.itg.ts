// The local cluster's metrics.k8s.io stand-in answers what the API server's aggregator and the
// namespace controller ask: discovery of the group, with no verb they would delete through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:https'
import { startMetricsApi } from '../../local-cluster/metrics-api.ts'

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the metrics.k8s.io stand-in', () => {
  let close: () => Promise<void>
  const port = 30000 + Math.floor(Math.random() * 20000)

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'metrics-api-'))
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=x'],
      {
        cwd: dir,
        stdio: 'ignore',
      },
    )
    ;({ close } = await startMetricsApi({ host: '127.0.0.1', port, cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') }))
  })
  afterAll(() => close())

  it('serves the group version discovery with read-only resources', async () => {
    const r = await get(port, '/apis/metrics.k8s.io/v1beta1')
    expect(r.status).toBe(200)
    const list = JSON.parse(r.body) as { groupVersion: string; resources: Array<{ name: string; verbs: string[] }> }
    expect(list.groupVersion).toBe('metrics.k8s.io/v1beta1')
    expect(list.resources.map((x) => x.name).sort()).toEqual(['nodes', 'pods'])
    // The namespace controller deletes through delete/deletecollection only: none here.
    expect(list.resources.flatMap((x) => x.verbs)).not.toContain('delete')
  })

  it('serves the group, an empty pod metrics list and 404 for the rest', async () => {
    expect(JSON.parse((await get(port, '/apis/metrics.k8s.io')).body).preferredVersion.version).toBe('v1beta1')
    expect(JSON.parse((await get(port, '/apis/metrics.k8s.io/v1beta1/namespaces/x/pods')).body).items).toEqual([])
    expect((await get(port, '/apis/other.k8s.io/v1')).status).toBe(404)
  })
})
