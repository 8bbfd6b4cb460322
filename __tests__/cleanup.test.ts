import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { cleanupStages, deleteOptions, deletionBatches, foreignMonitors, planDeletion, runStages } from '../src/cleanup.ts'
import type { CreatedObject, CreatedPart } from '../src/state.ts'

/** An object the run created, with the UID `uid-<name>` and a path of its own. */
const ref = (
  kind: string,
  name: string,
  namespace?: string,
  part: CreatedPart = kind === 'Namespace' ? 'namespace' : 'stack',
): CreatedObject => ({
  apiVersion: kind === 'Namespace' ? 'v1' : 'x/v1',
  kind,
  name,
  ...(namespace ? { namespace } : {}),
  uid: `uid-${name}`,
  path: `/apis/x/v1/${namespace ? `namespaces/${namespace}/` : ''}${kind.toLowerCase()}s/${name}`,
  part,
})

/** The post step's stages for `state` run with stdout captured: its log, once every stage succeeded. */
async function cleanupLog(state: Parameters<typeof cleanupStages>[0]): Promise<string> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  try {
    expect(await runStages(cleanupStages(state))).toEqual([])
    return out.mock.calls.map((c) => String(c[0])).join('')
  } finally {
    out.mockRestore()
  }
}

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

  it.each<[string, CreatedObject[], string[][]]>([
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

  it("plans deletion by UID: the same UID deleted, a new one left as not this run's, a missing one gone", () => {
    const [op, role, ns] = [ref('Deployment', 'op', 'monitoring'), ref('Role', 'disc', 'ns', 'namespace'), ref('Namespace', 'ns')]
    const plan = planDeletion(
      [op, role, ns],
      new Map([
        [op.path, 'uid-op'],
        [role.path, 'uid-someone-elses'],
        [ns.path, undefined],
      ]),
    )
    expect(plan).toEqual({ remove: [op], gone: [ns], replaced: [{ obj: role, uid: 'uid-someone-elses' }] })
  })

  it('deletes with the UID as a precondition', () => {
    expect(JSON.parse(deleteOptions('u-1'))).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { uid: 'u-1' },
      propagationPolicy: 'Background',
    })
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
        createdRelease: { secret: 'sh.helm.release.v1.r.v1', uid: 'u-r' },
        created: [
          ref('Namespace', 'ns'),
          ref('Role', 'prometheus-k8s-milvus-discovery', 'ns', 'namespace'),
          ref('RoleBinding', 'prometheus-k8s-milvus-discovery', 'ns', 'namespace'),
          ref('PrometheusRule', 'r-milvus-alerts', 'ns', 'release'),
        ],
        connection: { context: 'kind-kind', kubeconfig: '/kc', server: 'https://127.0.0.1:6443' },
      },
      [
        'check the cluster',
        'check who else uses what this run created',
        'uninstall Helm release ns/r',
        'delete the PersistentVolumeClaims of r',
        'check again who else uses what this run created',
        'delete 3 objects this run created',
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
        createdRelease: { secret: 'sh.helm.release.v1.r.v1', uid: 'u-r' },
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
  // A kubectl that answers `config view` with one server and kube-system with one UID, serves
  // `get --raw` from the objects it holds (path -> UID), and for `delete --raw` records the path
  // and the body and deletes the object when the body's UID precondition matches, as the API server does.
  function fakeKubectl(
    server: string,
    uid: string,
    answers: {
      leases?: unknown
      /** The leases once helm uninstall ran: a job that started using the stack meanwhile. */
      leasesAfterUninstall?: unknown
      monitors?: unknown
      releases?: string
      objects?: Record<string, string>
      releaseSecret?: string
    } = {},
  ) {
    const dir = mkdtempSync(join(tmpdir(), 'cleanup-'))
    const path = join(dir, 'kubectl')
    const files = {
      leases: answers.leases ?? { items: [] },
      'leases-after': answers.leasesAfterUninstall ?? answers.leases ?? { items: [] },
      monitors: answers.monitors ?? { items: [] },
    }
    for (const [name, v] of Object.entries(files)) writeFileSync(join(dir, `${name}.json`), JSON.stringify(v))
    // As kubectl prints them without --show-managed-fields.
    const stripped = (answers.monitors as { items?: Array<{ metadata: object }> } | undefined)?.items ?? []
    writeFileSync(
      join(dir, 'monitors-stripped.json'),
      JSON.stringify({ items: stripped.map((o) => ({ ...o, metadata: { ...o.metadata, managedFields: undefined } })) }),
    )
    mkdirSync(join(dir, 'objs'))
    for (const [p, u] of Object.entries(answers.objects ?? {})) writeFileSync(join(dir, 'objs', p.replaceAll('/', '_')), u)
    writeFileSync(
      path,
      `#!/bin/sh
obj="${dir}/objs/$(printf '%s' "$3" | tr / _)"
case "$*" in
  *"config view"*) printf '%s' '${server}' ;;
  *"get namespace kube-system"*) printf '%s' '${uid}' ;;
  *"get leases"*) cat '${dir}/leases.json' ;;
  *"get pvc"*) printf '%s' '{"items":[]}' ;;
  *"get servicemonitors"*--show-managed-fields*) cat '${dir}/monitors.json' ;;
  *"get servicemonitors"*) cat '${dir}/monitors-stripped.json' ;;
  *"get secrets"*) printf '%s' '${answers.releases ?? ''}' ;;
  *"get secret "*) printf '%s' '${answers.releaseSecret ?? ''}' ;;
  *"get --raw"*)
    if [ -f "$obj" ]; then printf '{"metadata":{"uid":"%s"}}' "$(cat "$obj")"
    else echo 'Error from server (NotFound): the server could not find the requested resource' >&2; exit 1; fi ;;
  *"delete --raw"*)
    body=$(cat); echo "$3 $body" >> '${dir}/deleted'
    if [ -f "$obj" ] && printf '%s' "$body" | grep -q "\\"uid\\":\\"$(cat "$obj")\\""; then rm "$obj"
    else echo 'Error from server (Conflict): Operation cannot be fulfilled: Precondition failed: UID in precondition' >&2; exit 1; fi ;;
  *"delete lease"*) echo "$*" >> '${dir}/leases-deleted' ;;
  *uninstall*) echo "$*" >> '${dir}/uninstalled'; cp '${dir}/leases-after.json' '${dir}/leases.json' ;;
esac
`,
    )
    chmodSync(path, 0o755)
    return { path, deleted: join(dir, 'deleted'), leasesDeleted: join(dir, 'leases-deleted'), uninstalled: join(dir, 'uninstalled') }
  }
  /** The objects of `created` as they are on the cluster: each with the UID the run recorded. */
  const onCluster = (created: CreatedObject[]) => Object.fromEntries(created.map((o) => [o.path, o.uid]))
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
    expect(deletes.map((d) => d.name)).toEqual(['delete 1 objects this run created'])
    expect(existsSync(kubectl.deleted)).toBe(false)
  })

  it('the same cluster: each object deleted by its path with its UID as precondition (on stdin), with RUNNER_TEMP gone', async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { objects: onCluster(state('').created) })
    const saved = process.env.RUNNER_TEMP
    process.env.RUNNER_TEMP = join(tmpdir(), 'emptied-by-a-later-step')
    try {
      const stages = cleanupStages(state(kubectl.path))
      expect(await runStages(stages)).toEqual([])
    } finally {
      if (saved === undefined) delete process.env.RUNNER_TEMP
      else process.env.RUNNER_TEMP = saved
    }
    expect(readFileSync(kubectl.deleted, 'utf8')).toBe(`/apis/x/v1/namespaces/monitoring/deployments/op ${deleteOptions('uid-op')}\n`)
  })

  it("an object deleted and created again by someone else since the main step: left, named as not this run's anymore", async () => {
    const st = { ...state(''), created: [ref('Role', 'disc', 'ns', 'namespace'), ref('RoleBinding', 'disc', 'ns', 'namespace')] }
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', {
      objects: { ...onCluster(st.created), [st.created[0]!.path]: 'uid-of-another-job' },
    })
    const log = await cleanupLog({ ...st, kubectlPath: kubectl.path })
    expect(log).toMatch(
      /Left Role ns\/disc: not this run's anymore \(deleted and created again since: UID uid-of-another-job, this run created uid-disc\)/,
    )
    expect(log).toMatch(/Deleted what this run created: RoleBinding ns\/disc\n/)
    // Only the RoleBinding got a DELETE: the Role was read again first.
    expect(readFileSync(kubectl.deleted, 'utf8')).toBe(`${st.created[1]!.path} ${deleteOptions('uid-disc')}\n`)
  })

  it("a release whose first revision's Secret has another UID now: not uninstalled, nor its PVCs touched", async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { releaseSecret: 'uid-of-a-later-install' })
    const st = {
      ...state(kubectl.path),
      created: [],
      helmPath: kubectl.path,
      createdRelease: { secret: 'sh.helm.release.v1.r.v1', uid: 'uid-of-this-run' },
    }
    const log = await cleanupLog(st)
    expect(log).toMatch(
      /Leaving Helm release ns\/r and its alert rules in place: not this run's anymore \(its first revision's Secret has UID uid-of-a-later-install, this run's install wrote uid-of-this-run\)/,
    )
    expect(existsSync(kubectl.uninstalled)).toBe(false)
  })

  it('a release another job upgraded after this run installed it: not uninstalled, nor its rules or PVCs touched', async () => {
    // The same Secret of revision 1, and a revision 2 someone else's upgrade wrote.
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { releaseSecret: 'uid-of-this-run', releases: '1 2' })
    const rules = { ...ref('PrometheusRule', 'r-milvus-alerts', 'ns'), part: 'release' as const }
    const st = {
      ...state(kubectl.path),
      created: [rules],
      helmPath: kubectl.path,
      createdRelease: { secret: 'sh.helm.release.v1.r.v1', uid: 'uid-of-this-run' },
    }
    const log = await cleanupLog(st)
    expect(log).toMatch(
      /Leaving Helm release ns\/r and its alert rules in place: upgraded to revision 2 after this run installed revision 1, by another run or a person/,
    )
    expect(existsSync(kubectl.uninstalled)).toBe(false)
    expect(existsSync(kubectl.deleted)).toBe(false)
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
    holder: 'me',
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
    const log = await cleanupLog(holding(kubectl.path))
    expect(log).toMatch(
      /Leaving the kube-prometheus this run installed in place: held by 1 other run\(s\): org\/repo run 7 job b \(1234abcd\) \(Lease monitoring\/milvus-monitoring-action-stack-bbbb\)/,
    )
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
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { monitors, objects: onCluster(holding('').created) })
    expect(await runStages(cleanupStages(holding(kubectl.path)))).toEqual([])
    expect(readFileSync(kubectl.deleted, 'utf8')).toContain('customresourcedefinitions/servicemonitors.monitoring.coreos.com')
  })

  it("a job that starts using the stack while this run's release is uninstalled: the stack stays, named right before its deletion", async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', {
      leases: { items: [live('milvus-monitoring-action-stack-aaaa', 'me')] },
      leasesAfterUninstall: {
        items: [live('milvus-monitoring-action-stack-aaaa', 'me'), live('milvus-monitoring-action-stack-bbbb', 'job b')],
      },
      releaseSecret: 'uid-of-this-run',
      objects: onCluster(holding('').created),
    })
    const st = {
      ...holding(kubectl.path),
      helmPath: kubectl.path,
      createdRelease: { secret: 'sh.helm.release.v1.r.v1', uid: 'uid-of-this-run' },
    }
    const log = await cleanupLog(st)
    expect(log).toMatch(
      /Leaving the kube-prometheus this run installed in place: held by 1 other run\(s\): job b \(Lease monitoring\/milvus-monitoring-action-stack-bbbb\) \(found right before its deletion\)/,
    )
    expect(readFileSync(kubectl.uninstalled, 'utf8')).toMatch(/uninstall r/)
    expect(existsSync(kubectl.deleted)).toBe(false)
  })

  it('no one else: the stack this run created is deleted', async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', {
      leases: { items: [expired('milvus-monitoring-action-stack-cccc')] },
      objects: onCluster(holding('').created),
    })
    expect(await runStages(cleanupStages(holding(kubectl.path)))).toEqual([])
    expect(readFileSync(kubectl.deleted, 'utf8')).toContain('customresourcedefinitions/servicemonitors.monitoring.coreos.com')
  })

  it("only this run's release in the namespace this run created: the release, then the discovery Role and the namespace deleted", async () => {
    const created = [
      ref('Namespace', 'ns'),
      ref('Role', 'prometheus-k8s-ns-discovery', 'ns', 'namespace'),
      ref('RoleBinding', 'prometheus-k8s-ns-discovery', 'ns', 'namespace'),
    ]
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', {
      releases: 'r',
      releaseSecret: 'uid-of-this-run',
      objects: onCluster(created),
    })
    const st = {
      ...state(kubectl.path),
      created,
      helmPath: kubectl.path,
      createdRelease: { secret: 'sh.helm.release.v1.r.v1', uid: 'uid-of-this-run' },
    }
    const log = await cleanupLog(st)
    expect(log).not.toMatch(/Leaving/)
    expect(readFileSync(kubectl.uninstalled, 'utf8')).toMatch(/uninstall r/)
    const deleted = readFileSync(kubectl.deleted, 'utf8')
    for (const o of created) expect(deleted).toContain(o.path)
  })

  it('another Helm release in the namespace this run created: the namespace and the discovery Role stay', async () => {
    const kubectl = fakeKubectl('https://127.0.0.1:6443', 'uid-a', { releases: 'r other other' })
    const created = [
      ref('Namespace', 'ns'),
      ref('Role', 'prometheus-k8s-ns-discovery', 'ns', 'namespace'),
      ref('RoleBinding', 'prometheus-k8s-ns-discovery', 'ns', 'namespace'),
    ]
    const st = { ...state(kubectl.path), created }
    expect(await runStages(cleanupStages(st))).toEqual([])
    expect(existsSync(kubectl.deleted)).toBe(false)
  })
})
