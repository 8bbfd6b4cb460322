// Several jobs, one cluster: runs started in parallel against the one local cluster, each with
// its own post step, as jobs of a matrix or of several pipelines would. Each case asserts what is
// left on the cluster afterwards and that each run ended as it would have alone; each prints its
// times (every run's and post step's duration) and what it left. Every case uses namespaces and
// releases of its own, removed when it ends.
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { StepResult } from '../../local-cluster/runner.ts'
import { leaseObject, RELEASE_HOLD_SECONDS, releaseHoldName, renewPatch } from '../../src/holds.ts'
import {
  activeTargets,
  dropNamespace,
  E2E,
  e2e,
  ensureKubePrometheus,
  failed,
  inputs,
  kubePrometheusManifests,
  MIN,
  removeKubePrometheus,
  removeWhenDone,
  tempFile,
  useLocalCluster,
} from './support.ts'

const ROLE = 'prometheus-k8s-milvus-discovery'
const id = () => Date.now().toString(36)
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Whether `kubectl get <args>` finds the object (a NotFound is false; anything else throws). */
async function exists(args: string[]): Promise<boolean> {
  try {
    await e2e.cluster.kubectl(['get', ...args, '-o', 'name'])
    return true
  } catch (e) {
    if (/NotFound|not found/.test((e as Error).message)) return false
    throw e
  }
}

/** Whether namespace `ns` is there and not being deleted. */
async function liveNamespace(ns: string): Promise<boolean> {
  try {
    const o = await e2e.cluster.kubectlJson<{ metadata: { deletionTimestamp?: string } }>(['get', 'namespace', ns])
    return !o.metadata.deletionTimestamp
  } catch {
    return false
  }
}

const releases = async (ns: string) => (await e2e.cluster.helm(['list', '-n', ns, '-q'])).split('\n').filter(Boolean).sort()

/** A line for the case's record: a step's name, result and duration. */
const line = (name: string, r: StepResult) => `${name} exit ${r.code} in ${s(r.ms)}`

describe.runIf(E2E)('several jobs on one cluster', () => {
  useLocalCluster()

  it(
    "two namespaces, job a with cleanup and job b 5 s later: both succeed; a's post step leaves the stack (held by b) and b's ServiceMonitor, and b's target stays up",
    async () => {
      const { runner } = e2e
      // No stack: the two jobs install it, and race to.
      await removeKubePrometheus({ crds: true })
      const k = id()
      const [nsA, nsB] = [`jobs-a-${k}`, `jobs-b-${k}`]
      removeWhenDone(nsA, 'a')
      removeWhenDone(nsB, 'b')
      const mainA = runner.main(inputs({ namespace: nsA, 'release-name': 'a', cleanup: 'true', timeout: '8m' }))
      await sleep(5000)
      const mainB = runner.main(inputs({ namespace: nsB, 'release-name': 'b', timeout: '8m' }))
      const a = await mainA
      expect(a.code, failed(a)).toBe(0)
      // a's post step while b may still be running, as a job that ends first does.
      const postA = await runner.post(a.state)
      expect(postA.code, failed(postA)).toBe(0)
      expect(postA.stdout).not.toContain('::warning::')
      expect(postA.stdout).toMatch(/Leaving the kube-prometheus this run installed in place: held by 1 other run\(s\)/)
      const b = await mainB
      expect(b.code, failed(b)).toBe(0)
      expect(b.outputs['target-health']).toBe('up')
      // After a's cleanup: a's own release and namespace gone; the stack, b's ServiceMonitor and b's target there.
      expect(await releases(nsA)).toEqual([])
      expect(await liveNamespace(nsA)).toBe(false)
      expect(await exists(['deployment', '-n', 'monitoring', 'prometheus-operator'])).toBe(true)
      expect(await exists(['prometheus', '-n', 'monitoring', 'k8s'])).toBe(true)
      expect(await exists(['crd', 'servicemonitors.monitoring.coreos.com'])).toBe(true)
      expect(await exists(['servicemonitor', '-n', nsB, 'b-milvus-standalone'])).toBe(true)
      const targets = await activeTargets(b.outputs['prometheus-url']!, b.outputs['scrape-pool']!)
      expect(targets.map((t) => t.health)).toContain('up')
      const postB = await runner.post(b.state)
      expect(postB.code, failed(postB)).toBe(0)
      expect(await exists(['deployment', '-n', 'monitoring', 'prometheus-operator'])).toBe(true)
      console.log(
        `[concurrent a] ${line('main a', a)}; ${line('post a', postA)}; ${line('main b (started 5 s later)', b)}; ${line('post b', postB)}; ` +
          `left: kube-prometheus whole, release b and its ServiceMonitor (target up after a's cleanup); a's release and namespace gone`,
      )
    },
    20 * MIN,
  )

  it(
    "a job with install-kube-prometheus false on the stack another job installed holds it: the installer's cleanup leaves the stack",
    async () => {
      const { cluster, runner } = e2e
      // The stack's objects gone, its CRDs kept: job a creates the operator and Prometheus, not the CRDs.
      await removeKubePrometheus({ crds: false })
      const k = id()
      const [nsA, nsB] = [`jobs-inst-${k}`, `jobs-use-${k}`]
      removeWhenDone(nsA, 'a')
      removeWhenDone(nsB, 'b')
      const a = await runner.main(inputs({ namespace: nsA, 'release-name': 'a', cleanup: 'true', timeout: '8m' }))
      expect(a.code, failed(a)).toBe(0)
      const b = await runner.main(
        inputs({ namespace: nsB, 'release-name': 'b', 'install-kube-prometheus': 'false', prometheus: 'monitoring/k8s', timeout: '8m' }),
      )
      expect(b.code, failed(b)).toBe(0)
      const hold = /Prometheus monitoring\/k8s was installed by this action: held by this run \(Lease monitoring\/(\S+)\)/.exec(b.stdout)
      expect(hold, failed(b)).not.toBeNull()
      const postA = await runner.post(a.state)
      expect(postA.code, failed(postA)).toBe(0)
      expect(postA.stdout).toMatch(/Leaving the kube-prometheus this run installed in place: held by 1 other run\(s\)/)
      expect(await exists(['prometheus', '-n', 'monitoring', 'k8s'])).toBe(true)
      const targets = await activeTargets(b.outputs['prometheus-url']!, b.outputs['scrape-pool']!)
      expect(targets.map((t) => t.health)).toContain('up')
      const postB = await runner.post(b.state)
      expect(postB.code, failed(postB)).toBe(0)
      // b's hold ends with its post step; b created nothing of the stack, so the stack stays.
      expect(await exists(['lease', '-n', 'monitoring', hold![1]!])).toBe(false)
      expect(await exists(['deployment', '-n', 'monitoring', 'prometheus-operator'])).toBe(true)
      expect((await cluster.helm(['list', '-n', nsB, '-q'])).trim()).toBe('b')
      console.log(
        `[concurrent installer and user] ${line('main a', a)}; ${line('main b (install-kube-prometheus false)', b)}; ${line('post a', postA)}; ${line('post b', postB)}; ` +
          `left: kube-prometheus whole (held by b at a's cleanup), release b; a's release and namespace gone`,
      )
    },
    20 * MIN,
  )

  it(
    "one namespace, two releases, the first with cleanup: the second's release, the namespace and the discovery Role they share survive",
    async () => {
      const { cluster, runner } = e2e
      await ensureKubePrometheus()
      const ns = `jobs-one-${id()}`
      removeWhenDone(ns, 'second')
      removeWhenDone(ns, 'first')
      const mainFirst = runner.main(inputs({ namespace: ns, 'release-name': 'first', cleanup: 'true', timeout: '8m' }))
      await sleep(5000)
      const mainSecond = runner.main(inputs({ namespace: ns, 'release-name': 'second', timeout: '8m' }))
      const first = await mainFirst
      expect(first.code, failed(first)).toBe(0)
      const roleUid = (await cluster.kubectlJson<{ metadata: { uid: string } }>(['get', 'role', '-n', ns, ROLE])).metadata.uid
      const postFirst = await runner.post(first.state)
      expect(postFirst.code, failed(postFirst)).toBe(0)
      expect(postFirst.stdout).toMatch(
        new RegExp(`Leaving namespace ${ns} and its discovery Role in place: (held by 1 other run|other Helm releases live there: second)`),
      )
      expect(postFirst.stdout).toContain(`Uninstalled Helm release ${ns}/first`)
      const second = await mainSecond
      expect(second.code, failed(second)).toBe(0)
      expect(second.outputs['target-health']).toBe('up')
      // The first's release and alert rules gone; the second's release, the namespace and the same Role there.
      expect(await releases(ns)).toEqual(['second'])
      expect(await liveNamespace(ns)).toBe(true)
      expect((await cluster.kubectlJson<{ metadata: { uid: string } }>(['get', 'role', '-n', ns, ROLE])).metadata.uid).toBe(roleUid)
      expect(await exists(['rolebinding', '-n', ns, ROLE])).toBe(true)
      expect(await exists(['prometheusrule', '-n', ns, 'first-milvus-alerts'])).toBe(false)
      expect(await exists(['prometheusrule', '-n', ns, 'second-milvus-alerts'])).toBe(true)
      const targets = await activeTargets(second.outputs['prometheus-url']!, second.outputs['scrape-pool']!)
      expect(targets.map((t) => t.health)).toContain('up')
      const postSecond = await runner.post(second.state)
      expect(postSecond.code, failed(postSecond)).toBe(0)
      console.log(
        `[concurrent b] ${line('main first', first)}; ${line('post first', postFirst)}; ${line('main second (5 s later)', second)}; ${line('post second', postSecond)}; ` +
          `left: release second, namespace ${ns}, the discovery Role (same UID) and RoleBinding, second's rules; first's release and rules gone`,
      )
    },
    20 * MIN,
  )

  it(
    'three at once, two with the same release: one fails in seconds naming the other run and its post step deletes nothing; the other two succeed and clean up',
    async () => {
      const { runner } = e2e
      await ensureKubePrometheus()
      const k = id()
      const [nsX, nsY] = [`jobs-x-${k}`, `jobs-y-${k}`]
      removeWhenDone(nsX, 'same')
      removeWhenDone(nsY, 'other')
      const same = inputs({ namespace: nsX, 'release-name': 'same', cleanup: 'true', timeout: '8m' })
      const runs = [
        runner.main(same),
        runner.main(inputs({ namespace: nsY, 'release-name': 'other', cleanup: 'true', timeout: '8m' })),
        runner.main(same),
      ]
      // The first to end is the one refused: its post step runs at once, while the winner still runs.
      const loser = await Promise.race(runs.filter((_, i) => i !== 1))
      expect(loser.code, 'one of the two jobs with the same release fails').not.toBe(0)
      expect(loser.stdout).toMatch(new RegExp(`Helm release ${nsX}/same is held by another run of this action that is still going`))
      expect(loser.ms).toBeLessThan(60_000)
      const postLoser = await runner.post(loser.state)
      expect(postLoser.code, failed(postLoser)).toBe(0)
      expect(postLoser.stdout).not.toMatch(/Deleted what this run created|Uninstalled Helm release/)
      const [r1, r2, r3] = await Promise.all(runs)
      const winner = r1 === loser ? r3! : r1!
      expect(winner.code, failed(winner)).toBe(0)
      expect(winner.outputs['target-health']).toBe('up')
      expect(r2!.code, failed(r2!)).toBe(0)
      expect(r2!.outputs['target-health']).toBe('up')
      // The winner's release survived the loser's post step.
      expect(await releases(nsX)).toEqual(['same'])
      const postWinner = await runner.post(winner.state)
      const postOther = await runner.post(r2!.state)
      expect(postWinner.code, failed(postWinner)).toBe(0)
      expect(postOther.code, failed(postOther)).toBe(0)
      expect(await releases(nsX)).toEqual([])
      expect(await releases(nsY)).toEqual([])
      expect(await liveNamespace(nsY)).toBe(false)
      // nsX is deleted by the run whose create made it: the winner's post, or nobody's when the loser made it (left while the winner held it).
      const nsXLeft = await liveNamespace(nsX)
      expect(await exists(['deployment', '-n', 'monitoring', 'prometheus-operator'])).toBe(true)
      console.log(
        `[concurrent c] ${line('main refused', loser)}; ${line('post refused', postLoser)}; ${line('main winner', winner)}; ${line('post winner', postWinner)}; ` +
          `${line('main other', r2!)}; ${line('post other', postOther)}; left: kube-prometheus; namespace ${nsX} ${nsXLeft ? 'left (the refused run created it)' : 'deleted'}; ${nsY} deleted`,
      )
    },
    20 * MIN,
  )

  it(
    "the discovery Role deleted and created again by someone else between the main step and the post step: the post step leaves it (not this run's anymore)",
    async () => {
      const { cluster, runner } = e2e
      await ensureKubePrometheus()
      // The namespace is not the run's: it stays, and so the Role in it can.
      const ns = `jobs-d-${id()}`
      removeWhenDone(ns, 'd')
      await cluster.kubectl(['create', 'namespace', ns])
      const main = await runner.main(inputs({ namespace: ns, 'release-name': 'd', cleanup: 'true', 'grafana-dashboard': 'false' }))
      expect(main.code, failed(main)).toBe(0)
      const before = (await cluster.kubectlJson<{ metadata: { uid: string } }>(['get', 'role', '-n', ns, ROLE])).metadata.uid
      await cluster.kubectl(['delete', 'role', ROLE, '-n', ns, '--wait=true'])
      await cluster.kubectl(['create', 'role', ROLE, '-n', ns, '--verb=get', '--resource=pods'])
      const after = (await cluster.kubectlJson<{ metadata: { uid: string } }>(['get', 'role', '-n', ns, ROLE])).metadata.uid
      expect(after).not.toBe(before)
      const post = await runner.post(main.state)
      expect(post.code, failed(post)).toBe(0)
      expect(post.stdout).not.toContain('::warning::')
      expect(post.stdout).toContain(
        `Left Role ${ns}/${ROLE}: not this run's anymore (deleted and created again since: UID ${after}, this run created ${before})`,
      )
      expect((await cluster.kubectlJson<{ metadata: { uid: string } }>(['get', 'role', '-n', ns, ROLE])).metadata.uid).toBe(after)
      expect(await exists(['rolebinding', '-n', ns, ROLE])).toBe(false)
      expect(await releases(ns)).toEqual([])
      expect(await exists(['prometheusrule', '-n', ns, 'd-milvus-alerts'])).toBe(false)
      expect(await liveNamespace(ns)).toBe(true)
      console.log(
        `[concurrent d] ${line('main', main)}; ${line('post', post)}; left: the re-created Role (UID ${after}), namespace ${ns} (not the run's); the run's release, RoleBinding and rules gone`,
      )
    },
    15 * MIN,
  )

  it(
    "the same release-name one job after the other: the second takes the release over once the first's main step ends; the first's post step, while the second runs, leaves the release, its rules and the namespace",
    async () => {
      const { cluster, runner } = e2e
      await ensureKubePrometheus()
      const ns = `jobs-e-${id()}`
      removeWhenDone(ns, 'same')
      const same = inputs({ namespace: ns, 'release-name': 'same', cleanup: 'true', 'grafana-dashboard': 'false', timeout: '8m' })
      const first = await runner.main(same)
      expect(first.code, failed(first)).toBe(0)
      // The first job's later steps run long; the second job starts meanwhile and holds the release.
      const secondRun = runner.main(same)
      const hold = ['get', 'lease', 'milvus-monitoring-action-release-same', '-n', ns, '-o', 'jsonpath={.spec.holderIdentity}']
      for (let i = 0; i < 240 && !(await cluster.kubectl(hold).catch(() => '')); i++) await sleep(250)
      const postFirst = await runner.post(first.state)
      expect(postFirst.code, failed(postFirst)).toBe(0)
      expect(postFirst.stdout).toMatch(new RegExp(`Leaving Helm release ${ns}/same and its alert rules in place: another run holds it now`))
      expect(postFirst.stdout).toMatch(new RegExp(`Leaving namespace ${ns} and its discovery Role in place`))
      expect(postFirst.stdout).not.toMatch(/Uninstalled Helm release/)
      const second = await secondRun
      expect(second.code, failed(second)).toBe(0)
      expect(second.outputs['target-health']).toBe('up')
      // The second job upgraded the first's release: revision 2, with its rules and namespace.
      const history = await cluster.helm(['history', 'same', '-n', ns, '-o', 'json'])
      expect((JSON.parse(history) as Array<{ revision: number; status: string }>).at(-1)).toMatchObject({ revision: 2, status: 'deployed' })
      expect(await exists(['prometheusrule', '-n', ns, 'same-milvus-alerts'])).toBe(true)
      expect(await liveNamespace(ns)).toBe(true)
      const postSecond = await runner.post(second.state)
      expect(postSecond.code, failed(postSecond)).toBe(0)
      console.log(
        `[concurrent e] ${line('main first', first)}; ${line('post first (during the second main)', postFirst)}; ${line('main second', second)}; ${line('post second', postSecond)}; ` +
          `left: release same (revision 2, the second's upgrade), its rules and namespace ${ns}`,
      )
    },
    15 * MIN,
  )

  it(
    "kube-prometheus being deleted when a job starts (another job's cleanup): the job waits until it is gone, installs it again, and its target comes up",
    async () => {
      const { cluster, runner } = e2e
      await ensureKubePrometheus()
      const ns = `jobs-g-${id()}`
      removeWhenDone(ns, 'g')
      // The monitoring namespace terminating, held there by a finalizer until the job is seen waiting.
      const held = ['configmap', 'e2e-held-deletion', '-n', 'monitoring']
      await cluster.kubectl(['create', ...held.slice(0, 2), ...held.slice(2)])
      await cluster.kubectl(['patch', ...held, '--type=merge', '-p', '{"metadata":{"finalizers":["e2e.example.com/hold"]}}'])
      onTestFinished(async () => {
        await cluster.kubectl(['patch', ...held, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => '')
      })
      // As another job's cleanup deletes it: its objects (the metrics APIService among them), then its namespace.
      await cluster.kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', await kubePrometheusManifests()])
      await cluster.kubectl(['delete', 'namespace', 'monitoring', '--wait=false'])
      let release: Promise<string> | undefined
      let seen = ''
      const started = Date.now()
      let waitingAt = 0
      const r = await runner.main(inputs({ namespace: ns, 'release-name': 'g', timeout: '8m' }), {
        onStdout: (chunk) => {
          seen += chunk
          if (!release && /kube-prometheus is being deleted \(another run's cleanup\?\): \d+ of its objects are terminating/.test(seen)) {
            waitingAt = Date.now() - started
            release = cluster.kubectl(['patch', ...held, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'])
          }
        },
      })
      await release
      expect(waitingAt, failed(r)).toBeGreaterThan(0)
      expect(r.code, failed(r)).toBe(0)
      expect(r.outputs['target-health']).toBe('up')
      expect(await liveNamespace('monitoring')).toBe(true)
      console.log(
        `[concurrent g] waiting on the deletion logged ${s(waitingAt)} after the start; ${line('main', r)}; left: kube-prometheus installed again, release g`,
      )
    },
    15 * MIN,
  )

  it("a release hold's renewal, as the API server takes it: renewed while the run holds it, refused once another run took it over", async () => {
    const { cluster } = e2e
    const ns = `jobs-f-${id()}`
    onTestFinished(() => dropNamespace(ns))
    await cluster.kubectl(['create', 'namespace', ns])
    const hold = { namespace: ns, name: releaseHoldName('r'), holder: 'job a' }
    const lease = leaseObject(hold, {}, RELEASE_HOLD_SECONDS, new Date('2026-01-01T00:00:00Z'))
    await cluster.kubectl(['create', '-f', tempFile('lease.json', JSON.stringify(lease))])
    const read = () => cluster.kubectlJson<{ spec: { holderIdentity: string; renewTime: string } }>(['get', 'lease', hold.name, '-n', ns])
    const patch = (h: typeof hold) => ['patch', 'lease', hold.name, '-n', ns, '--type=json', '-p', JSON.stringify(renewPatch(h))]
    await cluster.kubectl(patch(hold))
    expect(Date.parse((await read()).spec.renewTime)).toBeGreaterThan(Date.parse('2026-01-02T00:00:00Z'))
    // Job b took the release over: job a's renewal is refused and changes nothing.
    await cluster.kubectl(['patch', 'lease', hold.name, '-n', ns, '--type=merge', '-p', '{"spec":{"holderIdentity":"job b"}}'])
    const before = await read()
    await expect(cluster.kubectl(patch(hold))).rejects.toThrow(/test|holderIdentity/)
    expect(await read()).toEqual(before)
  })
})
