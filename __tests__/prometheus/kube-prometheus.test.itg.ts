import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import {
  compatibilityWarning,
  crdNamesIn,
  fetchManifests,
  findManifestsDir,
  statefulSetPodsCreated,
} from '../../src/prometheus/kube-prometheus.ts'
import { prometheusServing } from '../../src/prometheus/stack.ts'
import { discoveryRbac, needsRbac } from '../../src/prometheus/discovery-rbac.ts'
import { isTransient } from '../../src/cluster/retry.ts'
import { notReadyPods } from '../../src/report/diagnostics.ts'
import { fixtureDirs } from '../../local-cluster/mirror.ts'

describe('kube-prometheus compatibility', () => {
  it.each([
    ['v0.18.0', 33, ''],
    ['v0.18.0', 36, ''],
    ['v0.18.0', 32, 'tested with Kubernetes 1.33 - 1.36, but the cluster runs 1.32'],
    ['v0.18.1', 37, 'tested with Kubernetes 1.33 - 1.36, but the cluster runs 1.37'],
    ['v0.16.0', 35, 'tested with Kubernetes 1.32 - 1.34'],
    ['v0.99.0', 35, 'no known Kubernetes compatibility range'],
  ])('%s on 1.%i', (version, minor, want) => {
    const w = compatibilityWarning(version, minor)
    if (want === '') expect(w).toBe('')
    else expect(w).toContain(want)
  })
})

describe('kube-prometheus manifests', () => {
  it('finds the CRDs of the real v0.18.0 release', async () => {
    const { kubePrometheus } = await fixtureDirs()
    const dir = mkdtempSync(join(tmpdir(), 'kp-'))
    execFileSync('tar', ['xzf', join(kubePrometheus, 'kube-prometheus-0.18.0.tar.gz'), '-C', dir])
    const manifests = findManifestsDir(dir)
    expect(manifests).toBe(join(dir, 'kube-prometheus-0.18.0', 'manifests'))
    const names = crdNamesIn(join(manifests, 'setup'))
    expect(names).toHaveLength(10)
    expect(names).toContain('servicemonitors.monitoring.coreos.com')
    expect(names).toContain('prometheuses.monitoring.coreos.com')
  }, 60_000)

  it('caches the manifests per version and URL: a second URL for the same version is downloaded, the same URL is not', async () => {
    const { kubePrometheus } = await fixtureDirs()
    const runner = mkdtempSync(join(tmpdir(), 'kp-cache-'))
    process.env.RUNNER_TOOL_CACHE = join(runner, 'tool-cache')
    process.env.RUNNER_TEMP = join(runner, 'temp')
    // Two archives served as the same version: a mirror and a patched copy (here v0.17.0's).
    const archives: Record<string, string> = { '/a.tar.gz': 'kube-prometheus-0.18.0.tar.gz', '/b.tar.gz': 'kube-prometheus-0.17.0.tar.gz' }
    const hits: string[] = []
    const server = createServer((req, res) => {
      hits.push(req.url ?? '')
      res.end(readFileSync(join(kubePrometheus, archives[req.url ?? '']!)))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const a = await fetchManifests('v0.18.0', `${base}/a.tar.gz`)
      const again = await fetchManifests('v0.18.0', `${base}/a.tar.gz`)
      const b = await fetchManifests('v0.18.0', `${base}/b.tar.gz`)
      expect(hits).toEqual(['/a.tar.gz', '/b.tar.gz'])
      expect(again.dir).toBe(a.dir)
      expect(b.dir).not.toBe(a.dir)
    } finally {
      server.close()
    }
  }, 60_000)

  it('says what is wrong with an archive that has no manifests/setup', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kp-'))
    mkdirSync(join(dir, 'other', 'manifests'), { recursive: true })
    writeFileSync(join(dir, 'README.md'), '')
    expect(() => findManifestsDir(dir)).toThrow(/no manifests\/setup directory.*kube-prometheus-url/)
  })
})

describe('discovery RBAC', () => {
  it.each([
    ['milvus', true, true],
    ['milvus', false, false],
    ['default', true, false],
    ['kube-system', true, false],
    ['monitoring', true, false],
  ])('namespace %s with prometheus-rbac %s needs RBAC: %s', (ns, flag, want) => {
    expect(needsRbac(ns, flag)).toBe(want)
  })

  it('grants prometheus-k8s what its service discovery lists, EndpointSlices included', () => {
    const [role, binding] = discoveryRbac('milvus', { namespace: 'monitoring', name: 'prometheus-k8s' })
    expect(role.metadata).toMatchObject({ namespace: 'milvus', labels: { 'app.kubernetes.io/managed-by': 'milvus-monitoring-action' } })
    const rules = role.rules as Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>
    const granted = rules.flatMap((r) => r.resources.map((res) => `${r.apiGroups[0]}/${res}`))
    expect(granted.sort()).toEqual(['/endpoints', '/pods', '/services', 'discovery.k8s.io/endpointslices'])
    expect(rules.every((r) => r.verbs.join() === 'get,list,watch')).toBe(true)
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'prometheus-k8s', namespace: 'monitoring' }])
    expect((binding.roleRef as { name: string }).name).toBe(role.metadata.name)
  })
})

describe('transient API errors', () => {
  it.each([
    ['The connection to the server 10.250.0.1:6443 was refused - did you specify the right host or port?', true],
    ['dial tcp 127.0.0.1:6443: connect: connection refused', true],
    ['Get "https://x/api": EOF', true],
    ['Error from server: etcdserver: request timed out', true],
    ['Error from server (ServiceUnavailable): the server is currently unable to handle the request', true],
    ['read ECONNRESET', true],
    ['error: error validating "x.yaml": unknown field "spec.foo"', false],
    ['Error from server (Forbidden): namespaces is forbidden', false],
    ['Error from server (NotFound): deployments.apps "x" not found', false],
  ])('%s -> %s', (msg, want) => {
    expect(isTransient(msg)).toBe(want)
  })
})

describe('not-ready pods', () => {
  const pod = (name: string, phase: string, ready?: boolean) => ({
    metadata: { name, namespace: 'ns' },
    status: { phase, conditions: ready === undefined ? [] : [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  })
  it('lists pods neither Ready nor finished', () => {
    expect(
      notReadyPods({ items: [pod('a', 'Running', true), pod('b', 'Running', false), pod('c', 'Pending'), pod('d', 'Succeeded')] }),
    ).toEqual(['b', 'c'])
  })
})

describe('CRD names by line scan', () => {
  it.each([
    [
      'plain',
      'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n    a: b\n  name: foos.example.com\nspec:\n  names:\n    kind: Foo\n',
      ['foos.example.com'],
    ],
    [
      'quoted, two documents',
      'kind: CustomResourceDefinition\nmetadata:\n  name: "a.x.io"\n---\nkind: CustomResourceDefinition\nmetadata:\n  labels:\n    l: v\n  name: b.x.io\n',
      ['a.x.io', 'b.x.io'],
    ],
    ['not a CRD', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n', []],
    [
      'a nested name is not the object name',
      'kind: CustomResourceDefinition\nspec:\n  names:\n    name: wrong\nmetadata:\n  name: right.x.io\n',
      ['right.x.io'],
    ],
  ])('%s', (_, text, want) => {
    const dir = mkdtempSync(join(tmpdir(), 'crd-'))
    writeFileSync(join(dir, 'a.yaml'), text)
    expect(crdNamesIn(dir)).toEqual(want)
  })
})

describe('Prometheus serving', () => {
  const p = (status: Record<string, unknown>) => ({ metadata: { name: 'k8s' }, status })
  it.each([
    ['all replicas available', p({ availableReplicas: 2, conditions: [{ type: 'Available', status: 'True' }] }), true],
    ['one of two available (Degraded)', p({ availableReplicas: 1, conditions: [{ type: 'Available', status: 'Degraded' }] }), true],
    ['none available', p({ availableReplicas: 0, conditions: [{ type: 'Available', status: 'False' }] }), false],
    ['no status yet', p({}), false],
  ])('%s', (_, obj, want) => {
    expect(prometheusServing(obj)).toBe(want)
  })
  it('nothing there yet', () => expect(prometheusServing(undefined)).toBe(false))
})

describe("the Prometheus StatefulSet's pods created (the rest of kube-prometheus waits for it)", () => {
  const s = (spec: Record<string, unknown>, status: Record<string, unknown>) => ({ metadata: { name: 'prometheus-k8s' }, spec, status })
  it.each([
    ['both of two created', s({ replicas: 2 }, { replicas: 2 }), true],
    ['one of two created', s({ replicas: 2 }, { replicas: 1 }), false],
    ['no replicas field: one is meant', s({}, { replicas: 1 }), true],
    ['scaled to zero: waits for one (nothing to order after)', s({ replicas: 0 }, { replicas: 0 }), false],
    ['no status yet', s({ replicas: 2 }, {}), false],
    ['not created yet', undefined, false],
  ])('%s', (_, obj, want) => expect(statefulSetPodsCreated(obj)).toBe(want))
})
