// kube-prometheus: fetch a release's manifests (cached per version), apply them server-side,
// and wait on watches for the CRDs, the operator and Prometheus `k8s`.
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import * as core from '@actions/core'
import * as tc from '@actions/tool-cache'
import { formatDuration, type Budget } from '../budget.ts'
import { ApiError, Kube, conditionTrue, deploymentAvailable, type KubeObject } from '../cluster/kube.ts'
import type { ExecResult, Kubectl } from '../cluster/kubectl.ts'
import { retryTransient } from '../cluster/retry.ts'
import type { Inputs } from '../types.ts'
import { saveRunState, type RunState } from '../state.ts'
import { describeRef, filteredManifests, manifestObjects, otherStackError, otherStacks, planApply, readExisting, refKey, tooOldError, type OtherStack } from './ownership.ts'
import { refOf, type PrometheusStack } from './existing.ts'

export const MONITORING_NAMESPACE = 'monitoring'
export const PROMETHEUS_NAME = 'k8s'

export interface Manifests {
  version: string
  dir: string // manifests/ (after planStack: without the first wave)
  setupDir: string // manifests/setup
  /** After planStack: the operator's and Prometheus' objects of manifests/, applied first (FIRST_APPS). */
  firstDir?: string
  crdNames: string[]
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
  for (const file of readdirSync(setupDir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
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

export async function fetchManifests(version: string, url: string): Promise<Manifests> {
  const cacheVersion = version.replace(/^v/, '')
  // Cached per URL too: another kube-prometheus-url for the same version (a fork, a patched
  // archive) must not be answered with what an earlier URL gave.
  const tool = `kube-prometheus-manifests-${createHash('sha256').update(url).digest('hex').slice(0, 12)}`
  let dir = tc.find(tool, cacheVersion)
  if (dir) {
    core.info(`kube-prometheus ${version} manifests from ${url} found in the tool cache`)
  } else {
    core.info(`Downloading kube-prometheus ${version} from ${url}`)
    const archive = await tc.downloadTool(url)
    const extracted = await tc.extractTar(archive)
    dir = await tc.cacheDir(findManifestsDir(extracted), tool, cacheVersion)
  }
  const setupDir = join(dir, 'setup')
  const crdNames = crdNamesIn(setupDir)
  if (crdNames.length === 0) throw new Error(`kube-prometheus ${version}: manifests/setup holds no CustomResourceDefinitions; check kube-prometheus-url`)
  return { version, dir, setupDir, crdNames }
}

/** Whether a directory holds a YAML file: one without (every object someone else's) is not applied. */
function hasManifests(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => /\.ya?ml$/.test(f))
}

const NOTHING: ExecResult = { stdout: 'nothing to apply: every object exists and belongs to someone else', stderr: '', exitCode: 0 }

export function applySetup(kubectl: Kubectl, m: Manifests): Promise<ExecResult> {
  return hasManifests(m.setupDir) ? kubectl.apply({ dir: m.setupDir }) : Promise.resolve(NOTHING)
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

export function applyStack(kubectl: Kubectl, m: Manifests): Promise<ExecResult> {
  return hasManifests(m.dir) ? kubectl.apply({ dir: m.dir }) : Promise.resolve(NOTHING)
}

export function applyFirstWave(kubectl: Kubectl, m: Manifests): Promise<ExecResult> {
  return m.firstDir && hasManifests(m.firstDir) ? kubectl.apply({ dir: m.firstDir }) : Promise.resolve(NOTHING)
}

/**
 * Resolves true once `done` holds for the collection at `path` (narrowed by `query`; see
 * Kube.waitFor), or false after `maxMs` ms, whichever comes first: a wait for order, never a
 * reason to fail (a later wait says what is wrong). Rejects only when `signal` aborts.
 */
async function orderedAfter(kube: Kube, path: string, query: Record<string, string>, done: (items: Map<string, KubeObject>) => boolean, maxMs: number, signal: AbortSignal): Promise<boolean> {
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

/**
 * Prometheus `k8s` can scrape once one replica is available: waiting for all of them (the
 * `Available` condition) only adds the slowest pod's start to the run, which on big clusters
 * is most of it.
 */
export function prometheusServing(p: KubeObject | undefined): boolean {
  return conditionTrue(p, 'Available') || (((p?.status ?? {}) as { availableReplicas?: number }).availableReplicas ?? 0) >= 1
}

export async function waitPrometheus(kube: Kube, p: { namespace: string; name: string }, signal: AbortSignal): Promise<void> {
  await kube.waitFor(
    `/apis/monitoring.coreos.com/v1/namespaces/${p.namespace}/prometheuses`,
    { fieldSelector: `metadata.name=${p.name}` },
    (items) => prometheusServing(items.get(`${p.namespace}/${p.name}`)),
    signal,
  )
}

/** What the kube-prometheus phases act with. */
export interface StackContext {
  kube: Kube
  kubectl: Kubectl
  budget: Budget
  /** The Prometheus the run waits for. */
  prometheus: PrometheusStack
}

const onRetry = (what: string) => (attempt: number, error: Error, delayMs: number) =>
  core.info(`${what}: the API server did not answer (${error.message.split('\n')[0]}); retry ${attempt} in ${formatDuration(delayMs)}`)

/** fetchManifests for the inputs, with an error that names the inputs to check. */
export function downloadManifests(inputs: Inputs): Promise<Manifests> {
  return fetchManifests(inputs.kubePrometheusVersion, inputs.kubePrometheusUrl).catch((e: unknown) => {
    throw new Error(
      `Could not download kube-prometheus ${inputs.kubePrometheusVersion} from ${inputs.kubePrometheusUrl}: ${(e as Error).message}. Check kube-prometheus-version and kube-prometheus-url.`,
    )
  })
}

/** Applies manifests/setup server-side (retrying while the API server is away) and waits until every CRD is Established. */
export async function installCrds(m: Manifests, c: StackContext): Promise<void> {
  core.startGroup(`Apply kube-prometheus ${m.version} manifests/setup (server-side)`)
  try {
    const out = await c.budget.wait('kube-prometheus manifests/setup to apply', (signal) =>
      retryTransient(() => c.budget.critical(applySetup(c.kubectl, m)), { signal, onRetry: onRetry('Applying manifests/setup') }),
    )
    core.info(out.stdout)
  } finally {
    core.endGroup()
  }
  await c.budget.wait(`the ${m.crdNames.length} kube-prometheus CRDs to be Established`, (signal) => waitCrdsEstablished(c.kube, m.crdNames, signal))
  core.info(`CRDs Established: ${m.crdNames.join(', ')}`)
}

/**
 * The ownership record, before any change (see ownership.ts): reads which of the manifests'
 * objects exist and who manages them, and whether another prometheus-operator or Prometheus runs.
 * Throws (nothing changed) for another stack, or for foreign CRDs older than the release. Records
 * what this run will create in the run state, and returns the manifests to apply: a copy without
 * the objects that belong to someone else.
 */
export async function planStack(m: Manifests, kube: Kube, state: RunState): Promise<Manifests> {
  const objects = [...manifestObjects(m.setupDir), ...manifestObjects(m.dir)]
  // Every Deployment and Prometheus of the cluster, a page at a time: only what is another stack is kept.
  const read = async () => {
    const others: OtherStack[] = [] // this attempt's own: a failed attempt's scans may still be running
    const scan = (path: string, pick: (items: KubeObject[]) => OtherStack[]) =>
      kube.eachPage(path, {}, (items) => others.push(...pick(items))).catch((e: unknown) => {
        if (!(e instanceof ApiError && e.status === 404)) throw e
      })
    const [existing] = await Promise.all([
      readExisting(kube, objects),
      scan('/apis/apps/v1/deployments', (items) => otherStacks(items, [])),
      scan('/apis/monitoring.coreos.com/v1/prometheuses', (items) => otherStacks([], items)),
    ])
    return { existing, others }
  }
  const { existing, others } = await retryTransient(read, { signal: AbortSignal.timeout(60_000), onRetry: onRetry('Reading what the cluster has') })
  if (others.length) throw otherStackError(others)
  const plan = planApply(objects, existing)
  if (plan.tooOld.length) throw tooOldError(m.version, plan.tooOld)
  if (plan.foreign.length) {
    core.info(
      `Left as they are (they exist and belong to someone else; not applied over, never deleted):\n${plan.foreign.map((f) => `  - ${describeRef(f)} (managed by ${f.managers.join(', ') || 'no field manager'})`).join('\n')}`,
    )
  }
  core.info(`kube-prometheus ${m.version}: ${plan.create.length} objects to create, ${objects.length - plan.create.length - plan.foreign.length} of this action's own to update, ${plan.foreign.length} left alone`)
  state.created = plan.create
  saveRunState(state)
  const filtered = filteredManifests(objects, new Set(plan.foreign.map(refKey)), m)
  return { ...m, ...filtered }
}

/**
 * The first wave of manifests/ (the operator and Prometheus, FIRST_APPS) applied server-side,
 * then a wait of at most OPERATOR_POD_WAIT_MS for the operator's pod to exist. The Milvus
 * install starts after it: a node pulls one image at a time in the order its pods arrive, and the
 * operator's small image (it creates the Prometheus pods) should not queue behind Milvus'.
 */
export async function applyFirst(m: Manifests, c: StackContext): Promise<void> {
  await c.budget.wait('the prometheus-operator and Prometheus manifests to apply', (signal) =>
    retryTransient(() => c.budget.critical(applyFirstWave(c.kubectl, m)), { signal, onRetry: onRetry('Applying the prometheus-operator and Prometheus manifests') }),
  )
  core.info(`Applied kube-prometheus ${m.version}: prometheus-operator and Prometheus first`)
  await c.budget.wait("the prometheus-operator's pod to be created", (signal) =>
    orderedAfter(c.kube, `/api/v1/namespaces/${MONITORING_NAMESPACE}/pods`, { labelSelector: 'app.kubernetes.io/name=prometheus-operator' }, (items) => items.size > 0, OPERATOR_POD_WAIT_MS, signal),
  )
}

/**
 * When the action installs the stack (after applyFirst): waits for the operator Deployment, then
 * (at most PROMETHEUS_PODS_WAIT_MS) for the operator to create the Prometheus pods, and applies
 * the rest of manifests/ (Grafana, Alertmanager, exporters), so their images queue behind
 * Prometheus'. In every case: waits for a replica of the run's Prometheus to be available.
 */
export async function stackReady(m: Manifests | undefined, c: StackContext): Promise<void> {
  const prometheus = `Prometheus ${refOf(c.prometheus)}`
  const serving = async () => {
    await c.budget.wait(`${prometheus} to have a replica available`, (signal) => waitPrometheus(c.kube, c.prometheus, signal))
    core.info(`${prometheus} has a replica available`)
  }
  if (!m) return serving()
  await c.budget.wait('the prometheus-operator Deployment to be available', (signal) => waitOperator(c.kube, signal))
  core.info('prometheus-operator is available')
  const rest = async () => {
    const statefulSet = `prometheus-${c.prometheus.name}`
    await c.budget.wait(`the pods of ${prometheus} to be created`, (signal) =>
      orderedAfter(
        c.kube,
        `/apis/apps/v1/namespaces/${c.prometheus.namespace}/statefulsets`,
        { fieldSelector: `metadata.name=${statefulSet}` },
        (items) => statefulSetPodsCreated(items.get(`${c.prometheus.namespace}/${statefulSet}`)),
        PROMETHEUS_PODS_WAIT_MS,
        signal,
      ),
    )
    await c.budget.wait('kube-prometheus manifests/ to apply', (signal) => applyRest(m, c, signal))
    core.info(`Applied the rest of kube-prometheus ${m.version} manifests/`)
  }
  await Promise.all([rest(), serving()])
}

const restApplies = new WeakMap<Manifests, Promise<ExecResult>>()

/**
 * The rest of manifests/ (all but the first wave) applied server-side, once per run: a later
 * call gets the first call's promise. With `signal`, retried while the API server is away until
 * it aborts; without, one attempt (the failure path's: a run that ended between the two applies
 * still leaves the stack whole). Counted as critical work (Budget.critical).
 */
export function applyRest(m: Manifests, c: StackContext, signal?: AbortSignal): Promise<ExecResult> {
  let applied = restApplies.get(m)
  if (!applied) {
    const once = () => c.budget.critical(applyStack(c.kubectl, m))
    applied = signal ? retryTransient(once, { signal, onRetry: onRetry('Applying manifests/') }) : once()
    restApplies.set(m, applied)
  }
  return applied
}

/** Whether applyRest was called for these manifests. */
export const restStarted = (m: Manifests): boolean => restApplies.has(m)

/** A StatefulSet's controller has created every pod its spec asks for (status.replicas counts pods created). */
export function statefulSetPodsCreated(s: KubeObject | undefined): boolean {
  if (!s) return false
  const want = ((s.spec ?? {}) as { replicas?: number }).replicas ?? 1
  return (((s.status ?? {}) as { replicas?: number }).replicas ?? 0) >= Math.max(want, 1)
}
