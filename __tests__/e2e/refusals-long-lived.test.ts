// What a cluster that lives on refuses, and a fresh one never does: webhook configurations left by
// an uninstalled stack, objects of the release's names that someone else owns, a
// ValidatingAdmissionPolicy, a LimitRange, a namespace stuck terminating, node selectors and
// taints no node offers. Each run ends before any change (or within seconds of the scheduler's
// refusal), naming the object and the fix, never waiting out its budget. Each case makes what refuses and removes it at its end.
import { describe, expect, it } from 'vitest'
import { dropNamespace, E2E, e2e, failed, inputs, MIN, sinceFirstEvent, tempFile, useLocalCluster } from './support.ts'

/** Resolves once `probe` resolves true (polled every 250 ms for at most 30 s): a policy or webhook the API server has taken in. */
async function effective(what: string, probe: () => Promise<boolean>): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 30_000; await new Promise((r) => setTimeout(r, 250))) {
    if (await probe().catch(() => false)) return
  }
  throw new Error(`${what} did not take effect within 30 s`)
}

/** Whether the API server refuses a server-side dry run of a Pod requesting 256Mi in `namespace` with `needle` in its answer. */
async function podRefused(namespace: string, needle: RegExp): Promise<boolean> {
  const overrides = { spec: { containers: [{ name: 'probe', image: 'busybox', resources: { requests: { memory: '256Mi' } } }] } }
  const answer = await e2e.cluster
    .kubectl([
      'run',
      'probe',
      '-n',
      namespace,
      '--image=busybox',
      '--restart=Never',
      '--dry-run=server',
      `--overrides=${JSON.stringify(overrides)}`,
      '-o',
      'name',
    ])
    .then(
      () => '',
      (e: Error) => e.message,
    )
  return needle.test(answer)
}

/** The action's own objects in a namespace (a hold, a discovery Role): none when the run changed nothing there. */
async function actionObjects(namespace: string): Promise<string> {
  return (
    await e2e.cluster.kubectl([
      'get',
      'leases,roles,rolebindings',
      '-n',
      namespace,
      '-l',
      'app.kubernetes.io/managed-by=milvus-monitoring-action',
      '-o',
      'name',
    ])
  ).trim()
}

/** Whether helm knows a release of that name in that namespace. */
async function releaseExists(namespace: string, release: string): Promise<boolean> {
  return (await e2e.cluster.helm(['list', '-n', namespace, '-q', '-f', `^${release}$`])).trim() !== ''
}

/** Each case's measured time from the start of the run to its refusal, printed at the end of the file. */
const times: Array<[string, number]> = []

/** Runs the main step; `ms` is the time from its start to the first output holding `needle` (Infinity when none does). */
async function mainUntil(extra: Record<string, string>, needle: string, what: string) {
  const started = Date.now()
  let at: number | undefined
  const r = await e2e.runner.main(inputs(extra), { onStdout: (c) => void (c.includes(needle) && (at ??= Date.now())) })
  const ms = at === undefined ? Infinity : at - started
  times.push([what, ms])
  return { r, ms }
}

describe.runIf(E2E)('what a long-lived cluster refuses, named in seconds', () => {
  useLocalCluster()

  it(
    'webhook configurations an uninstalled stack left behind: named before any change, with the webhook, its missing Service and the fix',
    async () => {
      const { cluster, runner } = e2e
      const ns = 'milvus-hook'
      // Only for this case's namespace: no other run on the cluster meets it.
      const config =
        'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: e2e-gone-stack-admission}\nwebhooks:\n' +
        '- name: prometheusrules.gone-stack.example.com\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  failurePolicy: Fail\n' +
        '  clientConfig: {service: {namespace: e2e-gone-stack, name: gone-operator, port: 443, path: /admission-prometheusrules/validate}}\n' +
        `  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ${ns}}}\n` +
        '  rules: [{apiGroups: [monitoring.coreos.com], apiVersions: ["*"], resources: [prometheusrules], operations: [CREATE, UPDATE]}]\n'
      await cluster.kubectl(['apply', '-f', tempFile('hook.yaml', config)])
      try {
        const { r, ms } = await mainUntil(
          { namespace: ns, 'release-name': 'hook' },
          'admission would refuse',
          'a webhook left by an uninstalled stack',
        )
        expect(r.code, failed(r)).not.toBe(0)
        expect(r.stdout).toMatch(/::error::The cluster's admission would refuse the Milvus release hook; nothing was changed/)
        expect(r.stdout).toMatch(
          /ValidatingWebhookConfiguration e2e-gone-stack-admission, webhook "prometheusrules\.gone-stack\.example\.com": intercepts the creation of the alert rules \(PrometheusRule hook-milvus-alerts\) with failurePolicy Fail, and its Service e2e-gone-stack\/gone-operator does not exist/,
        )
        expect(r.stdout).toMatch(/kubectl delete validatingwebhookconfiguration e2e-gone-stack-admission/)
        // Before any change: no namespace, no release.
        await expect(cluster.kubectl(['get', 'namespace', ns])).rejects.toThrow(/NotFound/)
        expect(ms).toBeLessThan(MIN)
        await runner.post(r.state)
      } finally {
        await cluster.kubectl(['delete', 'validatingwebhookconfiguration', 'e2e-gone-stack-admission', '--ignore-not-found'])
        await dropNamespace(ns, 'hook')
      }
    },
    5 * MIN,
  )

  it(
    "an object of the release's names that someone else created: named before any change, with its owner and the fix",
    async () => {
      const { cluster, runner } = e2e
      const ns = 'milvus-foreign'
      await cluster.kubectl(['create', 'namespace', ns]).catch(() => '')
      await cluster.kubectl(['create', 'configmap', 'foreign-milvus', '-n', ns, '--from-literal=milvus.yaml=theirs'])
      try {
        const { r, ms } = await mainUntil({ namespace: ns, 'release-name': 'foreign' }, 'someone else', 'an object someone else owns')
        expect(r.code, failed(r)).not.toBe(0)
        expect(r.stdout).toMatch(/::error::The Milvus release foreign would take objects that are someone else's; nothing was changed/)
        expect(r.stdout).toMatch(
          /ConfigMap milvus-foreign\/foreign-milvus exists and is not release foreign's \(owner: no release; written by kubectl-create\); helm would refuse it \(invalid ownership metadata\)/,
        )
        expect(r.stdout).toMatch(/kubectl annotate configmaps foreign-milvus -n milvus-foreign meta\.helm\.sh\/release-name=foreign/)
        expect(await releaseExists(ns, 'foreign')).toBe(false)
        expect(await actionObjects(ns)).toBe('')
        expect(await cluster.kubectl(['get', 'configmap', 'foreign-milvus', '-n', ns, '-o', 'jsonpath={.data.milvus\\.yaml}'])).toBe(
          'theirs',
        )
        expect(ms).toBeLessThan(MIN)
        await runner.post(r.state)
      } finally {
        await dropNamespace(ns, 'foreign')
      }
    },
    5 * MIN,
  )

  it(
    'a ValidatingAdmissionPolicy that denies the Deployments: named before any change by the dry run, with the policy and its binding',
    async () => {
      const { cluster, runner } = e2e
      const ns = 'milvus-vap'
      await cluster.kubectl(['create', 'namespace', ns]).catch(() => '')
      const policy =
        'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {name: e2e-team-label}\nspec:\n  failurePolicy: Fail\n' +
        '  matchConstraints: {resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}]}\n' +
        "  validations: [{expression: \"has(object.metadata.labels) && 'team' in object.metadata.labels\", message: 'every Deployment here needs a team label'}]\n---\n" +
        'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {name: e2e-team-label-binding}\n' +
        `spec: {policyName: e2e-team-label, validationActions: [Deny], matchResources: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ${ns}}}}}\n`
      await cluster.kubectl(['apply', '-f', tempFile('vap.yaml', policy)])
      try {
        await effective('the policy', () =>
          cluster.kubectl(['create', 'deployment', 'probe', '-n', ns, '--image=busybox', '--dry-run=server', '-o', 'name']).then(
            () => false,
            (e: Error) => /denied request/.test(e.message),
          ),
        )
        const { r, ms } = await mainUntil({ namespace: ns, 'release-name': 'vap' }, 'admission would refuse', 'a ValidatingAdmissionPolicy')
        expect(r.code, failed(r)).not.toBe(0)
        expect(r.stdout).toMatch(/::error::The cluster's admission would refuse the Milvus release vap; nothing was changed/)
        expect(r.stdout).toMatch(
          /Deployment milvus-vap\/vap-milvus-standalone: .*ValidatingAdmissionPolicy 'e2e-team-label' with binding 'e2e-team-label-binding' denied request/,
        )
        expect(r.stdout).toMatch(/The ValidatingAdmissionPolicy e2e-team-label \(binding e2e-team-label-binding\) refuses it/)
        expect(await releaseExists(ns, 'vap')).toBe(false)
        expect(await actionObjects(ns)).toBe('')
        expect(ms).toBeLessThan(MIN)
        await runner.post(r.state)
      } finally {
        await cluster.kubectl(['delete', 'validatingadmissionpolicybinding', 'e2e-team-label-binding', '--ignore-not-found'])
        await cluster.kubectl(['delete', 'validatingadmissionpolicy', 'e2e-team-label', '--ignore-not-found'])
        await dropNamespace(ns, 'vap')
      }
    },
    5 * MIN,
  )

  it(
    "a LimitRange whose minimum MinIO's memory request is under: named before any change by the dry run of the pods",
    async () => {
      const { cluster, runner } = e2e
      const ns = 'milvus-limits'
      await cluster.kubectl(['create', 'namespace', ns]).catch(() => '')
      const limits = `apiVersion: v1\nkind: LimitRange\nmetadata: {name: big-only, namespace: ${ns}}\nspec: {limits: [{type: Container, min: {memory: 512Mi}}]}\n`
      await cluster.kubectl(['apply', '-f', tempFile('limits.yaml', limits)])
      try {
        await effective('the LimitRange', () => podRefused(ns, /minimum memory usage per Container/))
        const { r, ms } = await mainUntil({ namespace: ns, 'release-name': 'limits' }, 'admission would refuse', 'a LimitRange')
        expect(r.code, failed(r)).not.toBe(0)
        expect(r.stdout).toMatch(/::error::The cluster's admission would refuse the Milvus release limits; nothing was changed/)
        expect(r.stdout).toMatch(
          /the pods of Deployment milvus-limits\/limits-minio: .*minimum memory usage per Container is 512Mi, but request is 256Mi/,
        )
        expect(r.stdout).toMatch(/A LimitRange in the namespace refuses the requests/)
        expect(await releaseExists(ns, 'limits')).toBe(false)
        expect(await actionObjects(ns)).toBe('')
        expect(ms).toBeLessThan(MIN)
        await runner.post(r.state)
      } finally {
        await dropNamespace(ns, 'limits')
      }
    },
    5 * MIN,
  )

  it(
    'a namespace stuck terminating on a finalizer nobody removes: named before any change, with the finalizer and the fix',
    async () => {
      const { cluster, runner } = e2e
      const ns = 'milvus-terminating'
      await cluster.kubectl(['create', 'namespace', ns]).catch(() => '')
      const held = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: ${ns}, finalizers: [e2e.example.com/hold]}\n`
      await cluster.kubectl(['apply', '-f', tempFile('held.yaml', held)])
      await cluster.kubectl(['delete', 'namespace', ns, '--wait=false'])
      try {
        const condition = (type: string) =>
          cluster.kubectl(['get', 'namespace', ns, '-o', `jsonpath={.status.conditions[?(@.type=="${type}")].status}`])
        await effective(
          "the namespace controller's report of the finalizer",
          async () => (await condition('NamespaceFinalizersRemaining')) === 'True',
        )
        // Dated an hour back, as on a cluster where it has been stuck since: the controller keeps a
        // condition's lastTransitionTime while its status stays the same.
        const { status } = await cluster.kubectlJson<{ status: { conditions: Array<Record<string, string>> } }>(['get', 'namespace', ns])
        const hourAgo = new Date(Date.now() - 3600_000).toISOString().replace(/\.\d+Z$/, 'Z')
        const conditions = status.conditions.map((c) => ({ ...c, lastTransitionTime: hourAgo }))
        await cluster.kubectl([
          'patch',
          'namespace',
          ns,
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({ status: { conditions } }),
        ])
        const { r, ms } = await mainUntil({ namespace: ns, 'release-name': 'stuck' }, 'cannot finish', 'a namespace stuck terminating')
        expect(r.code, failed(r)).not.toBe(0)
        expect(r.stdout).toMatch(
          /::error::Namespace milvus-terminating is being deleted, but the deletion cannot finish; nothing was changed/,
        )
        expect(r.stdout).toMatch(
          /e2e\.example\.com\/hold in 1 resource instances \(NamespaceFinalizersRemaining for \d+ s\); a finalizer is not being removed/,
        )
        expect(await releaseExists(ns, 'stuck')).toBe(false)
        expect(await actionObjects(ns)).toBe('')
        expect(ms).toBeLessThan(MIN)
        await runner.post(r.state)
      } finally {
        await cluster
          .kubectl(['patch', 'configmap', 'held', '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'])
          .catch(() => '')
      }
    },
    5 * MIN,
  )

  it(
    "a nodeSelector no node's labels match: FailedScheduling named within a minute, with the selector and the nodes' labels",
    async () => {
      const { runner } = e2e
      const ns = 'milvus-selector'
      const since = Date.now()
      try {
        const { r, ms } = await mainUntil(
          { namespace: ns, 'release-name': 'sel', values: 'nodeSelector:\n  e2e-pool: gpu\n', timeout: '10m' },
          'The cluster refused',
          'a nodeSelector no node matches',
        )
        const lag = await sinceFirstEvent(ns, 'FailedScheduling', since)
        times.push(['a nodeSelector no node matches, from the first FailedScheduling to the end of the run', lag])
        expect(ms).toBeLessThan(3 * MIN)
        expect(r.code, failed(r)).not.toBe(0)
        expect(r.stdout).toMatch(
          /::error::The cluster refused the Milvus release sel: Pod milvus-selector\/\S+: FailedScheduling: .*didn't match Pod's node affinity\/selector/,
        )
        expect(r.stdout).toMatch(/The pod selects: nodeSelector e2e-pool=gpu/)
        expect(r.stdout).toMatch(/The nodes: \S+: e2e-pool=\(none\)/)
        expect(lag).toBeLessThan(MIN)
        await runner.post(r.state)
      } finally {
        await dropNamespace(ns, 'sel')
      }
    },
    12 * MIN,
  )

  it(
    'a taint on every node the pods do not tolerate: FailedScheduling named within a minute, with the taint',
    async () => {
      const { cluster, runner } = e2e
      const ns = 'milvus-taint'
      const nodes = (await cluster.kubectl(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ')
      await cluster.kubectl(['taint', 'nodes', ...nodes, 'e2e-dedicated=infra:NoSchedule', '--overwrite'])
      const since = Date.now()
      try {
        const { r, ms } = await mainUntil(
          { namespace: ns, 'release-name': 'taint', timeout: '10m' },
          'The cluster refused',
          'a taint no pod tolerates',
        )
        const lag = await sinceFirstEvent(ns, 'FailedScheduling', since)
        times.push(['a taint no pod tolerates, from the first FailedScheduling to the end of the run', lag])
        expect(ms).toBeLessThan(3 * MIN)
        expect(r.code, failed(r)).not.toBe(0)
        expect(r.stdout).toMatch(
          /::error::The cluster refused the Milvus release taint: Pod milvus-taint\/\S+: FailedScheduling: .*had untolerated taint/,
        )
        expect(r.stdout).toMatch(/taints e2e-dedicated=infra:NoSchedule/)
        expect(lag).toBeLessThan(MIN)
        await runner.post(r.state)
      } finally {
        await cluster.kubectl(['taint', 'nodes', ...nodes, 'e2e-dedicated:NoSchedule-']).catch(() => '')
        await dropNamespace(ns, 'taint')
      }
    },
    12 * MIN,
  )

  it('times, from the start of the run to the refusal', () => {
    for (const [what, ms] of times) console.log(`refusal time: ${what}: ${(ms / 1000).toFixed(1)} s`)
  })
})
