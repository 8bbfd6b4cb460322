import { stuckTermination } from '../../src/cluster/namespace-deletion.ts'
import { describe, expect, it } from 'vitest'
import { Budget } from '../../src/budget.ts'
import type { StackRun } from '../../src/context.ts'
import type { Inputs } from '../../src/types.ts'
import {
  HelmRelease,
  admissionHint,
  foreignReleaseRefusal,
  helmTimeoutSeconds,
  mergeValues,
  modeValues,
  recoveryFor,
  releaseValues,
  secretValues,
  type Recovery,
} from '../../src/milvus/helm-release.ts'
import { ownedRelease } from '../../src/marks.ts'
import { uninstallArgs, upgradeInstallArgs } from '../../src/cluster/helm.ts'

describe('Milvus values', () => {
  it.each([
    ['maps merge key by key', { a: { b: 1, c: 2 } }, { a: { c: 3 } }, { a: { b: 1, c: 3 } }],
    ['lists are replaced, not appended', { a: [1, 2] }, { a: [3] }, { a: [3] }],
    ['a scalar replaces a map', { a: { b: 1 } }, { a: 'x' }, { a: 'x' }],
    ['null is kept as the later value', { a: { b: 1 } }, { a: null }, { a: null }],
    ['new keys are added', {}, { z: true }, { z: true }],
  ])('%s', (_, base, over, want) => {
    expect(mergeValues(base, over)).toEqual(want)
  })

  it('standalone is CI-sized: no cluster, one etcd, standalone MinIO, no Pulsar', () => {
    expect(modeValues('standalone')).toEqual({
      cluster: { enabled: false },
      etcd: { replicaCount: 1, readinessProbe: { initialDelaySeconds: 5, periodSeconds: 5 } },
      minio: { mode: 'standalone', resources: { requests: { memory: '256Mi' } } },
      pulsarv3: { enabled: false },
      readinessProbe: { initialDelaySeconds: 5, periodSeconds: 5 },
      livenessProbe: { initialDelaySeconds: 30, periodSeconds: 30, failureThreshold: 7 },
      metrics: { serviceMonitor: { interval: '10s' } },
    })
  })

  it('cluster is runner-sized: one of each Pulsar component with small requests, one bookie quorum', () => {
    const v = modeValues('cluster') as {
      cluster: unknown
      etcd: unknown
      minio: { mode: string }
      pulsarv3: Record<string, { replicaCount?: number; configData?: Record<string, string> }>
    }
    expect(v.cluster).toEqual({ enabled: true })
    expect(v.etcd).toEqual({ replicaCount: 1 })
    expect(v.minio.mode).toBe('standalone')
    for (const c of ['zookeeper', 'bookkeeper', 'broker', 'proxy']) expect(v.pulsarv3[c]!.replicaCount, c).toBe(1)
    expect(v.pulsarv3.broker!.configData).toMatchObject({
      managedLedgerDefaultEnsembleSize: '1',
      managedLedgerDefaultWriteQuorum: '1',
      managedLedgerDefaultAckQuorum: '1',
    })
  })

  it.each([
    [15 * 60_000, 870], // 10 % capped at 30 s
    [90_000, 81],
    [5_000, 4],
    [500, 1],
  ])('helm gets its own --timeout a little under %i ms left: %i s', (remaining, want) => {
    expect(helmTimeoutSeconds(remaining)).toBe(want)
  })

  it("the user's values win over the mode's, and the ServiceMonitor stays on", () => {
    const v = releaseValues('standalone', { etcd: { replicaCount: 3 }, metrics: { serviceMonitor: { enabled: false, interval: '15s' } } })
    expect(v.etcd).toEqual({ replicaCount: 3, readinessProbe: { initialDelaySeconds: 5, periodSeconds: 5 } })
    expect(v.minio).toEqual({ mode: 'standalone', resources: { requests: { memory: '256Mi' } } })
    expect(v.metrics).toEqual({ enabled: true, serviceMonitor: { enabled: true, interval: '15s' } })
  })

  it.each([
    ['readinessProbe', { readinessProbe: { initialDelaySeconds: 90 } }, { initialDelaySeconds: 90, periodSeconds: 5 }],
    [
      'livenessProbe',
      { livenessProbe: { initialDelaySeconds: 120, failureThreshold: 3 } },
      { initialDelaySeconds: 120, periodSeconds: 30, failureThreshold: 3 },
    ],
    [
      'etcd',
      { etcd: { readinessProbe: { initialDelaySeconds: 60 } } },
      { replicaCount: 1, readinessProbe: { initialDelaySeconds: 60, periodSeconds: 5 } },
    ],
  ])('each CI timing value is overridable through values: %s', (key, user, want) => {
    expect(releaseValues('standalone', user)[key]).toEqual(want)
  })

  it('cluster mode keeps the chart timing', () => {
    const v = releaseValues('cluster', {})
    expect(v.readinessProbe).toBeUndefined()
    expect(v.metrics).toEqual({ enabled: true, serviceMonitor: { enabled: true } })
  })
})

describe('helm upgrade --install arguments', () => {
  it.each([
    [
      'a repository chart',
      { chart: 'milvus', repo: 'https://zilliztech.github.io/milvus-helm/', version: '5.0.19' },
      [
        'upgrade',
        '--install',
        'r',
        'milvus',
        '--repo',
        'https://zilliztech.github.io/milvus-helm/',
        '--version',
        '5.0.19',
        '--namespace',
        'ns',
        '--values',
        'v.yaml',
        '--wait',
        '--timeout=120s',
      ],
    ],
    [
      'an OCI chart',
      { chart: 'oci://registry.example/charts/milvus', repo: '', version: '5.0.19' },
      [
        'upgrade',
        '--install',
        'r',
        'oci://registry.example/charts/milvus',
        '--version',
        '5.0.19',
        '--namespace',
        'ns',
        '--values',
        'v.yaml',
        '--wait',
        '--timeout=120s',
      ],
    ],
    [
      'a local chart',
      { chart: './charts/milvus', repo: '', version: '' },
      ['upgrade', '--install', 'r', './charts/milvus', '--namespace', 'ns', '--values', 'v.yaml', '--wait', '--timeout=120s'],
    ],
  ])('%s', (_, chart, want) => {
    expect(upgradeInstallArgs({ release: 'r', namespace: 'ns', chart, valuesFiles: ['v.yaml'], timeoutSeconds: 120.7 })).toEqual(want)
  })
})

describe('secret values', () => {
  it.each([
    ['a MinIO secret key', { minio: { secretKey: 'hunter2', accessKey: 'AKIA1', mode: 'standalone' } }, ['hunter2', 'AKIA1']],
    ['everything below a secret-looking map', { externalS3: { credentials: { user: 'u', value: 'v' } } }, ['u', 'v']],
    ['list items under a secret key', { tokens: ['a', 'b'] }, ['a', 'b']],
    ['nothing secret', { etcd: { replicaCount: 1 }, image: { tag: 'v2.6' } }, []],
    ['empty secrets are not masked', { password: '' }, []],
  ])('%s', (_, values, want) => {
    expect(secretValues(values).sort()).toEqual(want.sort())
  })
})

describe('releases the action owns and their recovery', () => {
  const h = (...statuses: string[]) => statuses.map((status, i) => ({ revision: i + 1, status }))
  it.each<[string, ReturnType<typeof h>, boolean, Recovery]>([
    ['no release', [], true, { kind: 'none' }],
    ['deployed', h('superseded', 'deployed'), true, { kind: 'none' }],
    ['failed', h('deployed', 'failed'), true, { kind: 'none' }],
    ['a first install left pending', h('pending-install'), true, { kind: 'uninstall', revision: 1, status: 'pending-install' }],
    [
      'an upgrade left pending',
      h('superseded', 'deployed', 'pending-upgrade'),
      true,
      { kind: 'rollback', revision: 3, status: 'pending-upgrade', to: 2 },
    ],
    [
      'an upgrade after a failed one left pending',
      h('deployed', 'failed', 'pending-upgrade'),
      true,
      { kind: 'rollback', revision: 3, status: 'pending-upgrade', to: 1 },
    ],
    [
      'a rollback left pending with nothing deployed',
      h('failed', 'pending-rollback'),
      true,
      { kind: 'rollback', revision: 2, status: 'pending-rollback', to: 1 },
    ],
    [
      "someone else's pending release",
      h('deployed', 'pending-upgrade'),
      false,
      { kind: 'foreign', revision: 2, status: 'pending-upgrade' },
    ],
  ])('%s', (_n, history, owned, want) => expect(recoveryFor(history, owned)).toEqual(want))

  const rel = { namespace: 'milvus', name: 'my-release' }
  const deployed = [{ revision: 1, status: 'deployed', chart: 'milvus-5.0.19', app_version: 'v2.6.15' }]
  it("refuses someone else's deployed release, naming it, its chart and version, and the two ways on", () => {
    const message = foreignReleaseRefusal(rel, deployed, false)
    expect(message).toContain(
      'Helm release milvus/my-release (chart milvus-5.0.19, app version v2.6.15; revision 1, deployed) was not installed by this action',
    )
    expect(message).toContain('install-milvus: false')
    expect(message).toContain('another release-name')
    expect(message).toContain('Nothing was changed')
  })
  it.each<[string, typeof deployed, boolean]>([
    ['no release', [], false],
    ['its own release', deployed, true],
    ['its own pending release (recoveryFor recovers it)', [{ ...deployed[0]!, status: 'pending-install' }], true],
  ])('lets through: %s', (_n, history, owned) => expect(foreignReleaseRefusal(rel, history, owned)).toBeUndefined())
  it("refuses someone else's pending release before any change, naming the helm command that recovers it", () => {
    const message = foreignReleaseRefusal(rel, [...deployed, { revision: 2, status: 'pending-upgrade' }], false)
    expect(message).toContain('Helm release milvus/my-release is pending-upgrade (revision 2), left by an operation that did not finish')
    expect(message).toContain('Nothing was changed')
    expect(message).toContain('helm rollback my-release -n milvus')
  })
  it("refuses someone else's failed release too", () =>
    expect(foreignReleaseRefusal(rel, [{ revision: 2, status: 'failed' }], false)).toContain('(chart unknown; revision 2, failed)'))

  it("marks its releases in the values, and adds the labels the Prometheus selects by under the user's", () => {
    const values = releaseValues(
      'standalone',
      { metrics: { serviceMonitor: { additionalLabels: { team: 'ml' } } } },
      { release: 'kps', team: 'x' },
    )
    expect(ownedRelease(values)).toBe(true)
    expect(ownedRelease({})).toBe(false)
    expect((values.metrics as { serviceMonitor: Record<string, unknown> }).serviceMonitor).toEqual({
      enabled: true,
      interval: '10s',
      additionalLabels: { release: 'kps', team: 'ml' },
    })
    expect(releaseValues('cluster', {}).metrics).toEqual({ enabled: true, serviceMonitor: { enabled: true } })
  })
})

describe('helm arguments per Helm line', () => {
  const o = { release: 'r', namespace: 'ns', chart: { chart: 'milvus', repo: '', version: '' }, valuesFiles: [], timeoutSeconds: 60 }
  it.each([
    ['v4.1.4', true],
    ['v3.17.2', false],
    [undefined, false],
  ])('upgrade --install with %s: --force-conflicts %s', (version, force) => {
    const args = upgradeInstallArgs(o, version)
    expect(args.includes('--force-conflicts')).toBe(force)
    // Never --force-conflicts alone: Helm 4 refuses it for a release Helm 3 deployed client-side.
    expect(args.includes('--server-side=true')).toBe(force)
  })

  it.each([
    ['v3.0.0', ['uninstall', 'r', '-n', 'ns', '--timeout=300s']],
    ['v3.6.3', ['uninstall', 'r', '-n', 'ns', '--timeout=300s']],
    ['v3.7.0', ['uninstall', 'r', '-n', 'ns', '--wait', '--timeout=300s']],
    ['v4.1.4', ['uninstall', 'r', '-n', 'ns', '--wait', '--timeout=300s']],
  ])('uninstall with %s', (version, want) => expect(uninstallArgs('r', 'ns', 300, version)).toEqual(want))
})

describe('secret values', () => {
  it.each([
    ['a secret-looking key', { minio: { secretKey: 'abc123' } }, ['abc123']],
    [
      'the env-list shape',
      {
        standalone: {
          extraEnv: [
            { name: 'DB_PASSWORD', value: 'hunter2' },
            { name: 'LOG_LEVEL', value: 'debug' },
          ],
        },
      },
      ['hunter2'],
    ],
    ['a short number under a secret-looking key is not a secret', { tokenTtl: 300 }, []],
    ['a long number is', { apiKey: 12345678 }, ['12345678']],
    [
      'inside extraConfigFiles, a YAML text',
      { extraConfigFiles: { 'user.yaml': 'minio:\n  secretAccessKey: s3cr3t\n  address: minio\n' } },
      ['s3cr3t'],
    ],
    ['not in a configuration file of comments only', { extraConfigFiles: { 'user.yaml': '# token: none\n' } }, []],
  ])('%s', (_n, values, want) => {
    expect(secretValues(values)).toEqual(want)
  })
})

describe('a namespace whose deletion cannot finish', () => {
  const now = Date.parse('2026-12-04T12:00:00Z')
  const ns = (type: string, ageS: number, message = 'm') => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'milvus', deletionTimestamp: '2026-12-04T11:00:00Z' },
    status: {
      phase: 'Terminating',
      conditions: [
        { type, status: 'True', message, lastTransitionTime: new Date(now - ageS * 1000).toISOString() },
        { type: 'NamespaceDeletionContentFailure', status: 'False' },
      ],
    },
  })
  it('a stale APIService blocking discovery for 30 s is stuck, with the fix', () => {
    const r = stuckTermination(
      ns(
        'NamespaceDeletionDiscoveryFailure',
        31,
        'Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: stale GroupVersion discovery',
      ),
      now,
    )
    expect(r.stuck).toMatch(
      /metrics.k8s.io\/v1beta1: stale GroupVersion discovery \(NamespaceDeletionDiscoveryFailure for 31 s\); an APIService that does not answer[\s\S]*kubectl get apiservices/,
    )
  })
  it('a discovery failure younger than its grace: look again when the grace ends', () => {
    expect(stuckTermination(ns('NamespaceDeletionDiscoveryFailure', 10), now)).toEqual({ recheckInMs: 20_100 })
  })
  it('content remaining while pods end: waited on for three minutes, then stuck naming the finalizers', () => {
    expect(stuckTermination(ns('NamespaceFinalizersRemaining', 60), now).stuck).toBeUndefined()
    expect(
      stuckTermination(
        ns(
          'NamespaceFinalizersRemaining',
          181,
          'Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances',
        ),
        now,
      ).stuck,
    ).toMatch(/example.com\/keep[\s\S]*remove it from the objects named/)
  })
  it('content and the finalizers holding it, both stuck: both named, so the finalizer is', () => {
    const both = ns('NamespaceContentRemaining', 3600, 'Some resources are remaining: configmaps. has 1 resource instances')
    both.status.conditions.push({
      type: 'NamespaceFinalizersRemaining',
      status: 'True',
      message: 'Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances',
      lastTransitionTime: new Date(now - 3600_000).toISOString(),
    })
    const r = stuckTermination(both, now)
    expect(r.stuck).toMatch(/configmaps\. has 1 resource instances \(NamespaceContentRemaining for 3600 s\)/)
    expect(r.stuck).toMatch(
      /example\.com\/keep in 1 resource instances \(NamespaceFinalizersRemaining for 3600 s\); a finalizer is not being removed/,
    )
  })
  it('a deletion going well: nothing to say', () => {
    expect(
      stuckTermination(
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: 'milvus' },
          status: { phase: 'Terminating', conditions: [{ type: 'NamespaceDeletionDiscoveryFailure', status: 'False' }] },
        },
        now,
      ),
    ).toEqual({})
  })
})

describe("HelmRelease.check with someone else's release", () => {
  it('refuses before the values are written or the chart rendered: only helm history and get values ran', async () => {
    const calls: string[] = []
    const helm = {
      history: async () => (calls.push('history'), [{ revision: 3, status: 'deployed', chart: 'milvus-5.0.19', app_version: 'v2.6.15' }]),
      values: async () => (calls.push('values'), { standalone: { extraEnv: [{ name: 'TEAM', value: 'x' }] } }),
      template: async () => (calls.push('template'), ''),
    }
    const inputs = { namespace: 'milvus', releaseName: 'theirs', milvusMode: 'standalone', values: {} } as unknown as Inputs
    const run = { inputs, helm, kube: {}, budget: new Budget(60_000), stack: { serviceMonitorLabels: {} } } as unknown as StackRun
    const release = new HelmRelease(inputs)
    await expect(release.check(run)).rejects.toThrow(
      'Helm release milvus/theirs (chart milvus-5.0.19, app version v2.6.15; revision 3, deployed) was not installed by this action',
    )
    expect(calls).toEqual(['history', 'values'])
    expect(() => release.install(run)).toThrow(/install before check/) // no values file was written
  })
})

describe('admissionHint', () => {
  it.each([
    ['Error: admission webhook "deny.example.com" denied the request: no', /webhook "deny\.example\.com" refused the release/],
    [
      'Error: Internal error occurred: failed calling webhook "gone.example.com": service not found',
      /webhook "gone\.example\.com" does not answer/,
    ],
    ["Error: ValidatingAdmissionPolicy 'team-label' with binding 'b' denied request", /ValidatingAdmissionPolicy team-label refused/],
  ])('names who refused helm: %s', (message, hint) => expect(admissionHint(message)).toMatch(hint))

  it('adds nothing to other errors', () => expect(admissionHint('Error: context deadline exceeded')).toBe(''))
})
