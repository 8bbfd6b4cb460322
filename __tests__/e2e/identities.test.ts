// Identities that are not cluster-admin: a ServiceAccount bound to the admin ClusterRole in the
// release's namespace, with the Roles docs/permissions.md lists (read from that file, so the
// document is what is tested), running against kube-prometheus' Prometheus monitoring/k8s
// named by the `prometheus` input, with prometheus-rbac: false. A 403 on anything cluster-wide
// the run does not need would fail these runs. Then the same identity short of one permission,
// and the same identity as a runner pod sees it: no kubeconfig, a ServiceAccount token and the
// cluster's CA at the pod's path (a bind mount in a mount namespace of the run's own),
// KUBERNETES_SERVICE_HOST/PORT set.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { makeRunner, type Runner, type StepResult } from '../../local-cluster/runner.ts'
import { E2E, e2e, ensureKubePrometheus, failed, inputs, MIN, removeWhenDone, ROOT, tempFile, useLocalCluster } from './support.ts'

const PROMETHEUS = 'monitoring/k8s'
const RELEASE = 'idrel'
/** Where a pod finds its ServiceAccount (hard-coded in @kubernetes/client-node and client-go). */
const SA_PATH = '/var/run/secrets/kubernetes.io/serviceaccount'

/** The first yaml block after `heading` in docs/permissions.md. */
function docBlock(heading: string): string {
  const doc = readFileSync(join(ROOT, 'docs', 'permissions.md'), 'utf8')
  const from = doc.indexOf(`\n## ${heading}\n`)
  expect(from, `section "${heading}" of docs/permissions.md`).toBeGreaterThan(0)
  const m = /```yaml\n([\s\S]*?)```/.exec(doc.slice(from))
  return m![1]!
}

/** A block of the document for namespace `ns` instead of `milvus` (names such as milvus-ci stay). */
const forNamespace = (yaml: string, ns: string) => yaml.replace(/(?<![\w-])milvus(?![\w-])/g, ns)

/**
 * Namespace `ns`, the ServiceAccount milvus-ci in it bound as docs/permissions.md says (`edit`
 * changes the document's block first), the discovery RBAC the platform team adds for
 * prometheus-rbac: false, and a kubeconfig of a token of it (TokenRequest). Removed when the
 * case ends, the Roles in monitoring included.
 */
async function namespaceAdmin(ns: string, edit: (yaml: string) => string = (y) => y, extra: string[] = []) {
  const { cluster } = e2e
  await ensureKubePrometheus()
  removeWhenDone(ns, RELEASE)
  onTestFinished(async () => {
    for (const name of [`milvus-monitoring-action.${ns}`, `milvus-monitoring-action-drill.${ns}`])
      await cluster.kubectl(['delete', 'role,rolebinding', name, '-n', 'monitoring', '--ignore-not-found'])
  })
  await cluster.kubectl(['create', 'namespace', ns])
  const rbac = edit(forNamespace(docBlock('A namespace admin'), ns))
  await cluster.kubectl([
    'apply',
    '-f',
    tempFile(
      'identity.yaml',
      [rbac, ...[...extra, "The Prometheus' discovery RBAC"].map((heading) => forNamespace(docBlock(heading), ns))].join('\n---\n'),
    ),
  ])
  const token = (await cluster.kubectl(['create', 'token', 'milvus-ci', '-n', ns, '--duration=2h'])).trim()
  const admin = readFileSync(cluster.env.KUBECONFIG!, 'utf8')
  const server = /server: (\S+)/.exec(admin)![1]!
  const ca = /certificate-authority: (\S+)/.exec(admin)![1]!
  const kubeconfig = tempFile(
    'kubeconfig',
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: ${server}, certificate-authority: ${ca}}}]\n` +
      `users: [{name: milvus-ci, user: {token: ${token}}}]\ncontexts: [{name: ci, context: {cluster: c, user: milvus-ci, namespace: ${ns}}}]\ncurrent-context: ci\n`,
  )
  return { token, server, ca, kubeconfig }
}

/** The action's inputs for a namespace admin: the named Prometheus, no stack install, no RBAC added. */
function adminInputs(ns: string): Record<string, string> {
  return inputs({
    namespace: ns,
    'release-name': RELEASE,
    'install-kube-prometheus': 'false',
    prometheus: PROMETHEUS,
    'prometheus-rbac': 'false',
    cleanup: 'true',
  })
}

/** Runs main, noting the ms from its start to the first line matching `marker`. */
async function timed(runner: Runner, with_: Record<string, string>, env: Record<string, string>, marker: RegExp) {
  const started = performance.now()
  let at: number | undefined
  let seen = ''
  const r: StepResult = await runner.main(with_, {
    env,
    onStdout: (chunk) => {
      seen += chunk
      if (at === undefined && marker.test(seen)) at = performance.now() - started
    },
  })
  return { r, at }
}

/** What a run left in `ns` that a refused run must not have made. */
async function madeIn(ns: string): Promise<string> {
  const { cluster } = e2e
  return (
    (await cluster.kubectl(['get', 'servicemonitor,prometheusrule,lease,statefulset,deployment,service', '-n', ns, '-o', 'name'])) +
    (await cluster.helm(['list', '-n', ns, '-q']))
  ).trim()
}

describe.runIf(E2E)('identities that are not cluster-admin', () => {
  useLocalCluster()

  it(
    'a namespace admin with a named Prometheus, prometheus-rbac false and the drill: target up, drill held, nothing cluster-wide asked, post step cleans',
    async () => {
      const { cluster, runner } = e2e
      const ns = 'e2e-id-admin'
      const { kubeconfig } = await namespaceAdmin(ns, undefined, ['The alert fire drill'])
      const { r, at } = await timed(runner, { ...adminInputs(ns), 'alert-drill': 'true' }, { KUBECONFIG: kubeconfig }, /Milvus target up:/)
      expect(r.code, failed(r)).toBe(0)
      // The drill's silence, alert and rule, through the Alertmanager's proxies, with the Role the document gives.
      expect(JSON.parse(r.outputs['alert-drill-result']!)).toMatchObject({
        state: 'suppressed',
        alertmanager: 'monitoring/alertmanager-main:web',
      })
      expect(r.stdout).not.toMatch(/could not resolve the drill's alert|could not remove/)
      console.log(`namespace admin: target up after ${(at! / 1000).toFixed(1)} s (run ${Math.round(r.ms / 1000)} s)`)
      // The access review asked nothing cluster-wide, and kube-system was not readable (logged once).
      expect(r.stdout).not.toContain('(cluster-wide)')
      expect(r.stdout.match(/Namespace kube-system is not readable/g)).toHaveLength(1)
      expect(r.stdout).toContain('prometheus-rbac is false: no Role or RoleBinding added')
      expect(r.outputs['scrape-pool']).toBe(`serviceMonitor/${ns}/${RELEASE}-milvus-standalone/0`)
      expect(r.outputs['target-health']).toBe('up')
      expect((await cluster.get(`${r.outputs['prometheus-url']}/-/ready`)).status).toBe(200)
      const post = await runner.post(r.state, { env: { KUBECONFIG: kubeconfig } })
      expect(post.code, failed(post)).toBe(0)
      expect(await cluster.helm(['list', '-n', ns, '-q'])).toBe('')
      // The namespace was there before the run: it stays.
      expect(await cluster.kubectl(['get', 'namespace', ns, '-o', 'name'])).toContain(ns)
    },
    15 * MIN,
  )

  it(
    'the same identity without get pods/proxy on the Prometheus: fails before any change, naming the permission',
    async () => {
      const { runner } = e2e
      const ns = 'e2e-id-denied'
      const { kubeconfig } = await namespaceAdmin(ns, (y) => y.replace('[services/proxy, pods/proxy]', '[services/proxy]'))
      const { r, at } = await timed(runner, adminInputs(ns), { KUBECONFIG: kubeconfig }, /::error::/)
      await runner.post(r.state, { env: { KUBECONFIG: kubeconfig } })
      expect(r.code).not.toBe(0)
      console.log(`namespace admin without pods/proxy: refused after ${(at! / 1000).toFixed(1)} s`)
      expect(r.stdout).toMatch(/::error::The kubeconfig's identity may not do what the action needs with these inputs; nothing was changed/)
      const denied = r.stdout.split('\n').filter((l) => l.includes('  - ') && / in namespace | \(cluster-wide\)/.test(l))
      expect(denied).toEqual([expect.stringContaining('get pods/proxy in namespace monitoring')])
      expect(r.stdout).toContain('docs/permissions.md')
      expect(at!).toBeLessThan(30_000)
      expect(await madeIn(ns)).toBe('')
    },
    10 * MIN,
  )

  it(
    "the same identity with alert-drill and without the drill's Role: fails before any change, naming what the drill does in monitoring",
    async () => {
      const { runner } = e2e
      const ns = 'e2e-id-nodrill'
      const { kubeconfig } = await namespaceAdmin(ns)
      const { r, at } = await timed(runner, { ...adminInputs(ns), 'alert-drill': 'true' }, { KUBECONFIG: kubeconfig }, /::error::/)
      await runner.post(r.state, { env: { KUBECONFIG: kubeconfig } })
      expect(r.code).not.toBe(0)
      console.log(`namespace admin with alert-drill, without the drill's Role: refused after ${(at! / 1000).toFixed(1)} s`)
      expect(r.stdout).toMatch(/::error::The kubeconfig's identity may not do what the action needs with these inputs; nothing was changed/)
      // setFailed writes the message on one line, its line breaks as %0A.
      const denied = r.stdout
        .split('\n')
        .find((l) => l.startsWith("::error::The kubeconfig's identity"))!
        .split('%0A')
        .filter((l) => l.startsWith('  - '))
        .map((l) => l.slice(4))
      // What the reader Role grants (get on both proxies) is not named; the rule is the action's Role's.
      expect(denied).toEqual([
        'create pods/proxy in namespace monitoring',
        'create services/proxy in namespace monitoring',
        'delete services/proxy in namespace monitoring',
        'list endpointslices.discovery.k8s.io in namespace monitoring',
      ])
      expect(at!).toBeLessThan(30_000)
      expect(await madeIn(ns)).toBe('')
    },
    10 * MIN,
  )

  it(
    'an in-cluster runner (no kubeconfig; token, CA and KUBERNETES_SERVICE_* as in a pod): kubectl, helm, port-forwards and the post step work, also after a later step emptied RUNNER_TEMP',
    async () => {
      const { cluster } = e2e
      const ns = 'e2e-id-incluster'
      const { token, server, ca } = await namespaceAdmin(ns)
      // The pod's files, mounted at the pod's path in a mount namespace of the run's own; the
      // empty mount point is made (and removed after) where the machine has none.
      const files = mkdtempSync(join(tmpdir(), 'sa-'))
      writeFileSync(join(files, 'token'), token)
      writeFileSync(join(files, 'ca.crt'), readFileSync(ca))
      writeFileSync(join(files, 'namespace'), ns)
      const made: string[] = []
      for (const dir of ['/var/run/secrets', '/var/run/secrets/kubernetes.io', SA_PATH]) {
        if (!existsSync(dir)) {
          mkdirSync(dir)
          made.unshift(dir)
        }
      }
      onTestFinished(() => {
        for (const dir of made) rmdirSync(dir)
      })
      const home = mkdtempSync(join(tmpdir(), 'home-')) // no ~/.kube/config
      const url = new URL(server)
      const runner = makeRunner({
        wrap: [
          'unshare',
          '-m',
          '--propagation',
          'private',
          // bash, not sh: dash drops the INPUT_* variables whose names hold a '-'.
          'bash',
          '-c',
          `mount --bind "$0" ${SA_PATH} && exec "$@"`,
          files,
          ...cluster.wrap,
        ],
        env: { HOME: home, KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port || '443' },
      })
      const { r, at } = await timed(runner, { ...adminInputs(ns), expose: 'port-forward' }, {}, /Milvus target up:/)
      expect(r.code, failed(r)).toBe(0)
      console.log(`in-cluster runner: target up after ${(at! / 1000).toFixed(1)} s (run ${Math.round(r.ms / 1000)} s)`)
      expect(r.stdout).toContain("No kubeconfig file: using the pod's ServiceAccount credentials")
      expect(r.stdout).toContain('context inClusterContext')
      expect(r.stdout).not.toContain('(cluster-wide)')
      // kubectl and helm ran as the ServiceAccount: the release is there, and the forwards answer.
      expect((await cluster.helm(['list', '-n', ns, '-q'])).trim()).toBe(RELEASE)
      expect((await cluster.get(`${r.outputs['prometheus-url']}/-/ready`)).status).toBe(200)
      expect((await cluster.get(r.outputs['milvus-metrics-url']!)).body).toContain('milvus_')
      // A later step of the job empties RUNNER_TEMP, where the action wrote the tools' kubeconfig.
      const written = /kubectl and helm use them through (\S+)/.exec(r.stdout)![1]!
      rmSync(dirname(written), { recursive: true, force: true })
      const post = await runner.post(r.state)
      expect(post.code, failed(post)).toBe(0)
      expect(post.stdout).toContain(`The kubeconfig ${written} the main step wrote for the pod's ServiceAccount was gone: written again`)
      expect(post.stdout).not.toContain('::warning::')
      expect(await cluster.helm(['list', '-n', ns, '-q'])).toBe('')
      expect((await cluster.get(`${r.outputs['prometheus-url']}/-/ready`)).status).toBe(0)
    },
    15 * MIN,
  )
})
