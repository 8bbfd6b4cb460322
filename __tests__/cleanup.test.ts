import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cleanupStages, deletionBatches, refsManifest, runStages } from '../src/cleanup.ts'
import type { ObjectRef } from '../src/prometheus/ownership.ts'

const ref = (kind: string, name: string, namespace?: string): ObjectRef => ({ apiVersion: kind === 'Namespace' ? 'v1' : 'x/v1', kind, name, ...(namespace ? { namespace } : {}) })

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
      [ref('Namespace', 'monitoring'), ref('CustomResourceDefinition', 'a'), ref('Deployment', 'op', 'monitoring'), ref('APIService', 'v1beta1.metrics.k8s.io')],
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
      { release: 'r', namespace: 'ns', cleanup: true, kubectlPath: '/k', helmPath: '/h', releaseCreated: true, createdNamespace: true, addedRbac: 'prometheus-k8s-milvus-discovery', connection: { context: 'kind-kind', kubeconfig: '/kc', server: 'https://127.0.0.1:6443' } },
      ['check the cluster', 'uninstall Helm release ns/r', 'delete the PersistentVolumeClaims of r', 'delete the alert rules ns/r-milvus-alerts', 'delete the discovery Role and RoleBinding', 'delete 1 namespace(s) this run created'],
    ],
    [
      'a release that existed before: neither it nor its PVCs',
      { release: 'r', namespace: 'ns', cleanup: true, kubectlPath: '/k', helmPath: '/h', releaseCreated: false, created: [ref('CustomResourceDefinition', 'a')] },
      ['delete 1 CRDs this run created'],
    ],
  ])('stages: %s', (_n, state, want) => expect(cleanupStages(state).map((s) => s.name)).toEqual(want))
})

describe('the post step on a real kubectl command line', () => {
  // A kubectl that answers `config view` with one server and kube-system with one UID, and
  // records what `delete -f -` receives on stdin.
  function fakeKubectl(server: string, uid: string) {
    const dir = mkdtempSync(join(tmpdir(), 'cleanup-'))
    const path = join(dir, 'kubectl')
    writeFileSync(
      path,
      `#!/bin/sh
case "$*" in
  *"config view"*) printf '%s' '${server}' ;;
  *"get namespace kube-system"*) printf '%s' '${uid}' ;;
  *delete*) cat > '${dir}/deleted.yaml' ;;
esac
`,
    )
    chmodSync(path, 0o755)
    return { path, deleted: join(dir, 'deleted.yaml') }
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
    await expect(check!.run()).rejects.toThrow(/another cluster than the one the main step deployed to \(kube-system uid-b, not uid-a\); nothing deleted/)
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
    expect(readFileSync(kubectl.deleted, 'utf8')).toBe('apiVersion: x/v1\nkind: Deployment\nmetadata:\n  name: op\n  namespace: monitoring\n')
  })
})
