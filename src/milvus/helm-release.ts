// Milvus through its Helm chart: the mode's values, the user's values over them, and the
// ServiceMonitor always on; its namespace and Prometheus' discovery RBAC there, then the release.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as core from '@actions/core'
import YAML from 'yaml'
import type { HelmRevision } from '../cluster/helm.ts'
import { CommandError } from '../cluster/kubectl.ts'
import type { Kube, KubeObject } from '../cluster/kube.ts'
import { namespaceGone, namespaceStuckError, stuckTermination } from '../cluster/namespace-deletion.ts'
import type { StackRun } from '../context.ts'
import type { Inputs, MilvusMode, PrometheusStack } from '../types.ts'
import { discoveryRbac, mayDiscover, needsRbac, refuseUndiscoverable } from '../prometheus/discovery-rbac.ts'
import { FIELD_MANAGER, MANAGED_BY, OWNER_VALUES, ownedRelease } from '../marks.ts'
import { refOf } from '../prometheus/stack.ts'
import { firstRevisionSecret } from '../state.ts'
import { holderIdentity, holdRelease } from '../holds.ts'
import { actionTargets, checkAdmission } from './admission.ts'
import { checkForeignObjects } from './foreign-objects.ts'
import { chartRef, checkRelease } from './pre-install-check.ts'
import type { MilvusSource } from './source.ts'

export type Values = Record<string, unknown>

/** A Pulsar component's requests and JVM heap, small enough for a CI runner. */
const pulsarComponent = (cpu: string, memory: string, mem: string, extra: Values = {}): Values => ({
  replicaCount: 1,
  resources: { requests: { cpu, memory } },
  configData: { PULSAR_MEM: mem, ...extra },
})

/**
 * The mode's values. `standalone` is CI-sized: one Milvus pod, one etcd, standalone MinIO, no
 * Pulsar. `cluster` keeps one Deployment (and one scrape target) per Milvus component, but
 * sized to schedule on one GitHub-hosted runner (4 CPU, 16 GB) beside kube-prometheus: one
 * etcd, standalone MinIO, one ZooKeeper, bookie, broker and proxy with small requests and heaps
 * (the broker writes to one bookie). The chart's own defaults (3 etcd, 4-node MinIO, replicated
 * Pulsar) need several nodes; `values` can restore them.
 */
export function modeValues(mode: MilvusMode): Values {
  if (mode === 'cluster') {
    return {
      cluster: { enabled: true },
      etcd: { replicaCount: 1 },
      minio: { mode: 'standalone', resources: { requests: { memory: '256Mi' } } },
      pulsarv3: {
        enabled: true,
        zookeeper: pulsarComponent('50m', '128Mi', '-Xms64m -Xmx256m'),
        bookkeeper: pulsarComponent('50m', '256Mi', '-Xms128m -Xmx512m -XX:MaxDirectMemorySize=512m'),
        broker: pulsarComponent('50m', '256Mi', '-Xms128m -Xmx512m -XX:MaxDirectMemorySize=512m', {
          managedLedgerDefaultEnsembleSize: '1',
          managedLedgerDefaultWriteQuorum: '1',
          managedLedgerDefaultAckQuorum: '1',
        }),
        proxy: pulsarComponent('50m', '128Mi', '-Xms64m -Xmx256m'),
        autorecovery: { resources: { requests: { cpu: '10m', memory: '64Mi' } } },
      },
    }
  }
  return mergeValues(
    {
      cluster: { enabled: false },
      etcd: { replicaCount: 1 },
      // The chart reserves 2 GiB for MinIO; a CI runner's MinIO holds next to nothing.
      minio: { mode: 'standalone', resources: { requests: { memory: '256Mi' } } },
      pulsarv3: { enabled: false },
    },
    CI_TIMING,
  )
}

/**
 * What only costs time in CI, shortened for standalone (docs/inputs.md, "the CI timing"):
 * readiness checked from 5 s, every 5 s, instead of from 90 s, every 10 s, so the pod is Ready
 * within 5 s of Milvus answering /healthz, which still gates it; liveness checked from 30 s,
 * with the chart's total grace before a restart kept (30 s + 7 x 30 s = 240 s = 90 s + 5 x 30 s);
 * the ServiceMonitor scraping every 10 s instead of 30 s (its 10 s scrapeTimeout still fits),
 * so the first scrape after discovery comes within 10 s; etcd's readiness checked from 5 s,
 * every 5 s, instead of from 60 s, every 20 s: Milvus reaches etcd through its Service, which
 * has no endpoint until the etcd pod is Ready, so the chart's 60 s held Milvus back as long.
 * Any of them set in `values` wins.
 */
export const CI_TIMING: Values = {
  readinessProbe: { initialDelaySeconds: 5, periodSeconds: 5 },
  etcd: { readinessProbe: { initialDelaySeconds: 5, periodSeconds: 5 } },
  livenessProbe: { initialDelaySeconds: 30, periodSeconds: 30, failureThreshold: 7 },
  metrics: { serviceMonitor: { interval: '10s' } },
}

function isPlainObject(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Helm's own rule: maps merge key by key, anything else is replaced by the later value. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const b = out[k]
    out[k] = isPlainObject(b) && isPlainObject(v) ? mergeValues(b, v) : v
  }
  return out
}

/**
 * The values the action installs with: mode, then the labels the Prometheus' serviceMonitorSelector
 * wants (`serviceMonitorLabels`, as metrics.serviceMonitor.additionalLabels), then the user's, then
 * the ServiceMonitor switch and the owner mark (OWNER_VALUES).
 */
export function releaseValues(mode: MilvusMode, user: Values, serviceMonitorLabels: Record<string, string> = {}): Values {
  const labels = Object.keys(serviceMonitorLabels).length ? { metrics: { serviceMonitor: { additionalLabels: serviceMonitorLabels } } } : {}
  return mergeValues(mergeValues(mergeValues(modeValues(mode), labels), user), {
    metrics: { enabled: true, serviceMonitor: { enabled: true } },
    ...OWNER_VALUES,
  })
}

/** Keys whose values are secrets, in values and in the objects written to the diagnostics folder. */
export const SECRET_KEY = /pass(word)?|secret|token|credential|access_?key|private_?key|api_?key|^key$|authorization/i

/** String leaves of the values under secret-looking keys: masked in the log before anything runs. */
export function secretValues(values: Values, underSecret = false): string[] {
  const out: string[] = []
  // The env-list shape: {name: DB_PASSWORD, value: ...} is as secret as DB_PASSWORD: ...
  const named = typeof values.name === 'string' && SECRET_KEY.test(values.name)
  for (const [k, v] of Object.entries(values)) {
    const secret = underSecret || SECRET_KEY.test(k) || (named && k === 'value')
    if (k === CONFIG_FILES && isPlainObject(v) && !secret) {
      for (const file of Object.values(v)) {
        const parsed = typeof file === 'string' ? parseConfigFile(file) : undefined
        if (parsed) out.push(...secretValues(parsed))
        else if (isPlainObject(file)) out.push(...secretValues(file))
      }
    } else if (isPlainObject(v)) out.push(...secretValues(v, secret))
    else if (Array.isArray(v)) out.push(...secretValues(Object.fromEntries(v.map((x, i) => [String(i), x])), secret))
    else if (secret && isSecretLeaf(v)) out.push(String(v))
  }
  return out
}

/** Milvus' values key whose entries are whole configuration files (`user.yaml`) as YAML text. */
export const CONFIG_FILES = 'extraConfigFiles'

/** A configuration file's text as a mapping, or undefined when it is not one (comments only, not YAML). */
export function parseConfigFile(text: string): Values | undefined {
  try {
    const parsed: unknown = YAML.parse(text)
    return isPlainObject(parsed) ? parsed : undefined
  } catch {
    return undefined
  }
}

// A string, or a number long enough to be a credential: masking `300` of a `tokenTtl` would
// hide every 300 in the log.
function isSecretLeaf(v: unknown): boolean {
  return (typeof v === 'string' && v.length > 0) || (typeof v === 'number' && String(v).length >= 6)
}

/**
 * The release's values (releaseValues, with the labels `stack`'s Prometheus selects
 * ServiceMonitors by, logged when there are any) in a file readable only by the runner's user: its path.
 */
export function writeValuesFile(inputs: Inputs, stack: PrometheusStack): string {
  const dir = mkdtempSync(join(process.env.RUNNER_TEMP ?? tmpdir(), 'milvus-values-'))
  const valuesFile = join(dir, 'values.yaml')
  const labels = Object.entries(stack.serviceMonitorLabels)
  if (labels.length) {
    core.info(
      `Prometheus ${refOf(stack)} selects ServiceMonitors labelled ${labels.map(([k, v]) => `${k}=${v}`).join(',')}: adding these labels to the Milvus ServiceMonitor (metrics.serviceMonitor.additionalLabels)`,
    )
  }
  writeFileSync(valuesFile, YAML.stringify(releaseValues(inputs.milvusMode, inputs.values, stack.serviceMonitorLabels)), { mode: 0o600 })
  return valuesFile
}

/**
 * Creates the release's namespace when missing (after waiting out a deletion still under way)
 * and adds the discovery RBAC when needed. Runs early, while the CRDs apply: prometheus-operator
 * must know the namespace before the chart's ServiceMonitor arrives there. Records each step
 * in the run state as it happens, for the post step.
 */
export async function prepareNamespace(run: StackRun): Promise<void> {
  const { kube, state, inputs, budget } = run
  const nsPath = `/api/v1/namespaces/${inputs.namespace}`
  let ns = await kube.find(nsPath)
  if (ns?.metadata.deletionTimestamp) {
    // A re-run right after a cleanup: nothing can be created there until the deletion is done.
    core.info(`Namespace ${inputs.namespace} is being deleted; waiting until it is gone`)
    await budget.wait(`namespace ${inputs.namespace} to finish terminating`, (signal) => namespaceGone(kube, inputs.namespace, signal))
    ns = undefined
  }
  if (!ns) {
    // This run's only when its own create is answered 201; a 409 (someone else created it at the
    // same moment) leaves it someone else's, never deleted by this run.
    const created = await kube.create(
      '/api/v1/namespaces',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: inputs.namespace, labels: { ...MANAGED_BY } } },
      FIELD_MANAGER,
    )
    if (created?.metadata.uid) {
      state.recordCreated({
        apiVersion: 'v1',
        kind: 'Namespace',
        name: inputs.namespace,
        uid: created.metadata.uid,
        path: nsPath,
        part: 'namespace',
      })
      core.info(`Created namespace ${inputs.namespace}`)
    } else {
      core.info(`Namespace ${inputs.namespace} appeared meanwhile; using it, and cleanup will leave it`)
    }
  }
  // Held before anything else is added here: another live run with this release fails here.
  const hold = await holdRelease(kube, inputs.namespace, inputs.releaseName, state.state.holder ?? holderIdentity())
  state.record({ releaseHold: hold.name })
  await grantDiscovery(run)
}

/**
 * Adds the discovery Role and RoleBinding for the run's Prometheus in the release's namespace
 * when needed (needsRbac), recording the Role in the run state when this run created it. With
 * `unlessGranted`, first asks the API server whether the Prometheus' ServiceAccount may discover
 * there already (a LocalSubjectAccessReview), and adds nothing when it may.
 */
export async function grantDiscovery(run: StackRun, opts: { unlessGranted?: boolean } = {}): Promise<void> {
  const { kube, state, stack, inputs } = run
  const sa = { namespace: stack.namespace, name: stack.serviceAccount }
  const needed = needsRbac(inputs.namespace, inputs.prometheusRbac, stack.kubePrometheus)
  if (needed && opts.unlessGranted && (await mayDiscover(kube, inputs.namespace, sa))) {
    core.info(
      `ServiceAccount ${sa.namespace}/${sa.name} (of Prometheus ${refOf(stack)}) may already discover services, endpoints, endpointslices and pods in namespace ${inputs.namespace}: no Role added`,
    )
  } else if (needed) {
    const objects = discoveryRbac(inputs.namespace, sa)
    // Each created by this run only when its apply is answered 201 (recorded then, with its UID);
    // one that exists (an earlier run's, another release's) is applied over and stays theirs.
    for (const obj of objects) {
      const plural = obj.kind === 'Role' ? 'roles' : 'rolebindings'
      const collection = `/apis/rbac.authorization.k8s.io/v1/namespaces/${inputs.namespace}/${plural}`
      const { object: created, created: isNew } = await kube.applyCreating(collection, obj, FIELD_MANAGER)
      if (isNew && created.metadata.uid) {
        state.recordCreated({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: obj.kind!,
          namespace: inputs.namespace,
          name: obj.metadata.name,
          uid: created.metadata.uid,
          path: `${collection}/${obj.metadata.name}`,
          part: 'namespace',
        })
      }
    }
    core.info(
      `Granted ServiceAccount ${sa.namespace}/${sa.name} (of Prometheus ${refOf(stack)}) discovery (services, endpoints, endpointslices, pods) in namespace ${inputs.namespace}`,
    )
  } else if (!inputs.prometheusRbac) {
    core.info('prometheus-rbac is false: no Role or RoleBinding added')
  }
}

/**
 * Before any change: a release namespace whose deletion has been stuck past its grace (a
 * long-lived cluster's, often for days) ends the run; one still ending is waited for in
 * prepareNamespace.
 */
export async function refuseStuckNamespace({ kube, inputs }: { kube: Kube; inputs: Inputs }): Promise<void> {
  const ns = await kube.find(`/api/v1/namespaces/${inputs.namespace}`).catch(() => undefined)
  const check = ns?.metadata.deletionTimestamp ? stuckTermination(ns, Date.now()) : {}
  if (check.stuck) throw namespaceStuckError(inputs.namespace, check.stuck, 'nothing was changed')
}

/**
 * Helm's own --timeout: a little under what is left of the budget (10 %, at most 30 s), so
 * helm's precise error reaches the user before the action's generic one. In seconds.
 */
export function helmTimeoutSeconds(remainingMs: number): number {
  return Math.max(1, Math.floor((remainingMs - Math.min(30_000, remainingMs * 0.1)) / 1000))
}

/** How long a stopped helm gets to record its release as failed before the run goes on, in ms. */
const HELM_STOP_MS = 30_000

/**
 * `helm upgrade --install --wait` of the release. When the wait ends early (the budget, or a
 * refusal the release watch reported), helm gets SIGTERM and the run waits for it to exit, so
 * the release is left failed, never pending-install or pending-upgrade.
 */
export async function installRelease(run: StackRun, valuesFile: string): Promise<void> {
  const { inputs, budget, helm } = run
  const chart = chartRef(inputs)
  const installsFirst = await recordAndRecover(run)
  core.info(
    `helm upgrade --install ${inputs.releaseName} ${chart.chart}${chart.version ? `@${chart.version}` : ''} (${inputs.milvusMode}) in ${inputs.namespace}`,
  )
  let running: Promise<unknown> | undefined
  try {
    const out = await budget.wait(`Milvus release ${inputs.releaseName} to become ready (helm --wait)`, (signal, remainingMs) => {
      const p = helm.upgradeInstall(
        {
          release: inputs.releaseName,
          namespace: inputs.namespace,
          chart,
          valuesFiles: [valuesFile],
          timeoutSeconds: helmTimeoutSeconds(remainingMs),
        },
        signal,
      )
      running = p
      return p
    })
    core.startGroup('helm upgrade --install output')
    core.info(out.stdout)
    core.endGroup()
  } catch (e) {
    if (running) await Promise.race([running.catch(() => undefined), new Promise((r) => setTimeout(r, HELM_STOP_MS).unref())])
    // helm's own words (its --timeout ran out, a template error, a conflict) with the release named.
    if (e instanceof CommandError)
      throw new Error(`Milvus release ${inputs.releaseName} in ${inputs.namespace}: ${e.message}${admissionHint(e.message)}`, { cause: e })
    throw e
  } finally {
    if (installsFirst) await recordReleaseSecret(run)
  }
}

/**
 * After a first install (ended or not): the release is this run's as its first revision's Secret
 * is, recorded by that Secret's UID; the post step uninstalls the release only while the Secret
 * still has it (another run's install of the same name after a cleanup has another).
 */
async function recordReleaseSecret(run: StackRun): Promise<void> {
  const { kube, state, inputs } = run
  const secret = firstRevisionSecret(inputs.releaseName)
  const found = await kube.find(`/api/v1/namespaces/${inputs.namespace}/secrets/${secret}`).catch((e: unknown) => {
    core.warning(
      `Could not read Helm release Secret ${inputs.namespace}/${secret}: ${(e as Error).message}; cleanup will leave the release`,
    )
    return undefined
  })
  if (found?.metadata.uid) state.recordRelease({ secret, uid: found.metadata.uid })
}

/** For helm's error of an admission refusal at install time, the webhook or policy named with the fix; '' otherwise. */
export function admissionHint(message: string): string {
  const webhook = /admission webhook "([^"]+)" denied the request|failed calling webhook "([^"]+)"/.exec(message)
  if (webhook) {
    return webhook[1]
      ? `\nThe admission webhook "${webhook[1]}" refused the release: change the values so it admits them, or ask its owner.`
      : `\nThe admission webhook "${webhook[2]}" does not answer: delete its webhook configuration if what served it was uninstalled, or bring its Service back.`
  }
  const policy = /ValidatingAdmissionPolicy '([^']+)'/.exec(message)
  return policy
    ? `\nThe ValidatingAdmissionPolicy ${policy[1]} refused the release: change the values so it admits them, or ask its owner.`
    : ''
}

/** What to do before the upgrade about a release's last revision. */
export type Recovery =
  | { kind: 'none' }
  | { kind: 'uninstall'; revision: number; status: string }
  | { kind: 'rollback'; revision: number; status: string; to: number }
  | { kind: 'foreign'; revision: number; status: string }

/**
 * For a release's history (oldest first): nothing when its last revision is not `pending-*`;
 * otherwise, when the action owns it (`owned`), a rollback to the newest earlier `deployed`
 * revision (else the newest earlier one), or an uninstall when there is none (a first install);
 * `foreign` when someone else's release is pending.
 */
export function recoveryFor(history: HelmRevision[], owned: boolean): Recovery {
  const last = history.at(-1)
  if (!last || !last.status.startsWith('pending-')) return { kind: 'none' }
  if (!owned) return { kind: 'foreign', revision: last.revision, status: last.status }
  const earlier = history.filter((r) => r.revision < last.revision)
  const to = [...earlier].reverse().find((r) => r.status === 'deployed') ?? earlier.at(-1)
  return to
    ? { kind: 'rollback', revision: last.revision, status: last.status, to: to.revision }
    : { kind: 'uninstall', revision: last.revision, status: last.status }
}

/**
 * The refusal for a release the action would upgrade but did not install (its values lack the
 * owner mark, `owned`). `helm upgrade --install` would reset a deployed or failed one to the
 * chart's defaults plus the action's values, so the message names the release, its chart and
 * version, and the two ways on; one left `pending-*` by someone else's operation is theirs to
 * recover (see recoveryFor), and the message names the helm command. Undefined when the release
 * is absent or the action's own.
 */
export function foreignReleaseRefusal(
  release: { namespace: string; name: string },
  history: HelmRevision[],
  owned: boolean,
): string | undefined {
  const last = history.at(-1)
  if (!last || owned) return undefined
  const ref = `${release.namespace}/${release.name}`
  if (last.status.startsWith('pending-'))
    return (
      `Helm release ${ref} is ${last.status} (revision ${last.revision}), left by an operation that did not finish, and was not installed by this action, so the action does not touch it. Nothing was changed. ` +
      `Recover it with helm rollback ${release.name} -n ${release.namespace} (or helm uninstall for a first install), or use another release-name.`
    )
  const chart = last.chart ? `chart ${last.chart}${last.app_version ? `, app version ${last.app_version}` : ''}` : 'chart unknown'
  return (
    `Helm release ${ref} (${chart}; revision ${last.revision}, ${last.status}) was not installed by this action, and the action never upgrades a release it did not install ` +
    "(helm upgrade would replace the release's values with the chart's defaults plus the action's). Nothing was changed. " +
    `To verify that release as it is, set install-milvus: false; to install one of the action's own beside it, set another release-name.`
  )
}

/**
 * Before any change: throws foreignReleaseRefusal's message for a release of that name the
 * action did not install (the owner mark is read from the last revision's values).
 */
export async function refuseForeignRelease(run: StackRun): Promise<void> {
  const { helm, inputs } = run
  const history = await helm.history(inputs.releaseName, inputs.namespace)
  const last = history.at(-1)
  if (!last) return
  const owned = ownedRelease(await helm.values(inputs.releaseName, inputs.namespace, last.revision).catch(() => ({})))
  const refusal = foreignReleaseRefusal({ namespace: inputs.namespace, name: inputs.releaseName }, history, owned)
  if (refusal) throw new Error(refusal)
}

/**
 * Before the upgrade: whether this run installs the release's first revision (true), recording
 * then which of its PersistentVolumeClaims exist already (the post step deletes only the others),
 * and recovers a release an interrupted run of this action left `pending-*` (see recoveryFor), with
 * a log line. Throws for a pending release the action does not own, naming the helm command to run.
 */
export async function recordAndRecover(run: StackRun): Promise<boolean> {
  const { helm, state, inputs, budget, kube } = run
  const release = `${inputs.namespace}/${inputs.releaseName}`
  const history = await helm.history(inputs.releaseName, inputs.namespace)
  const last = history.at(-1)
  const owned = last?.status.startsWith('pending-')
    ? ownedRelease(await helm.values(inputs.releaseName, inputs.namespace, last.revision).catch(() => ({})))
    : false
  const recovery = recoveryFor(history, owned)
  // Refused before any change (refuseForeignRelease); here again for one that became pending since.
  if (recovery.kind === 'foreign')
    throw new Error(
      foreignReleaseRefusal({ namespace: inputs.namespace, name: inputs.releaseName }, history, owned)!.replace(
        ' Nothing was changed.',
        '',
      ),
    )
  if (recovery.kind === 'uninstall') {
    core.info(
      `Helm release ${release} is ${recovery.status} (revision ${recovery.revision}, a first install an earlier run of this action did not finish): uninstalling it before installing again`,
    )
    await budget.wait(`the pending release ${release} to be uninstalled`, (signal) =>
      helm.uninstall(inputs.releaseName, inputs.namespace, 120, signal),
    )
  } else if (recovery.kind === 'rollback') {
    core.info(
      `Helm release ${release} is ${recovery.status} (revision ${recovery.revision}, left by an earlier run of this action): rolling back to revision ${recovery.to} before the upgrade`,
    )
    await budget.wait(`the pending release ${release} to be rolled back`, (signal, remainingMs) =>
      helm.rollback(inputs.releaseName, inputs.namespace, recovery.to, helmTimeoutSeconds(remainingMs), signal),
    )
  }
  const installsFirst = history.length === 0 || recovery.kind === 'uninstall'
  if (installsFirst) {
    const pvcs = await kube.get<{ items: KubeObject[] }>(
      `/api/v1/namespaces/${inputs.namespace}/persistentvolumeclaims?labelSelector=${encodeURIComponent(`app.kubernetes.io/instance=${inputs.releaseName}`)}`,
    )
    state.record({ pvcsBefore: pvcs.items.map((p) => p.metadata.name) })
  }
  return installsFirst
}

/**
 * The source that installs Milvus with its Helm chart: the release rendered and checked before
 * any change, its namespace and Prometheus' discovery RBAC early (beside the CRDs), then
 * `helm upgrade --install --wait`.
 */
export class HelmRelease implements MilvusSource {
  readonly description: string
  readonly installs = true
  /** Found by the wiring from the installed release's labels. */
  readonly monitor = undefined
  #valuesFile: string | undefined

  constructor(inputs: Inputs) {
    this.description = `Helm release ${inputs.namespace}/${inputs.releaseName}`
  }

  async check(run: StackRun): Promise<void> {
    await run.budget.phase('Check the release', async () => {
      // Someone else's release, or a namespace that cannot be used, ends the run before the values are even written.
      await refuseForeignRelease(run)
      await refuseStuckNamespace(run)
      await refuseUndiscoverable(run, 'ServiceMonitor')
      const valuesFile = (this.#valuesFile = writeValuesFile(run.inputs, run.stack))
      // helm template downloads the chart: within the budget, like every other download.
      const chart = chartRef(run.inputs)
      const objects = await run.budget.wait(
        `helm template to download and render chart ${chart.chart}${chart.version ? ` ${chart.version}` : ''}${chart.repo ? ` from ${chart.repo}` : ''}`,
        (signal) => checkRelease(run.inputs, { helm: run.helm, kube: run.kube, valuesFile, signal }),
      )
      // What the cluster would refuse: objects someone else owns, then admission (webhooks, policies, limits).
      const where = { release: run.inputs.releaseName, namespace: run.inputs.namespace, objects }
      await checkForeignObjects(run.kube, where)
      await checkAdmission(run.kube, { ...where, own: actionTargets(run) })
    })
  }

  prepare(run: StackRun): Promise<void> {
    return run.budget.phase('Milvus namespace', () => prepareNamespace(run))
  }

  install(run: StackRun): Promise<void> {
    const valuesFile = this.#valuesFile
    if (!valuesFile) throw new Error('Helm release: install before check')
    return run.budget.phase('Milvus installed', () => installRelease(run, valuesFile))
  }
}
