import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { cleanupStages, deletionBatches, foreignMonitors, refsManifest, runStages } from '../src/cleanup.ts'
import type { ObjectRef } from '../src/prometheus/ownership.ts'

const ref = (kind: string, name: string, namespace?: string): ObjectRef => ({
  apiVersion: kind === 'Namespace' ? 'v1' : 'x/v1',
  kind,
  name,
  ...(namespace ? { namespace } : {}),
})

describe('the post step', () => {
  it('runs every stage even when earlier ones fail, and returns every failure', async () => {
    const ran: string[] = []
    const failures = await runStages([
      { name: 'a', run: async () => void ran.push('a') },
      { name: 'b', run: async () => (ran.push('b'), Promise.reject(new Error('helm: boom\nsecond line'))) },
      { name: 'c', run: async () => void ran.push('c') },
      { name: 'd', run: () => Promise.reject(new Error('kubectl: no')) },
    ])
    expect(ran).toEqual(['a', 'b', 'c'])
    expect(failures).toEqual(['b: helm: boom\nsecond line', 'd: kubectl: no'])
  })

  it.each<[string, ObjectRef[], string[][]]>([
    ['nothing created', [], []],
    [
      'objects, then CRDs, then namespaces',
      [
        ref('Namespace', 'monitoring'),
        ref('CustomResourceDefinition', 'a'),
        ref('Deployment', 'op', 'monitoring'),
        ref('APIService', 'v1beta1.metrics.k8s.io'),
      ],
      [['op', 'v1beta1.metrics.k8s.io'], ['a'], ['monitoring']],
    ],
    ['CRDs pre-existed: none deleted', [ref('Deployment', 'op', 'monitoring')], [['op']]],
  ])('deletion batches: %s', (_n, created, want) => expect(deletionBatches(created).map((b) => b.map((r) => r.name))).toEqual(want))

  it('writes identities kubectl delete -f reads', () => {
    expect(refsManifest([ref('Deployment', 'op', 'monitoring'), ref('Namespace', 'monitoring')])).toBe(
      'apiVersion: x/v1\nkind: Deployment\nmetadata:\n  name: op\n  namespace: monitoring\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n',
    )
  })

  it.each<[string, Parameters<typeof cleanupStages>[0], string[]]>([
    ['no tools recorded: nothing to do', { release: 'r', namespace: 'ns', cleanup: true }, []],
    [
      'a release and namespace the run created, no kube-prometheus',
      {
        release: 'r',
        namespace: 'ns',
        cleanup: true,
        kubectlPath: '/k',
        helmPath: '/h',
        releaseCreated: true,
        createdNamespace: true,
        addedRbac: 'prometheus-k8s-milvus-discovery',
        connection: { context: 'kind-kind', kubeconfig: '/kc', server: 'https://127.0.0.1:6443' },
      },
      [
        'check the cluster',
        'check who else uses what this run created',
        'uninstall Helm release ns/r',
        'delete the PersistentVolumeClaims of r',
        'delete the alert rules ns/r-milvus-alerts',
        'delete the discovery Role and RoleBinding',
        'delete 1 namespace(s) this run created',
      ],
    ],
    [
      'a release that existed before: neither it nor its PVCs',
      {
        release: 'r',
        namespace: 'ns',
        cleanup: true,
        kubectlPath: '/k',
        helmPath: '/h',
        releaseCreated: false,
        created: [ref('CustomResourceDefinition', 'a')],
      },
      ['delete 1 CRDs this run created'],
    ],
    [
      'cleanup off: only the hold on the stack released',
      {
        release: 'r',
        namespace: 'ns',
        cleanup: false,
        kubectlPath: '/k',
        releaseCreated: true,
        releaseHold: 'milvus-monitoring-action-release-r',
        stackHold: { namespace: 'monitoring', name: 'milvus-monitoring-action-stack-aaaa' },
        connection: { context: 'kind-kind', kubeconfig: '/kc', server: 'https://127.0.0.1:6443' },
      },
      ['check the cluster', "release this run's hold on the stack"],
    ],
    [
      'a release verified as it is (install-milvus false), Prometheus already allowed to discover: nothing but the cluster check',
      {
        release: 'r',
        namespace: 'ns',
        cleanup: true,
        kubectlPath: '/k',
        helmPath: '/h',
        releaseCreated: false,
        connection: { context: 'kind-kind', kubeconfig: '/kc', server: 'https://127.0.0.1:6443' },
      },
      ['check the cluster'],
    ],
    [
      'an alert drill the main step did not end, without cleanup: its rule, alert and silence removed all the same',
      {
        release: 'r',
        namespace: 'ns',
        cleanup: false,
        kubectlPath: '/k',
        drill: {
          alertmanager: { namespace: 'monitoring', name: 'alertmanager-main', port: 'web', pathPrefix: '' },
          rule: { namespace: 'ns', name: 'r-alert-drill' },
          silenceId: 's-1',
        },
      },
      [
        "delete the alert drill's rule ns/r-alert-drill",
        "resolve the alert drill's alert in Alertmanager monitoring/alertmanager-main",
        "expire the alert drill's silence s-1",
      ],
    ],
    [
      'an alert drill stopped before its silence existed: only its rule',
      {
        release: 'r',
        namespace: 'ns',
        cleanup: false,
        kubectlPath: '/k',
        drill: {
          alertmanager: { namespace: 'monitoring', name: 'alertmanager-main', port: 'web', pathPrefix: '' },
          rule: { namespace: 'ns', name: 'r-alert-drill' },
        },
      },
      ["delete the alert drill's rule ns/r-alert-drill"],
    ],
  ])('stages: %s', (_n, state, want) => expect(cleanupStages(state).map((s) => s.name)).toEqual(want))
})

describe('the post step on a real kubectl command line', () => {
  // A kubectl that answers `config view` with one server and kube-system with one UID, and
  // records what `delete -f -` receives on stdin.
  function fakeKubectl(server: string, uid: string, answers: { leases?: unknown; monitors?: unknown; releases?: string } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'cleanup-'))
    const path = join(dir, 'kubectl')
    for (const [name, v] of Object.entries({ leases: answers.leases ?? { items: [] }, monitors: answers.monitors ?? { items: [] } }))
      writeFileSync(join(dir, `${name}.json`), JSON.stringify(v))
    // As kubectl prints them without --show-managed-fields.
    const stripped = (answers.monitors as { items?: Array<{ metadata: object }> } | undefined)?.items ?? []
    writeFileSync(
      join(dir, 'monitors-stripped.json'),
      JSON.stringify({ items: stripped.map((o) => ({ ...o, metadata: { ...o.metadata, managedFields: undefined } })) }),
    )
    writeFileSync(
      path,
      `#!/bin/sh
case "$*" in
  *"config view"*) printf '%s' '${server}' ;;
  *"get namespace kube-system"*) printf '%s' '${uid}' ;;
  *"get leases"*) cat '${dir}/leases.json' ;;
  *"get servicemonitors"*--show-managed-fields*) cat '${dir}/monitors.json' ;;
  *"get servicemonitors"*) cat '${dir}/monitors-stripped.json' ;;
  *"get secrets"*) printf '%s' '${answers.releases ?? ''}' ;;
  *"delete lease"*) echo "$*" >> '${dir}/leases-deleted' ;;
  *delete*) cat > '${dir}/deleted.yaml' ;;
esac
`,
    )
    chmodSync(path, 0o755)
    return { path, deleted: join(dir, 'deleted.yaml'), leasesDeleted: join(dir, 'leases-deleted') }
  }
  const state = (kubectlPath: string) => ({
    release: 'r',
    namespace: 'ns',
    cleanup: true,
    kubectlPath,
    created: [ref('Deployment', 'op', 'monitoring')],
    connection: { context: 'kind-kind', kubeconfig: '/kc', server: 'https://127.0.0.1:6443', clusterId: 'uid-a' },
  })

  it('a cluster re-created at the same URL is another cluster: nothing deleted, the reason named', async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-b')
    const [check, ...deletes] = cleanupStages(state(kubectl.path))
    await expect(check!.run()).rejects.toThrow(
      /another cluster than the one the main step deployed to \(kube-system uid-b, not uid-a\); nothing deleted/,
    )
    expect(deletes.map((d) => d.name)).toEqual(['delete 1 kube-prometheus objects this run created'])
    expect(existsSync(kubectl.deleted)).toBe(false)
  })

  it('the same cluster: the identities reach kubectl delete on stdin, with RUNNER_TEMP gone', async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a')
    const saved = process.env.RUNNER_TEMP
    process.env.RUNNER_TEMP = join(tmpdir(), 'emptied-by-a-later-step')
    try {
      const stages = cleanupStages(state(kubectl.path))
      expect(await runStages(stages)).toEqual([])
    } finally {
      if (saved === undefined) delete process.env.RUNNER_TEMP
      else process.env.RUNNER_TEMP = saved
    }
    expect(readFileSync(kubectl.deleted, 'utf8')).toBe(
      'apiVersion: x/v1\nkind: Deployment\nmetadata:\n  name: op\n  namespace: monitoring\n',
    )
  })

  const live = (name: string, holder: string) => ({
    metadata: { name, namespace: 'monitoring' },
    spec: { holderIdentity: holder, leaseDurationSeconds: 3600, renewTime: new Date().toISOString() },
  })
  const expired = (name: string) => ({
    metadata: { name, namespace: 'monitoring' },
    spec: { holderIdentity: 'gone', leaseDurationSeconds: 60, renewTime: '2020-01-01T00:00:00.000000Z' },
  })
  const holding = (kubectlPath: string) => ({
    ...state(kubectlPath),
    created: [ref('Deployment', 'op', 'monitoring'), ref('CustomResourceDefinition', 'servicemonitors.monitoring.coreos.com')],
    releaseHold: 'milvus-monitoring-action-release-r',
    stackHold: { namespace: 'monitoring', name: 'milvus-monitoring-action-stack-aaaa' },
  })

  it("another live run holds the stack: nothing of it deleted, the holder named, this run's hold released", async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', {
      leases: {
        items: [
          live('milvus-monitoring-action-stack-aaaa', 'me'),
          live('milvus-monitoring-action-stack-bbbb', 'org/repo run 7 job b (1234abcd)'),
          expired('milvus-monitoring-action-stack-cccc'),
        ],
      },
    })
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      expect(await runStages(cleanupStages(holding(kubectl.path)))).toEqual([])
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toMatch(
        /Leaving the kube-prometheus this run installed in place: held by 1 other run\(s\): org\/repo run 7 job b \(1234abcd\) \(Lease monitoring\/milvus-monitoring-action-stack-bbbb\)/,
      )
    } finally {
      out.mockRestore()
    }
    expect(existsSync(kubectl.deleted)).toBe(false)
    // Only the hold on the stack: the release's ended with the main step, and its name may be another run's now.
    expect(readFileSync(kubectl.leasesDeleted, 'utf8').trim().split('\n')).toEqual([
      expect.stringMatching(/^delete lease milvus-monitoring-action-stack-aaaa -n monitoring/),
    ])
  })

  it('no other holder, but a ServiceMonitor someone else made under the CRDs this run created: the stack stays', async () => {
    const monitors = {
      items: [
        {
          kind: 'ServiceMonitor',
          metadata: { name: 'prometheus-operator', namespace: 'monitoring', managedFields: [{ manager: 'milvus-monitoring-action' }] },
        },
        {
          kind: 'ServiceMonitor',
          metadata: { name: 'r-milvus-standalone', namespace: 'ns', labels: { 'app.kubernetes.io/instance': 'r' } },
        },
        { kind: 'PrometheusRule', metadata: { name: 'r-milvus-alerts', namespace: 'ns' } },
        { kind: 'ServiceMonitor', metadata: { name: 'payments', namespace: 'team-b' } },
      ],
    }
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { monitors })
    expect(await runStages(cleanupStages(holding(kubectl.path)))).toEqual([])
    expect(existsSync(kubectl.deleted)).toBe(false)
    expect(foreignMonitors(monitors.items, { release: 'r', namespace: 'ns' }, 'monitoring')).toEqual(['ServiceMonitor team-b/payments'])
  })

  it("only kube-prometheus' own monitors and the run's: the stack is deleted (managedFields read, which kubectl prints only when asked)", async () => {
    const monitors = {
      items: [
        {
          kind: 'ServiceMonitor',
          metadata: { name: 'prometheus-operator', namespace: 'monitoring', managedFields: [{ manager: 'milvus-monitoring-action' }] },
        },
        {
          kind: 'PrometheusRule',
          metadata: { name: 'kube-prometheus-rules', namespace: 'monitoring', managedFields: [{ manager: 'milvus-monitoring-action' }] },
        },
        {
          kind: 'ServiceMonitor',
          metadata: { name: 'r-milvus-standalone', namespace: 'ns', labels: { 'app.kubernetes.io/instance': 'r' } },
        },
      ],
    }
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { monitors })
    expect(await runStages(cleanupStages(holding(kubectl.path)))).toEqual([])
    expect(readFileSync(kubectl.deleted, 'utf8')).toContain('name: servicemonitors.monitoring.coreos.com')
  })

  it('no one else: the stack this run created is deleted', async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { leases: { items: [expired('milvus-monitoring-action-stack-cccc')] } })
    expect(await runStages(cleanupStages(holding(kubectl.path)))).toEqual([])
    expect(readFileSync(kubectl.deleted, 'utf8')).toContain('name: servicemonitors.monitoring.coreos.com')
  })

  it('another Helm release in the namespace this run created: the namespace and the discovery Role stay', async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { releases: 'r other other' })
    const st = { ...state(kubectl.path), created: [], createdNamespace: true, addedRbac: 'prometheus-k8s-ns-discovery' }
    expect(await runStages(cleanupStages(st))).toEqual([])
    expect(existsSync(kubectl.deleted)).toBe(false)
  })
})
