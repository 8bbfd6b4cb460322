// The post step: stop the port-forwards; with cleanup, delete what this run created (the run
// state lists it, each object with the UID its create was answered with) on the cluster the main
// step deployed to, and wait until it is gone. Each object is read again first and deleted only
// with its UID as a precondition: one that another job deleted and created again meanwhile is
// not this run's anymore, and stays. Every stage runs even when an earlier one failed; the
// failures are reported together at the end. kubectl only: the post step loads no API client.
import * as core from '@actions/core'
import { loadRunState, type CreatedObject, type RunState } from './state.ts'
import { stopForwards } from './expose/supervisor.ts'
import { Kubectl } from './cluster/kubectl.ts'
import { restoreInClusterKubeconfig } from './cluster/in-cluster.ts'
import { Helm } from './cluster/helm.ts'
import { pool } from './cluster/pool.ts'
import type { ObjectRef } from './prometheus/ownership.ts'
import { FIELD_MANAGER, HOLD_LABEL, HOLD_RELEASE_LABEL, milvusRuleName } from './marks.ts'
import { otherHolders, type LeaseObject } from './holds.ts'
import { alertsPath, heldInAlertmanager } from './mixin/alert-drill.ts'
import type { DrillTarget } from './types.ts'

/** One step of the cleanup; `run` throws to report a failure. */
export interface Stage {
  name: string
  run: () => Promise<void>
}

/** Runs every stage in order, whatever the earlier ones did: the failures, as 'stage: message'. */
export async function runStages(stages: Stage[]): Promise<string[]> {
  const failures: string[] = []
  for (const s of stages) {
    try {
      await s.run()
    } catch (e) {
      failures.push(`${s.name}: ${(e as Error).message.split('\n').slice(0, 6).join('\n')}`)
    }
  }
  return failures
}

/**
 * The created objects in deletion order: the stack's objects (and the release's rules and
 * discovery RBAC), then CRDs (the resources above die with them), then namespaces (last: a
 * namespace is only deleted once API discovery is whole, which kube-prometheus' metrics
 * APIService spoils while its adapter is not serving).
 */
export function deletionBatches<T extends ObjectRef>(created: T[]): T[][] {
  const rank = (r: ObjectRef) => (r.kind === 'Namespace' ? 2 : r.kind === 'CustomResourceDefinition' ? 1 : 0)
  return [0, 1, 2].map((n) => created.filter((r) => rank(r) === n)).filter((b) => b.length > 0)
}

const WAIT = ['--ignore-not-found', '--wait=true', '--timeout=300s']

/** How long the post step waits for what it deleted to be gone (a namespace's content, a CRD's resources). */
const GONE_WAIT_MS = 300_000

/** `kubectl delete --raw`'s body: delete only the object of this UID, its dependents in the background. */
export function deleteOptions(uid: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid }, propagationPolicy: 'Background' })
}

/** What is at a created object's path now: its UID, or undefined when nothing is. */
export type Current = Map<string, string | undefined>

/** Which created objects to delete, given what is at their paths now (`current`, keyed by path). */
export interface DeletionPlan {
  /** Still the object this run created (the same UID): deleted, with that UID as precondition. */
  remove: CreatedObject[]
  /** Gone already. */
  gone: CreatedObject[]
  /** Another object of the same name (deleted and created again by someone else): not this run's anymore. */
  replaced: Array<{ obj: CreatedObject; uid: string }>
}

export function planDeletion(objects: CreatedObject[], current: Current): DeletionPlan {
  const plan: DeletionPlan = { remove: [], gone: [], replaced: [] }
  for (const obj of objects) {
    const uid = current.get(obj.path)
    if (uid === undefined) plan.gone.push(obj)
    else if (uid === obj.uid) plan.remove.push(obj)
    else plan.replaced.push({ obj, uid })
  }
  return plan
}

/** Whether kubectl's error is the API's 404 (nothing there, or no such resource any more). */
const notFound = (stderr: string) => /\(NotFound\)|the server could not find the requested resource|not found/i.test(stderr)
/** Whether kubectl's error is a failed UID precondition (409: another object has the name now). */
const preconditionFailed = (stderr: string) => /Precondition failed|\(Conflict\)/i.test(stderr)

const describeObj = (r: ObjectRef) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`

/** What is at each object's path now (one `kubectl get --raw` each, 8 at a time). Throws for an error other than 404. */
async function readCurrent(kubectl: Kubectl, objects: CreatedObject[]): Promise<Current> {
  const current: Current = new Map()
  await pool(objects, 8, async (o) => {
    const r = await kubectl.run(['get', '--raw', o.path], { allowFailure: true })
    if (r.exitCode !== 0) {
      if (notFound(r.stderr)) return void current.set(o.path, undefined)
      throw new Error(`could not read ${describeObj(o)}: ${r.stderr.trim()}`)
    }
    current.set(o.path, (JSON.parse(r.stdout) as { metadata?: { uid?: string } }).metadata?.uid)
  })
  return current
}

/**
 * Deletes `objects` the way the header says: each read again, those still of their recorded UID
 * deleted with it as precondition, then a wait (GONE_WAIT_MS at most) until each is gone.
 * Logs what it left as not this run's anymore.
 */
export async function deleteCreated(kubectl: Kubectl, objects: CreatedObject[], pollMs = 1000): Promise<void> {
  const plan = planDeletion(objects, await readCurrent(kubectl, objects))
  const replaced = [...plan.replaced]
  const deleted: CreatedObject[] = []
  await pool(plan.remove, 8, async (o) => {
    const r = await kubectl.run(['delete', '--raw', o.path, '-f', '-'], { input: deleteOptions(o.uid), allowFailure: true })
    if (r.exitCode === 0) return void deleted.push(o)
    if (notFound(r.stderr)) return
    if (preconditionFailed(r.stderr)) return void replaced.push({ obj: o, uid: 'another' })
    throw new Error(`could not delete ${describeObj(o)}: ${r.stderr.trim()}`)
  })
  for (const { obj, uid } of replaced)
    core.info(`Left ${describeObj(obj)}: not this run's anymore (deleted and created again since: UID ${uid}, this run created ${obj.uid})`)
  // Gone means: nothing at the path, or something else (created again after the delete).
  let pending = deleted
  for (const until = Date.now() + GONE_WAIT_MS; pending.length;) {
    const now = await readCurrent(kubectl, pending)
    pending = pending.filter((o) => now.get(o.path) === o.uid)
    if (!pending.length) break
    if (Date.now() > until) throw new Error(`still being deleted after ${GONE_WAIT_MS / 1000} s: ${pending.map(describeObj).join(', ')}`)
    await new Promise((r) => setTimeout(r, pollMs))
  }
  if (deleted.length) core.info(`Deleted what this run created: ${deleted.map(describeObj).join(', ')}`)
}

/** A ServiceMonitor, PodMonitor or PrometheusRule as `kubectl get -o json` lists it. */
export interface MonitorObject {
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; managedFields?: Array<{ manager?: string }> }
}

/**
 * The monitors that are not this run's nor kube-prometheus' own: someone else's, which CRDs this
 * run created would take with them. This run's: its release's (the instance label) and its alert
 * rules in the release's namespace; kube-prometheus': those in `stackNamespace` the action applies.
 */
export function foreignMonitors(
  items: MonitorObject[],
  state: Pick<RunState, 'release' | 'namespace' | 'rulesNamespace'>,
  stackNamespace: string,
): string[] {
  return items
    .filter((o) => {
      const ns = o.metadata.namespace
      if (ns === stackNamespace && (o.metadata.managedFields ?? []).some((f) => f.manager === FIELD_MANAGER)) return false
      if (ns === state.namespace && o.metadata.labels?.['app.kubernetes.io/instance'] === state.release) return false
      if (ns === (state.rulesNamespace ?? state.namespace) && o.metadata.name === milvusRuleName(state.release, state.namespace, ns))
        return false
      return true
    })
    .map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)
}

/** What cleanup leaves because someone else uses it; filled in by the stage that asks. */
interface Shared {
  /** Why the stack this run created stays ('' to remove it). */
  stack: string
  /** Why the release's namespace and discovery Role stay ('' to remove them). */
  namespace: string
  /** Why the release this run installed, and its alert rules, stay ('' to remove them). */
  release: string
}

const list = (items: string[], max = 5) => `${items.slice(0, max).join(', ')}${items.length > max ? ` and ${items.length - max} more` : ''}`

/**
 * The post step's stages for `state` (see the header); none without tools recorded. With
 * cleanup: the cluster checked, then the deletes; in any case, last, this run's holds released.
 */
export function cleanupStages(state: RunState): Stage[] {
  if (!state.kubectlPath) return []
  const conn = state.connection
  const kubectl = new Kubectl(state.kubectlPath, conn)
  const instance = `app.kubernetes.io/instance=${state.release}`
  const stages: Stage[] = []
  const json = async <T>(args: string[]) => JSON.parse((await kubectl.run([...args, '-o', 'json'])).stdout) as T
  if (conn) {
    stages.push({
      name: 'check the cluster',
      run: async () => {
        const server = (await kubectl.run(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).stdout.trim()
        if (server !== conn.server)
          throw new Error(
            `context ${conn.context} now points at ${server || 'nothing'}, not ${conn.server} where the main step deployed; nothing deleted`,
          )
        if (!conn.clusterId) return
        // The same URL, another cluster (kind re-created on the same port): its objects are not this run's.
        const id = (await kubectl.run(['get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}'])).stdout.trim()
        if (id !== conn.clusterId)
          throw new Error(
            `${conn.server} is another cluster than the one the main step deployed to (kube-system ${id || 'unreadable'}, not ${conn.clusterId}); nothing deleted`,
          )
      },
    })
  }
  // Last of all, with cleanup or without: this run stops holding the stack. (The release's hold
  // ended with the main step; its name may be another run's by now.)
  const stackHold = state.stackHold
  const releaseHolds: Stage | undefined = stackHold && {
    name: "release this run's hold on the stack",
    run: async () => void (await kubectl.run(['delete', 'lease', stackHold.name, '-n', stackHold.namespace, '--ignore-not-found'])),
  }
  // An alert fire drill the main step did not end (it was killed): removed with cleanup or without.
  if (state.drill) stages.push(...drillStages(kubectl, state.drill, state.namespace, state.release))
  if (!state.cleanup) return releaseHolds ? [...stages, releaseHolds] : stages

  // Who else uses what this run created, asked before any of it is deleted, and asked again
  // right before the stack and the namespace go (the release's uninstall before them may take
  // minutes, in which another job may start using them). Until the check has answered,
  // everything someone else might use stays, and a reason found once is never cleared.
  const created = state.created ?? []
  const createdStack = created.some((r) => r.part === 'stack')
  const createdCrds = created.some((r) => r.part === 'stack' && r.kind === 'CustomResourceDefinition')
  const createdInNamespace = created.some((r) => r.part === 'namespace')
  const release = state.createdRelease
  const unchecked = 'who else uses it could not be checked'
  const shared: Shared = { stack: '', namespace: '', release: '' }
  const whoElse = async (o: { release: boolean }): Promise<Shared> => {
    const holders = async (namespace: string, selector: string) =>
      otherHolders((await json<{ items: LeaseObject[] }>(['get', 'leases', '-n', namespace, '-l', selector])).items, state.holder)
    const found: Shared = { stack: '', namespace: '', release: '' }
    if (state.stackHold && createdStack) {
      const others = await holders(state.stackHold.namespace, `${HOLD_LABEL}=stack`)
      if (others.length) found.stack = `held by ${others.length} other run(s): ${list(others)}`
      else if (createdCrds) {
        // managedFields tell kube-prometheus' own monitors apart; kubectl drops them unless asked.
        const monitors = await json<{ items: MonitorObject[] }>([
          'get',
          'servicemonitors,podmonitors,prometheusrules',
          '-A',
          '--show-managed-fields',
        ])
        const foreign = foreignMonitors(monitors.items, state, state.stackHold.namespace)
        if (foreign.length) found.stack = `its CRDs hold ${foreign.length} monitor(s) this run did not create: ${list(foreign)}`
      }
    }
    if (release && o.release) found.release = await releaseTakenOver(release)
    if (createdInNamespace) {
      const others = await holders(state.namespace, `${HOLD_LABEL}=release`)
      const releases = (
        await kubectl.run(
          ['get', 'secrets', '-n', state.namespace, '-l', 'owner=helm', '-o', 'jsonpath={.items[*].metadata.labels.name}'],
          {
            allowFailure: true,
          },
        )
      ).stdout
      // This run's release counts as another's once taken over. A release the run verified as
      // it is (install-milvus false) does not: it did without the run's discovery Role before.
      const otherReleases = [
        ...new Set(releases.split(/\s+/).filter((r) => r && (r !== state.release || (o.release ? found.release : shared.release)))),
      ]
      if (others.length) found.namespace = `held by ${others.length} other run(s): ${list(others)}`
      else if (otherReleases.length) found.namespace = `other Helm releases live there: ${list(otherReleases)}`
    }
    return found
  }
  /** Adds what `found` says to `shared` (a reason already there stays), logging each new one. */
  const note = (found: Shared, when = '') => {
    if (!shared.stack && found.stack) core.info(`Leaving the kube-prometheus this run installed in place: ${found.stack}${when}`)
    if (!shared.release && found.release)
      core.info(`Leaving Helm release ${state.namespace}/${state.release} and its alert rules in place: ${found.release}${when}`)
    if (!shared.namespace && found.namespace)
      core.info(`Leaving namespace ${state.namespace} and its discovery Role in place: ${found.namespace}${when}`)
    shared.stack ||= found.stack
    shared.release ||= found.release
    shared.namespace ||= found.namespace
  }
  const checks = (state.stackHold && createdStack) || createdInNamespace || release
  if (checks) {
    Object.assign(shared, { stack: unchecked, namespace: unchecked, release: unchecked })
    stages.push({
      name: 'check who else uses what this run created',
      run: async () => {
        const found = await whoElse({ release: true })
        Object.assign(shared, { stack: '', namespace: '', release: '' })
        note(found)
      },
    })
  }

  /**
   * Why this run's release is someone else's by now ('' when it is still this run's, or gone).
   * Its hold ended with the main step: another job with this release-name may have taken it over
   * since (it carries the action's mark), or someone deleted and installed it again.
   */
  let releaseGone = false
  async function releaseTakenOver(r: NonNullable<typeof release>): Promise<string> {
    const uid = (
      await kubectl.run(['get', 'secret', r.secret, '-n', state.namespace, '--ignore-not-found', '-o', 'jsonpath={.metadata.uid}'])
    ).stdout.trim()
    if (!uid) {
      releaseGone = true
      return ''
    }
    if (uid !== r.uid) return `not this run's anymore (its first revision's Secret has UID ${uid}, this run's install wrote ${r.uid})`
    const holders = otherHolders(
      (
        await json<{ items: LeaseObject[] }>([
          'get',
          'leases',
          '-n',
          state.namespace,
          '-l',
          `${HOLD_LABEL}=release,${HOLD_RELEASE_LABEL}=${state.release}`,
        ])
      ).items,
      state.holder,
    )
    if (holders.length) return `another run holds it now: ${list(holders)}`
    const revisions = (
      await kubectl.run([
        'get',
        'secrets',
        '-n',
        state.namespace,
        '-l',
        `owner=helm,name=${state.release}`,
        '-o',
        'jsonpath={.items[*].metadata.labels.version}',
      ])
    ).stdout
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
    const mine = Number(/\.v(\d+)$/.exec(r.secret)?.[1] ?? 1)
    const latest = Math.max(mine, ...revisions.filter(Number.isFinite))
    return latest > mine ? `upgraded to revision ${latest} after this run installed revision ${mine}, by another run or a person` : ''
  }

  if (release && state.helmPath) {
    const helm = new Helm(state.helmPath, conn, state.helmVersion)
    // The release is this run's while the check above found it so (its first revision's Secret
    // the one this run's install wrote, nobody else's since).
    let ours = false
    stages.push({
      name: `uninstall Helm release ${state.namespace}/${state.release}`,
      run: async () => {
        // The check above read the release: gone, or someone else's by now.
        if (shared.release || releaseGone) return
        ours = true
        await helm.uninstall(state.release, state.namespace, 300)
        // Helm before 3.7 cannot wait itself: the release's pods gone is what --wait means.
        await kubectl.run(['wait', '--for=delete', 'pods', '-n', state.namespace, '-l', instance, '--timeout=300s'], { allowFailure: true })
        core.info(`Uninstalled Helm release ${state.namespace}/${state.release}`)
      },
    })
    stages.push({
      name: `delete the PersistentVolumeClaims of ${state.release}`,
      run: async () => {
        if (!ours) return
        const list = JSON.parse((await kubectl.run(['get', 'pvc', '-n', state.namespace, '-l', instance, '-o', 'json'])).stdout) as {
          items: Array<{ metadata: { name: string } }>
        }
        const before = new Set(state.pvcsBefore ?? [])
        const names = list.items.map((i) => i.metadata.name).filter((n) => !before.has(n))
        if (names.length === 0) return
        await kubectl.run(['delete', 'pvc', '-n', state.namespace, ...names, ...WAIT])
        core.info(`Deleted PersistentVolumeClaims ${names.join(', ')} in ${state.namespace}`)
      },
    })
  }
  if (checks && (createdStack || createdInNamespace)) {
    stages.push({
      name: 'check again who else uses what this run created',
      run: async () => {
        const before = { ...shared }
        // A check that fails keeps all in place, as the first one does.
        Object.assign(shared, { stack: shared.stack || unchecked, namespace: shared.namespace || unchecked })
        // The release was uninstalled or left by now: only the stack and the namespace are asked.
        const found = await whoElse({ release: false })
        Object.assign(shared, before)
        note(found, ' (found right before its deletion)')
      },
    })
  }
  const label = (b: CreatedObject[]) =>
    b[0]!.kind === 'Namespace' ? 'namespace(s)' : b[0]!.kind === 'CustomResourceDefinition' ? 'CRDs' : 'objects'
  deletionBatches(created).forEach((all) => {
    stages.push({
      name: `delete ${all.length} ${label(all)} this run created`,
      run: async () => {
        // What someone else uses stays (the check above said why).
        const batch = all.filter(
          (r) =>
            !(r.part === 'stack' ? shared.stack : r.part === 'namespace' ? shared.namespace : r.part === 'release' ? shared.release : ''),
        )
        if (batch.length) await deleteCreated(kubectl, batch)
      },
    })
  })
  if (releaseHolds) stages.push(releaseHolds)
  return stages
}

/** The API path of a request through the proxy of a Service or Pod port. */
function proxyPath(namespace: string, resource: 'services' | 'pods', name: string, port: string | number, path: string): string {
  return `/api/v1/namespaces/${namespace}/${resource}/${name}:${port}/proxy${path}`
}

/**
 * What src/mixin/alert-drill.ts's endDrill does, with kubectl: the drill's rule deleted, its
 * alert resolved on every Alertmanager replica, its silence expired.
 */
export function drillStages(kubectl: Kubectl, t: DrillTarget, namespace: string, release: string): Stage[] {
  const am = t.alertmanager
  const stages: Stage[] = [
    {
      name: `delete the alert drill's rule ${t.rule.namespace}/${t.rule.name}`,
      run: async () => {
        await kubectl.run(['delete', 'prometheusrule', t.rule.name, '-n', t.rule.namespace, '--ignore-not-found'])
        core.info(`Deleted the alert drill's rule ${t.rule.namespace}/${t.rule.name}`)
      },
    },
  ]
  const silence = t.silenceId
  if (!silence) return stages
  stages.push({
    name: `resolve the alert drill's alert in Alertmanager ${am.namespace}/${am.name}`,
    run: async () => {
      const slices = JSON.parse(
        (await kubectl.run(['get', 'endpointslices', '-n', am.namespace, '-l', `kubernetes.io/service-name=${am.name}`, '-o', 'json']))
          .stdout,
      ) as { items: Array<{ endpoints?: Array<{ targetRef?: { name?: string } }>; ports?: Array<{ name?: string; port?: number }> }> }
      for (const s of slices.items) {
        const port = (s.ports ?? []).find((p) => p.name === am.port || p.port === am.port)?.port
        for (const pod of (s.endpoints ?? []).map((e) => e.targetRef?.name).filter((n): n is string => !!n && !!port)) {
          const base = proxyPath(am.namespace, 'pods', pod, port!, am.pathPrefix)
          const held = heldInAlertmanager(
            JSON.parse((await kubectl.run(['get', '--raw', base + alertsPath(namespace, release)])).stdout),
            namespace,
            release,
          )
          const now = new Date().toISOString()
          if (held.length)
            await kubectl.run(['create', '--raw', `${base}/api/v2/alerts`, '-f', '-'], {
              input: JSON.stringify(held.map((a) => ({ labels: a.labels, startsAt: a.startsAt ?? now, endsAt: now }))),
            })
        }
      }
    },
  })
  stages.push({
    name: `expire the alert drill's silence ${silence}`,
    run: async () => {
      const r = await kubectl.run(
        ['delete', '--raw', proxyPath(am.namespace, 'services', am.name, am.port, `${am.pathPrefix}/api/v2/silence/${silence}`)],
        {
          allowFailure: true,
        },
      )
      if (r.exitCode !== 0 && !/already expired|not found/i.test(r.stderr + r.stdout)) throw new Error(r.stderr.trim())
      core.info(`Expired the alert drill's silence ${silence} in Alertmanager ${am.namespace}/${am.name}`)
    },
  })
  return stages
}

export async function runPost(): Promise<void> {
  let state: RunState | undefined
  try {
    state = loadRunState()
  } catch (e) {
    core.warning(`Post step: the run state is unreadable (${(e as Error).message}); nothing to stop or clean up`)
    return
  }
  if (!state) return
  // A later step that emptied RUNNER_TEMP took the kubeconfig written for in-cluster credentials.
  if (restoreInClusterKubeconfig(state.connection))
    core.info(`The kubeconfig ${state.connection!.kubeconfig} the main step wrote for the pod's ServiceAccount was gone: written again`)
  const stages: Stage[] = []
  const pid = state.supervisorPid
  if (pid)
    stages.push({ name: 'stop the port-forwards', run: async () => (await stopForwards(pid), core.info('Stopped the port-forwards')) })
  const cleanup = cleanupStages(state)
  // A cluster other than the one deployed to gets nothing deleted, its holds included.
  const check = cleanup.find((s) => s.name === 'check the cluster')
  const deletes = cleanup.filter((s) => s !== check)
  if (state.cleanup)
    core.startGroup(
      `Cleanup: delete what this run created on ${state.connection ? `context ${state.connection.context} (${state.connection.server})` : 'the cluster'}`,
    )
  let failures: string[]
  try {
    failures = await runStages([...stages, ...(check ? [check] : [])])
    if (!failures.some((f) => f.startsWith('check the cluster'))) failures.push(...(await runStages(deletes)))
  } finally {
    if (state.cleanup) core.endGroup()
  }
  // The job's result is the main step's: a failed cleanup warns, naming every stage that failed.
  if (failures.length) core.warning(`Post step: ${failures.length} stage(s) failed:\n${failures.map((f) => `  - ${f}`).join('\n')}`)
}
