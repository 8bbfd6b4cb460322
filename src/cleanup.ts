// The post step: stop the port-forwards; with cleanup, delete what this run created (the run
// state lists it) on the cluster the main step deployed to, and wait until it is gone. Every
// stage runs even when an earlier one failed; the failures are reported together at the end.
import * as core from '@actions/core'
import { loadRunState, type RunState } from './state.ts'
import { stopForwards } from './expose/supervisor.ts'
import { Kubectl } from './cluster/kubectl.ts'
import { Helm } from './cluster/helm.ts'
import type { ObjectRef } from './prometheus/ownership.ts'
import { FIELD_MANAGER, HOLD_LABEL, milvusRuleName } from './marks.ts'
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
 * The created objects in deletion order: the stack's objects, then its CRDs (the resources
 * above die with them), then namespaces (last: a namespace is only deleted once API discovery
 * is whole, which kube-prometheus' metrics APIService spoils while its adapter is not serving).
 */
export function deletionBatches(created: ObjectRef[]): ObjectRef[][] {
  const rank = (r: ObjectRef) => (r.kind === 'Namespace' ? 2 : r.kind === 'CustomResourceDefinition' ? 1 : 0)
  return [0, 1, 2].map((n) => created.filter((r) => rank(r) === n)).filter((b) => b.length > 0)
}

/** A YAML stream of the objects' identities, enough for `kubectl delete -f`. */
export function refsManifest(refs: ObjectRef[]): string {
  return refs
    .map(
      (r) =>
        `apiVersion: ${r.apiVersion}\nkind: ${r.kind}\nmetadata:\n  name: ${r.name}\n${r.namespace ? `  namespace: ${r.namespace}\n` : ''}`,
    )
    .join('---\n')
}

const WAIT = ['--ignore-not-found', '--wait=true', '--timeout=300s']

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
      if (ns === (state.rulesNamespace ?? state.namespace) && o.metadata.name === milvusRuleName(state.release)) return false
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
  const ownHolds = [state.releaseHold, state.stackHold?.name].filter((n): n is string => !!n)
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

  // Who else uses what this run created, asked once before any of it is deleted.
  const shared: Shared = { stack: '', namespace: '' }
  const createdCrds = (state.created ?? []).some((r) => r.kind === 'CustomResourceDefinition')
  if ((state.stackHold && state.created?.length) || state.createdNamespace || state.addedRbac) {
    stages.push({
      name: 'check who else uses what this run created',
      run: async () => {
        const holders = async (namespace: string, what: string) =>
          otherHolders(
            (await json<{ items: LeaseObject[] }>(['get', 'leases', '-n', namespace, '-l', `${HOLD_LABEL}=${what}`])).items,
            ownHolds,
          )
        if (state.stackHold && state.created?.length) {
          const others = await holders(state.stackHold.namespace, 'stack')
          if (others.length) shared.stack = `held by ${others.length} other run(s): ${list(others)}`
          else if (createdCrds) {
            // managedFields tell kube-prometheus' own monitors apart; kubectl drops them unless asked.
            const monitors = await json<{ items: MonitorObject[] }>([
              'get',
              'servicemonitors,podmonitors,prometheusrules',
              '-A',
              '--show-managed-fields',
            ])
            const foreign = foreignMonitors(monitors.items, state, state.stackHold.namespace)
            if (foreign.length) shared.stack = `its CRDs hold ${foreign.length} monitor(s) this run did not create: ${list(foreign)}`
          }
        }
        if (state.createdNamespace || state.addedRbac) {
          const others = await holders(state.namespace, 'release')
          const releases = (
            await kubectl.run(
              ['get', 'secrets', '-n', state.namespace, '-l', 'owner=helm', '-o', 'jsonpath={.items[*].metadata.labels.name}'],
              { allowFailure: true },
            )
          ).stdout
          const otherReleases = [...new Set(releases.split(/\s+/).filter((r) => r && r !== state.release))]
          if (others.length) shared.namespace = `held by ${others.length} other run(s): ${list(others)}`
          else if (otherReleases.length) shared.namespace = `other Helm releases live there: ${list(otherReleases)}`
        }
        if (shared.stack) core.info(`Leaving the kube-prometheus this run installed in place: ${shared.stack}`)
        if (shared.namespace) core.info(`Leaving namespace ${state.namespace} and its discovery Role in place: ${shared.namespace}`)
      },
    })
  }
  if (state.releaseCreated && state.helmPath) {
    const helm = new Helm(state.helmPath, conn, state.helmVersion)
    stages.push({
      name: `uninstall Helm release ${state.namespace}/${state.release}`,
      run: async () => {
        if ((await helm.history(state.release, state.namespace)).length === 0) return
        await helm.uninstall(state.release, state.namespace, 300)
        // Helm before 3.7 cannot wait itself: the release's pods gone is what --wait means.
        await kubectl.run(['wait', '--for=delete', 'pods', '-n', state.namespace, '-l', instance, '--timeout=300s'], { allowFailure: true })
        core.info(`Uninstalled Helm release ${state.namespace}/${state.release}`)
      },
    })
    stages.push({
      name: `delete the PersistentVolumeClaims of ${state.release}`,
      run: async () => {
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
  if (state.releaseCreated) {
    // The action's alert rules go with the release they watch; left behind they would fire
    // (a component missing) for as long as the release is gone.
    const rule = milvusRuleName(state.release)
    const ns = state.rulesNamespace ?? state.namespace
    stages.push({
      name: `delete the alert rules ${ns}/${rule}`,
      run: async () => {
        const r = await kubectl.run(['delete', 'prometheusrule', rule, '-n', ns, ...WAIT], { allowFailure: true })
        // No PrometheusRule resource at all (its CRD gone): nothing to delete.
        if (r.exitCode !== 0 && !/doesn't have a resource type|the server could not find the requested resource/.test(r.stderr))
          throw new Error(r.stderr.trim())
        if (r.exitCode === 0 && r.stdout.includes('deleted')) core.info(`Deleted the alert rules ${ns}/${rule}`)
      },
    })
  }
  if (state.addedRbac) {
    const name = state.addedRbac
    stages.push({
      name: 'delete the discovery Role and RoleBinding',
      run: async () => {
        if (shared.namespace) return
        await kubectl.run(['delete', 'rolebinding,role', name, '-n', state.namespace, ...WAIT])
        core.info(`Removed the discovery Role and RoleBinding ${name} in ${state.namespace}`)
      },
    })
  }
  const created = [
    ...(state.created ?? []),
    ...(state.createdNamespace ? [{ apiVersion: 'v1', kind: 'Namespace', name: state.namespace }] : []),
  ]
  // The identities go to kubectl on stdin: nothing is written under RUNNER_TEMP, which a later
  // step may have emptied.
  const isReleaseNamespace = (r: ObjectRef) => state.createdNamespace === true && r.kind === 'Namespace' && r.name === state.namespace
  deletionBatches(created).forEach((all) => {
    stages.push({
      name: `delete ${all.length} ${all[0]!.kind === 'Namespace' ? 'namespace(s)' : all[0]!.kind === 'CustomResourceDefinition' ? 'CRDs' : 'kube-prometheus objects'} this run created`,
      run: async () => {
        // What someone else uses stays (the check above said why).
        const batch = all.filter((r) => !(isReleaseNamespace(r) ? shared.namespace : shared.stack))
        if (batch.length === 0) return
        await kubectl.run(['delete', ...WAIT, '-f', '-'], { input: refsManifest(batch) })
        core.info(
          `Deleted what this run created: ${batch.map((r) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`).join(', ')}`,
        )
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
 * alert resolved on every ready Alertmanager replica, its silence expired.
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
