// kube-prometheus: fetch a release's manifests (cached per version), apply them server-side,
// and wait on watches for the CRDs, the operator and Prometheus `k8s`.
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import * as core from '@actions/core'
import * as tc from '@actions/tool-cache'
import { parse } from 'yaml'
import { formatDuration, TimeoutError } from '../budget.ts'
import { ApiError, Kube, conditionTrue, deploymentAvailable, type KubeObject } from '../cluster/kube.ts'
import { namespaceGone } from '../cluster/namespace-deletion.ts'
import { pool } from '../cluster/pool.ts'
import { CommandError, createFailures, parseCreated, type CreatedLine, type ExecResult, type Kubectl } from '../cluster/kubectl.ts'
import { retryTransient } from '../cluster/retry.ts'
import type { ClusterRun, Run, StackRun } from '../context.ts'
import { placeEntry, stageCopy } from '../tools/cache.ts'
import { defaultFetch, downloadFile, type RequestOptions } from '../tools/download.ts'
import type { Inputs, Permission, PrometheusStack } from '../types.ts'
import {
  describeRef,
  filteredManifests,
  inFirstWave,
  manifestObjects,
  otherStackError,
  otherStacks,
  planApply,
  readExisting,
  refKey,
  ResourcePaths,
  tooOldError,
  type Existing,
  type ObjectRef,
  type OtherStack,
} from './ownership.ts'
import type { PrometheusSource } from './source.ts'
import { refOf, waitPrometheus } from './stack.ts'
import { holderIdentity, holdStack } from '../holds.ts'
import type { CreatedObject } from '../state.ts'

const MONITORING_NAMESPACE = 'monitoring'
const PROMETHEUS_NAME = 'k8s'

export interface Manifests {
  version: string
  dir: string // manifests/ (after planStack: without the first wave)
  setupDir: string // manifests/setup
  /** After planStack: the operator's and Prometheus' objects of manifests/, applied first (FIRST_APPS). */
  firstDir?: string
  crdNames: string[]
  /** After planStack: which of the three folders hold objects absent at plan time (created, not applied over). */
  creates?: { setup: boolean; first: boolean; rest: boolean }
}

/** Kubernetes minors each release was tested against (its README's compatibility matrix). */
const TESTED_RANGES: Record<string, [number, number]> = {
  'v0.18': [33, 36],
  'v0.17': [33, 35],
  'v0.16': [32, 34],
  'v0.15': [31, 33],
  'v0.14': [30, 31],
  'v0.13': [27, 28],
}

/** A warning when the server's minor is outside the release's tested range; '' otherwise. */
export function compatibilityWarning(kubePrometheusVersion: string, serverMinor: number): string {
  const line = /^v\d+\.\d+/.exec(kubePrometheusVersion)?.[0] ?? ''
  const range = TESTED_RANGES[line]
  if (!range) return `kube-prometheus ${kubePrometheusVersion} has no known Kubernetes compatibility range in this action; proceeding.`
  const [min, max] = range
  if (serverMinor >= min && serverMinor <= max) return ''
  return `kube-prometheus ${kubePrometheusVersion} is tested with Kubernetes 1.${min} - 1.${max}, but the cluster runs 1.${serverMinor}; proceeding, but some manifests may not apply or work.`
}

/**
 * Names of the CustomResourceDefinitions in manifests/setup. The CRDs are megabytes of OpenAPI
 * schema: a line scan for top-level `kind` and `metadata.name` reads them in milliseconds, where
 * building YAML documents cost seconds and some 190 MB.
 */
export function crdNamesIn(setupDir: string): string[] {
  const names: string[] = []
  for (const file of readdirSync(setupDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const doc of readFileSync(join(setupDir, file), 'utf8').split(/^---\s*$/m)) {
      if (!/^kind:\s*CustomResourceDefinition\s*$/m.test(doc)) continue
      const name = /^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+name:\s*["']?([^\s"']+)/m.exec(doc)?.[1]
      if (name) names.push(name)
    }
  }
  return names
}

/** Finds `manifests/` below an extracted archive (`kube-prometheus-0.18.0/manifests` upstream). */
export function findManifestsDir(root: string): string {
  if (existsSync(join(root, 'manifests', 'setup'))) return join(root, 'manifests')
  for (const entry of readdirSync(root)) {
    const candidate = join(root, entry, 'manifests')
    if (statSync(join(root, entry)).isDirectory() && existsSync(join(candidate, 'setup'))) return candidate
  }
  throw new Error(`the kube-prometheus archive has no manifests/setup directory (looked in ${root}); check kube-prometheus-url`)
}

export async function fetchManifests(version: string, url: string, request: RequestOptions = {}): Promise<Manifests> {
  const cacheVersion = version.replace(/^v/, '')
  // Cached per URL too: another kube-prometheus-url for the same version (a fork, a patched
  // archive) must not be answered with what an earlier URL gave.
  const tool = `kube-prometheus-manifests-${createHash('sha256').update(url).digest('hex').slice(0, 12)}`
  let dir = tc.find(tool, cacheVersion)
  if (dir) {
    core.info(`kube-prometheus ${version} manifests from ${url} found in the tool cache`)
  } else {
    core.info(`Downloading kube-prometheus ${version} from ${url}`)
    const parent = process.env['RUNNER_TEMP'] || tmpdir()
    await mkdir(parent, { recursive: true })
    const temp = await mkdtemp(join(parent, 'kube-prometheus-'))
    try {
      const archive = join(temp, 'kube-prometheus.tar.gz')
      await downloadFile(defaultFetch, url, archive, request)
      const extracted = await tc.extractTar(archive, join(temp, 'extracted'))
      // Into the cache whole (cache.ts): another job on this runner may be caching the same release.
      const stage = await stageCopy(findManifestsDir(extracted), tool, cacheVersion, process.arch)
      dir = await placeEntry(stage, tool, cacheVersion, process.arch, async (existing) => crdNamesIn(join(existing, 'setup')).length > 0)
    } finally {
      await rm(temp, { recursive: true, force: true })
    }
  }
  const setupDir = join(dir, 'setup')
  const crdNames = crdNamesIn(setupDir)
  if (crdNames.length === 0)
    throw new Error(`kube-prometheus ${version}: manifests/setup holds no CustomResourceDefinitions; check kube-prometheus-url`)
  return { version, dir, setupDir, crdNames }
}

/** Whether a directory holds a YAML file: one without (every object someone else's) is not applied. */
function hasManifests(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => /\.ya?ml$/.test(f))
}

const NOTHING: ExecResult = { stdout: 'nothing to apply: every object exists and belongs to someone else', stderr: '', exitCode: 0 }

/** Called with the objects a create made (answered 201), before the apply it is part of resolves. */
export type OnCreated = (objects: CreatedLine[]) => Promise<void>

/**
 * A folder's objects onto the cluster. With `creates` (some were absent at plan time): first
 * `kubectl create`, so that what the API server creates for this run is known by its answer
 * and handed to `onCreated` with its UID, even when the create fails for others; then, when some
 * existed by then (another run created them at the same moment, or they were there before), the
 * server-side apply of the folder, which updates those. Without, the apply alone. Throws
 * CommandError for a create that failed for another reason than an object that exists.
 */
export async function createOrApply(kubectl: Kubectl, dir: string, creates: boolean, onCreated: OnCreated): Promise<ExecResult> {
  if (!hasManifests(dir)) return NOTHING
  if (creates) {
    const r = await kubectl.create({ dir })
    const created = parseCreated(r.stdout)
    if (created.length) await onCreated(created)
    if (createFailures(r.stderr).length) throw new CommandError('kubectl create', r)
    if (r.exitCode === 0) return { ...r, stdout: `${created.length} objects created` }
  }
  return kubectl.apply({ dir })
}

export function applySetup(kubectl: Kubectl, m: Manifests, onCreated: OnCreated): Promise<ExecResult> {
  return createOrApply(kubectl, m.setupDir, m.creates?.setup ?? false, onCreated)
}

/**
 * One watch per CRD, narrowed by name, one after the other: each object carries megabytes of
 * schema, so a list of all CRDs, or ten watches at once, is what made the action's memory peak.
 * The CRDs become Established together, so waiting in turn costs no time.
 */
export async function waitCrdsEstablished(kube: Kube, names: string[], signal: AbortSignal): Promise<void> {
  for (const n of names) {
    await kube.waitFor(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      { fieldSelector: `metadata.name=${n}` },
      (items) => conditionTrue(items.get(`/${n}`), 'Established'),
      signal,
    )
  }
}

export function applyStack(kubectl: Kubectl, m: Manifests, onCreated: OnCreated): Promise<ExecResult> {
  return createOrApply(kubectl, m.dir, m.creates?.rest ?? false, onCreated)
}

export function applyFirstWave(kubectl: Kubectl, m: Manifests, onCreated: OnCreated): Promise<ExecResult> {
  return m.firstDir ? createOrApply(kubectl, m.firstDir, m.creates?.first ?? false, onCreated) : Promise.resolve(NOTHING)
}

/**
 * The `onCreated` of a run: each object recorded in the run state as created by it, with its UID
 * and API path (from API discovery, asked again once for a kind it does not know yet).
 */
export function recordCreatedIn(run: Pick<ClusterRun, 'kube' | 'state'>): OnCreated {
  let paths = new ResourcePaths(run.kube)
  return async (objects) => {
    const found: CreatedObject[] = []
    for (const o of objects) {
      const ref: ObjectRef = { apiVersion: o.apiVersion, kind: o.kind, name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}) }
      let path = await paths.pathOf(ref).catch(() => undefined)
      if (!path) path = await (paths = new ResourcePaths(run.kube)).pathOf(ref).catch(() => undefined)
      if (!path) {
        core.warning(`${describeRef(ref)} was created by this run, but its API path is unknown: cleanup will leave it`)
        continue
      }
      found.push({ ...ref, uid: o.uid, path, part: 'stack' })
    }
    run.state.recordCreated(...found)
  }
}

/**
 * Resolves true once `done` holds for the collection at `path` (narrowed by `query`; see
 * Kube.waitFor), or false after `maxMs` ms, whichever comes first: a wait for order, never a
 * reason to fail (a later wait says what is wrong). Rejects only when `signal` aborts.
 */
async function orderedAfter(
  kube: Kube,
  path: string,
  query: Record<string, string>,
  done: (items: Map<string, KubeObject>) => boolean,
  maxMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  try {
    await kube.waitFor(path, query, done, AbortSignal.any([signal, AbortSignal.timeout(maxMs)]))
    return true
  } catch (e) {
    if (signal.aborted) throw e
    return false
  }
}

/** How long the run holds the Milvus install for the operator's pod, and the rest of kube-prometheus for Prometheus' pods: order, not readiness. */
export const OPERATOR_POD_WAIT_MS = 10_000
export const PROMETHEUS_PODS_WAIT_MS = 30_000

export async function waitOperator(kube: Kube, signal: AbortSignal): Promise<void> {
  await kube.waitFor(
    `/apis/apps/v1/namespaces/${MONITORING_NAMESPACE}/deployments`,
    { fieldSelector: 'metadata.name=prometheus-operator' },
    (items) => deploymentAvailable(items.get(`${MONITORING_NAMESPACE}/prometheus-operator`)),
    signal,
  )
}

/** A StatefulSet's controller has created every pod its spec asks for (status.replicas counts pods created). */
export function statefulSetPodsCreated(s: KubeObject | undefined): boolean {
  if (!s) return false
  const want = ((s.spec ?? {}) as { replicas?: number }).replicas ?? 1
  return (((s.status ?? {}) as { replicas?: number }).replicas ?? 0) >= Math.max(want, 1)
}

/** kube-prometheus' Prometheus `monitoring/k8s` and its stack, as its manifests define them. */
export const KUBE_PROMETHEUS_STACK: PrometheusStack = {
  namespace: MONITORING_NAMESPACE,
  name: PROMETHEUS_NAME,
  serviceAccount: 'prometheus-k8s',
  service: { namespace: MONITORING_NAMESPACE, name: 'prometheus-k8s', port: 'web', portNumber: 9090, pathPrefix: '' },
  serviceMonitorLabels: {},
  ruleLabels: { prometheus: PROMETHEUS_NAME, role: 'alert-rules' },
  ruleSelector: {},
  ruleNamespaceSelector: {},
  grafana: { namespace: MONITORING_NAMESPACE, name: 'grafana', port: 'http', portNumber: 3000, pathPrefix: '' },
  alertmanager: { namespace: MONITORING_NAMESPACE, name: 'alertmanager-main', port: 'web', portNumber: 9093, pathPrefix: '' },
  kubePrometheus: true,
}

/** The spec.serviceDiscoveryRole of the release's Prometheus (v0.17 on: EndpointSlice); undefined when unset. */
export function serviceDiscoveryRoleIn(manifestsDir: string): string | undefined {
  const file = join(manifestsDir, 'prometheus-prometheus.yaml')
  if (!existsSync(file)) return undefined
  const role = (parse(readFileSync(file, 'utf8')) as { spec?: { serviceDiscoveryRole?: unknown } } | null)?.spec?.serviceDiscoveryRole
  return typeof role === 'string' ? role : undefined
}

const onRetry = (what: string) => (attempt: number, error: Error, delayMs: number) =>
  core.info(`${what}: the API server did not answer (${error.message.split('\n')[0]}); retry ${attempt} in ${formatDuration(delayMs)}`)

/**
 * The source that installs kube-prometheus: its manifests downloaded (cached per version and
 * URL), an ownership record read before any change, then the CRDs, the operator and Prometheus
 * first, and the rest once Prometheus' pods exist (a node pulls one image at a time, in the
 * order its pods arrive).
 */
export class KubePrometheus implements PrometheusSource {
  readonly description: string
  readonly #inputs: Inputs
  #downloaded: Manifests | undefined
  /** After resolve: the manifests to apply, without the objects that belong to someone else. */
  #toApply: Manifests | undefined
  /** The first wave was begun: from then on, a run that ends early applies the rest. */
  #started = false
  #rest: Promise<ExecResult> | undefined

  constructor(inputs: Inputs) {
    this.#inputs = inputs
    this.description = `kube-prometheus ${inputs.kubePrometheusVersion}`
  }

  permissions(): Permission[] {
    return [
      { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
      { verb: 'create', group: 'apps', resource: 'daemonsets', namespace: MONITORING_NAMESPACE },
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: MONITORING_NAMESPACE },
      { verb: 'get', group: '', resource: 'pods', subresource: 'proxy', namespace: MONITORING_NAMESPACE },
      { verb: 'get', group: '', resource: 'services', subresource: 'proxy', namespace: MONITORING_NAMESPACE },
    ]
  }

  compatibility(serverMinor: number): string {
    return compatibilityWarning(this.#inputs.kubePrometheusVersion, serverMinor)
  }

  async fetch(run: Run): Promise<void> {
    const { kubePrometheusVersion: version, kubePrometheusUrl: url } = this.#inputs
    this.#downloaded = await run.budget.phase('Download kube-prometheus', () =>
      run.budget
        .wait(`kube-prometheus ${version} to download from ${url}`, (signal) =>
          fetchManifests(version, url, { signal, allowInsecure: this.#inputs.allowInsecureDownloads }),
        )
        .catch((e: unknown) => {
          if (e instanceof TimeoutError) throw e
          throw new Error(
            `Could not download kube-prometheus ${version} from ${url}: ${(e as Error).message}. Check kube-prometheus-version and kube-prometheus-url.`,
          )
        }),
    )
  }

  /**
   * The ownership record, before any change (see ownership.ts): which of the manifests' objects
   * exist and who manages them, and whether another prometheus-operator or Prometheus runs.
   * Throws (nothing changed) for another stack, or for foreign CRDs older than the release.
   * Records what this run will create in the run state.
   */
  async resolve(run: ClusterRun): Promise<PrometheusStack> {
    const m = this.#downloaded
    if (!m) throw new Error('kube-prometheus: resolve before fetch')
    const role = serviceDiscoveryRoleIn(m.dir)
    this.#toApply = await run.budget.phase('Check what the cluster has', () => planStack(m, run))
    return role ? { ...KUBE_PROMETHEUS_STACK, serviceDiscoveryRole: role } : KUBE_PROMETHEUS_STACK
  }

  /** Applies manifests/setup server-side (retrying while the API server is away) and waits until every CRD is Established. */
  async prepare(run: StackRun): Promise<void> {
    const m = this.#manifests()
    await run.budget.phase('Apply kube-prometheus CRDs', async () => {
      core.startGroup(`Apply kube-prometheus ${m.version} manifests/setup (server-side)`)
      try {
        const out = await run.budget.wait('kube-prometheus manifests/setup to apply', (signal) =>
          retryTransient(() => run.budget.critical(applySetup(run.kubectl, m, this.#onCreated(run))), {
            signal,
            onRetry: onRetry('Applying manifests/setup'),
          }),
        )
        core.info(out.stdout)
      } finally {
        core.endGroup()
      }
      await run.budget.wait(`the ${m.crdNames.length} kube-prometheus CRDs to be Established`, (signal) =>
        waitCrdsEstablished(run.kube, m.crdNames, signal),
      )
      core.info(`CRDs Established: ${m.crdNames.join(', ')}`)
      // From here this run uses the stack: another run's cleanup leaves it while this one holds it.
      const hold = await holdStack(run.kube, MONITORING_NAMESPACE, run.state.state.holder ?? holderIdentity())
      run.state.record({ stackHold: { namespace: hold.namespace, name: hold.name } })
    })
  }

  /**
   * The first wave of manifests/ (the operator and Prometheus, FIRST_APPS) applied server-side,
   * then a wait of at most OPERATOR_POD_WAIT_MS for the operator's pod to exist: the operator's
   * small image (it creates the Prometheus pods) should not queue behind Milvus'.
   */
  async start(run: StackRun): Promise<void> {
    const m = this.#manifests()
    this.#started = true
    await run.budget.phase('Apply prometheus-operator and Prometheus', async () => {
      await run.budget.wait('the prometheus-operator and Prometheus manifests to apply', (signal) =>
        retryTransient(() => run.budget.critical(applyFirstWave(run.kubectl, m, this.#onCreated(run))), {
          signal,
          onRetry: onRetry('Applying the prometheus-operator and Prometheus manifests'),
        }),
      )
      core.info(`Applied kube-prometheus ${m.version}: prometheus-operator and Prometheus first`)
      await run.budget.wait("the prometheus-operator's pod to be created", (signal) =>
        orderedAfter(
          run.kube,
          `/api/v1/namespaces/${MONITORING_NAMESPACE}/pods`,
          { labelSelector: 'app.kubernetes.io/name=prometheus-operator' },
          (items) => items.size > 0,
          OPERATOR_POD_WAIT_MS,
          signal,
        ),
      )
    })
  }

  /**
   * Waits for the operator Deployment, then (at most PROMETHEUS_PODS_WAIT_MS) for the operator to
   * create the Prometheus pods, and applies the rest of manifests/ (Grafana, Alertmanager,
   * exporters), so their images queue behind Prometheus'; beside it, for a replica of Prometheus
   * to be available.
   */
  async ready(run: StackRun): Promise<void> {
    const m = this.#manifests()
    const { stack, budget, kube } = run
    await budget.phase('kube-prometheus ready', async () => {
      const prometheus = `Prometheus ${refOf(stack)}`
      const serving = async () => {
        await budget.wait(`${prometheus} to have a replica available`, (signal) => waitPrometheus(kube, stack, signal))
        core.info(`${prometheus} has a replica available`)
      }
      await budget.wait('the prometheus-operator Deployment to be available', (signal) => waitOperator(kube, signal))
      core.info('prometheus-operator is available')
      const rest = async () => {
        const statefulSet = `prometheus-${stack.name}`
        await budget.wait(`the pods of ${prometheus} to be created`, (signal) =>
          orderedAfter(
            kube,
            `/apis/apps/v1/namespaces/${stack.namespace}/statefulsets`,
            { fieldSelector: `metadata.name=${statefulSet}` },
            (items) => statefulSetPodsCreated(items.get(`${stack.namespace}/${statefulSet}`)),
            PROMETHEUS_PODS_WAIT_MS,
            signal,
          ),
        )
        await budget.wait('kube-prometheus manifests/ to apply', (signal) => this.#applyRest(run, signal))
        core.info(`Applied the rest of kube-prometheus ${m.version} manifests/`)
      }
      await Promise.all([rest(), serving()])
    })
  }

  /** A run that ended between the two applies still leaves the stack whole: one attempt at the rest. */
  abandon(run: StackRun): void {
    if (!this.#toApply || !this.#started || this.#rest) return
    core.info(`Applying the rest of kube-prometheus ${this.#toApply.version} manifests/, so the stack is left whole`)
    this.#applyRest(run).catch((e: unknown) =>
      core.warning(`Could not apply the rest of kube-prometheus: ${(e as Error).message.split('\n')[0]}; a re-run applies it.`),
    )
  }

  #recorder: OnCreated | undefined
  #onCreated(run: Pick<ClusterRun, 'kube' | 'state'>): OnCreated {
    return (this.#recorder ??= recordCreatedIn(run))
  }

  #manifests(): Manifests {
    if (!this.#toApply) throw new Error('kube-prometheus: used before resolve')
    return this.#toApply
  }

  /**
   * The rest of manifests/ (all but the first wave) applied server-side, once per run. With
   * `signal`, retried while the API server is away until it aborts; without, one attempt.
   * Counted as critical work (Budget.critical).
   */
  #applyRest(run: StackRun, signal?: AbortSignal): Promise<ExecResult> {
    if (!this.#rest) {
      const m = this.#manifests()
      const once = () => run.budget.critical(applyStack(run.kubectl, m, this.#onCreated(run)))
      this.#rest = signal ? retryTransient(once, { signal, onRetry: onRetry('Applying manifests/') }) : once()
    }
    return this.#rest
  }
}

/** The API paths of the objects in `existing` that are being deleted. */
function deletingPaths(existing: Map<string, Existing>): string[] {
  return [...existing.values()].flatMap((e) => (e.deleting ? [e.deleting] : []))
}

/**
 * Resolves once nothing is at the API path `path` (a watch of its name in its collection); for a
 * namespace, rejects as soon as its deletion is stuck (an APIService that no longer answers, a
 * finalizer nobody removes), naming why.
 */
async function gone(kube: Kube, path: string, signal: AbortSignal): Promise<void> {
  const name = path.split('/').at(-1)!
  const collection = path.slice(0, -name.length - 1)
  if (collection === '/api/v1/namespaces') return namespaceGone(kube, name, signal)
  await kube.waitFor(collection, { fieldSelector: `metadata.name=${name}` }, (items) => items.size === 0, signal)
}

/** The ownership record and the manifests to apply (see KubePrometheus.resolve). */
async function planStack(m: Manifests, run: ClusterRun): Promise<Manifests> {
  const { kube } = run
  const objects = [...manifestObjects(m.setupDir), ...manifestObjects(m.dir)]
  // Every Deployment and Prometheus of the cluster, a page at a time: only what is another stack is kept.
  const read = async () => {
    const others: OtherStack[] = [] // this attempt's own: a failed attempt's scans may still be running
    const scan = (path: string, pick: (items: KubeObject[]) => OtherStack[]) =>
      kube
        .eachPage(path, {}, (items) => others.push(...pick(items)))
        .catch((e: unknown) => {
          if (!(e instanceof ApiError && e.status === 404)) throw e
        })
    const [existing] = await Promise.all([
      readExisting(kube, objects),
      scan('/apis/apps/v1/deployments', (items) => otherStacks(items, [])),
      scan('/apis/monitoring.coreos.com/v1/prometheuses', (items) => otherStacks([], items)),
    ])
    return { existing, others }
  }
  const readAll = () => retryTransient(read, { signal: AbortSignal.timeout(60_000), onRetry: onRetry('Reading what the cluster has') })
  let { existing, others } = await readAll()
  if (others.length) throw otherStackError(others)
  // Objects of the stack being deleted (another run's cleanup removing the kube-prometheus it
  // installed, a namespace terminating): nothing can be applied over them, so the run waits
  // until they are gone, then reads again and installs what is missing.
  for (let deleting = deletingPaths(existing); deleting.length; deleting = deletingPaths(existing)) {
    core.info(
      `kube-prometheus is being deleted (another run's cleanup?): ${deleting.length} of its objects are terminating, ${deleting.slice(0, 3).join(', ')}${deleting.length > 3 ? ', ...' : ''}; waiting until they are gone, then installing it`,
    )
    await run.budget.wait('the kube-prometheus being deleted to be gone', (signal) => pool(deleting, 8, (p) => gone(kube, p, signal)))
    ;({ existing, others } = await readAll())
    if (others.length) throw otherStackError(others)
  }
  const plan = planApply(objects, existing)
  if (plan.tooOld.length) throw tooOldError(m.version, plan.tooOld)
  if (plan.foreign.length) {
    core.info(
      `Left as they are (they exist and belong to someone else; not applied over, never deleted):\n${plan.foreign.map((f) => `  - ${describeRef(f)} (managed by ${f.managers.join(', ') || 'no field manager'})`).join('\n')}`,
    )
  }
  core.info(
    `kube-prometheus ${m.version}: ${plan.create.length} objects to create, ${objects.length - plan.create.length - plan.foreign.length} of this action's own to update, ${plan.foreign.length} left alone`,
  )
  // Nothing is recorded yet: an object is this run's once its create is answered (createOrApply).
  const absent = new Set(plan.create.map(refKey))
  const toCreate = objects.filter((o) => absent.has(refKey(o)))
  const creates = {
    setup: toCreate.some((o) => o.file.startsWith(m.setupDir + '/')),
    first: toCreate.some((o) => !o.file.startsWith(m.setupDir + '/') && inFirstWave(o)),
    rest: toCreate.some((o) => !o.file.startsWith(m.setupDir + '/') && !inFirstWave(o)),
  }
  const filtered = filteredManifests(objects, new Set(plan.foreign.map(refKey)), m)
  return { ...m, ...filtered, creates }
}
