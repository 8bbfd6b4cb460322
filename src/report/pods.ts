// The pods a failed run is about, found once for the log groups, the diagnostics folder and the
// failure summary: the release's, the stack's Prometheus and its prometheus-operator, each with
// its containers' logs (the current container's and, where one restarted, the previous one's),
// cut to a size a person reads and an artifact holds.
import type { Kubectl } from '../cluster/kubectl.ts'
import type { Inputs, PrometheusStack } from '../types.ts'

export type PodRole = 'Milvus' | 'Prometheus' | 'prometheus-operator'

export interface ContainerInfo {
  name: string
  init: boolean
  restarts: number
  /** It ran at some point (running, terminated, or terminated before a restart): kubectl logs has something. */
  started: boolean
  /** Why it waits (CrashLoopBackOff, ImagePullBackOff, ContainerCreating); '' when it does not. */
  waiting: string
  /** How its last run ended ('Error, exit 1'); '' when it has not ended. */
  lastEnd: string
}

export interface PodInfo {
  namespace: string
  name: string
  role: PodRole
  ready: boolean
  phase: string
  /** Why it is not ready, in the cluster's words (a container's reason, the scheduler's); '' when ready. */
  reason: string
  containers: ContainerInfo[]
}

export interface PodLog {
  pod: PodInfo
  container: string
  previous: boolean
  /** The log as kept: its head says when it was cut, or why there is none. */
  text: string
}

export interface PodReport {
  pods: PodInfo[]
  /** Lines saying what could not be looked for, and why (a refused cluster-wide list). */
  notes: string[]
  logs: PodLog[]
}

/** The label selectors prometheus-operator's pods carry: kube-prometheus' and kube-prometheus-stack's. */
export const OPERATOR_SELECTORS = ['app.kubernetes.io/name=prometheus-operator', 'app.kubernetes.io/component=prometheus-operator']

interface ContainerStatus {
  name: string
  restartCount?: number
  state?: { running?: object; waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number } }
  lastState?: { terminated?: { reason?: string; exitCode?: number } }
}

interface PodObject {
  metadata: { name: string; namespace: string }
  spec?: { containers?: Array<{ name: string }>; initContainers?: Array<{ name: string }> }
  status?: {
    phase?: string
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>
    containerStatuses?: ContainerStatus[]
    initContainerStatuses?: ContainerStatus[]
  }
}

/** The pods of a `kubectl get pods -o json` list as the report reads them. */
export function podInfos(list: { items?: PodObject[] }, role: PodRole): PodInfo[] {
  return (list.items ?? []).map((p) => {
    const status = p.status ?? {}
    const containerOf = (init: boolean) => (c: { name: string }) => {
      const s = (init ? status.initContainerStatuses : status.containerStatuses)?.find((x) => x.name === c.name)
      const ended = s?.state?.terminated ?? s?.lastState?.terminated
      return {
        name: c.name,
        init,
        restarts: s?.restartCount ?? 0,
        started: Boolean(s?.state?.running ?? s?.state?.terminated ?? s?.lastState?.terminated),
        waiting: s?.state?.waiting?.reason ?? '',
        lastEnd: ended ? `${ended.reason ?? 'Terminated'}, exit ${ended.exitCode ?? '?'}` : '',
      }
    }
    const containers = [...(p.spec?.initContainers ?? []).map(containerOf(true)), ...(p.spec?.containers ?? []).map(containerOf(false))]
    const phase = status.phase ?? 'Unknown'
    const ready = phase === 'Succeeded' || (status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
    return {
      namespace: p.metadata.namespace,
      name: p.metadata.name,
      role,
      ready,
      phase,
      reason: ready ? '' : notReadyReason(status, containers, phase),
      containers,
    }
  })
}

function notReadyReason(status: NonNullable<PodObject['status']>, containers: ContainerInfo[], phase: string): string {
  // A container that waits (a crash loop, a pull error) says more than "containers with unready status".
  const waiting = containers.find((c) => c.waiting !== '' && c.waiting !== 'PodInitializing')
  if (waiting) {
    const restarts =
      waiting.restarts > 0 ? `, ${waiting.restarts} restart${waiting.restarts === 1 ? '' : 's'}, last ${waiting.lastEnd}` : ''
    return `${waiting.waiting}: container ${waiting.name}${restarts}`
  }
  const unscheduled = status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
  if (unscheduled) return `${unscheduled.reason ?? 'Unschedulable'}: ${unscheduled.message ?? ''}`.trim()
  const notReady = status.conditions?.find((c) => c.type === 'Ready' && c.status !== 'True')
  return notReady?.message ?? notReady?.reason ?? phase
}

type Run = (args: string[], signal?: AbortSignal) => Promise<{ stdout: string; stderr: string; exitCode: number }>

const runner =
  (kubectl: Pick<Kubectl, 'run'>): Run =>
  (args, signal) =>
    kubectl.run(args, { allowFailure: true, ...(signal ? { signal } : {}) })

async function getPods(run: Run, scope: string[], selector: string, role: PodRole): Promise<{ pods: PodInfo[]; error?: string }> {
  const r = await run(['get', 'pods', ...scope, '-l', selector, '-o', 'json'])
  if (r.exitCode !== 0) return { pods: [], error: (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? `exit ${r.exitCode}` }
  try {
    return { pods: podInfos(JSON.parse(r.stdout) as { items?: PodObject[] }, role) }
  } catch (e) {
    return { pods: [], error: `unreadable answer: ${(e as Error).message}` }
  }
}

// Pods matching any of `selectors` in `scope`; an error only when every list failed.
async function getPodsBy(run: Run, scope: string[], selectors: string[], role: PodRole): Promise<{ pods: PodInfo[]; error?: string }> {
  const rs = await Promise.all(selectors.map((s) => getPods(run, scope, s, role)))
  return { pods: rs.flatMap((r) => r.pods), ...(rs.every((r) => r.error) ? { error: rs[0]?.error } : {}) }
}

/** The labels the chart's pods carry: Milvus' and etcd's `app.kubernetes.io/instance`, MinIO's and Pulsar's `release`. */
export const releaseSelectors = (release: string): string[] => [`app.kubernetes.io/instance=${release}`, `release=${release}`]

/**
 * The release's pods (releaseSelectors in its namespace), the stack's
 * Prometheus pods (`operator.prometheus.io/name=<name>` in its namespace) and prometheus-operator's:
 * in the stack's namespace for the kube-prometheus the action installs, else wherever the identity
 * may list them (cluster-wide, else the stack's namespace), or a note saying why not.
 */
export async function findPods(
  kubectl: Pick<Kubectl, 'run'>,
  inputs: Pick<Inputs, 'namespace' | 'releaseName'>,
  stack?: PrometheusStack,
): Promise<{ pods: PodInfo[]; notes: string[] }> {
  const run = runner(kubectl)
  const notes: string[] = []
  const lookups: Array<Promise<PodInfo[]>> = []
  const noted = (what: string) => (r: { pods: PodInfo[]; error?: string }) => {
    if (r.error) notes.push(`${what}: not listed: ${r.error}`)
    else if (r.pods.length === 0) notes.push(`${what}: none found.`)
    return r.pods
  }
  const release = releaseSelectors(inputs.releaseName)
  lookups.push(
    getPodsBy(run, ['-n', inputs.namespace], release, 'Milvus').then(noted(`Milvus pods (${release.join(' or ')} in ${inputs.namespace})`)),
  )
  if (stack) {
    const prometheusSelector = `operator.prometheus.io/name=${stack.name}`
    lookups.push(
      getPods(run, ['-n', stack.namespace], prometheusSelector, 'Prometheus').then(
        noted(`Prometheus pods (${prometheusSelector} in ${stack.namespace})`),
      ),
    )
    lookups.push(findOperator(run, stack, notes))
  } else {
    notes.push('Prometheus and prometheus-operator pods: not looked for, the run ended before it resolved its Prometheus.')
  }
  const seen = new Set<string>()
  const pods = (await Promise.all(lookups)).flat().filter((p) => {
    const key = `${p.namespace}/${p.name}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  return { pods, notes }
}

async function findOperator(run: Run, stack: PrometheusStack, notes: string[]): Promise<PodInfo[]> {
  const each = (scope: string[]) => getPodsBy(run, scope, OPERATOR_SELECTORS, 'prometheus-operator')
  const inStack = ['-n', stack.namespace]
  // The kube-prometheus the action installs runs its operator beside Prometheus.
  if (stack.kubePrometheus) {
    const r = await each(inStack)
    if (r.error) notes.push(`prometheus-operator pods (in ${stack.namespace}): not listed: ${r.error}`)
    else if (r.pods.length === 0)
      notes.push(`prometheus-operator pods: none labelled ${OPERATOR_SELECTORS.join(' or ')} in ${stack.namespace}.`)
    return r.pods
  }
  const all = await each(['--all-namespaces'])
  if (!all.error) {
    if (all.pods.length === 0)
      notes.push(`prometheus-operator pods: none labelled ${OPERATOR_SELECTORS.join(' or ')} in any namespace; its logs are skipped.`)
    return all.pods
  }
  const near = await each(inStack)
  if (near.pods.length === 0) {
    notes.push(
      `prometheus-operator pods: skipped: the identity may not list pods in every namespace (${all.error}), ` +
        `and none labelled ${OPERATOR_SELECTORS.join(' or ')} is in ${stack.namespace}${near.error ? ` (${near.error})` : ''}.`,
    )
  }
  return near.pods
}

export interface LogLimits {
  /** Lines asked of kubectl (`--tail`), from the end. */
  tailLines: number
  /** Bytes kept of each log, from the end. */
  maxBytes: number
}

/** What the diagnostics folder keeps of each log. */
export const FOLDER_LOG_LIMITS: LogLimits = { tailLines: 5000, maxBytes: 256 * 1024 }
/** What the failure log prints of each log. */
export const GROUP_LOG_LINES = 60

/**
 * The last `maxBytes` of `text`, from a line's start, headed by a line saying how much was cut;
 * `text` itself when it fits.
 */
export function capTail(text: string, maxBytes: number): { text: string; cutBytes: number } {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= maxBytes) return { text, cutBytes: 0 }
  let start = bytes.length - maxBytes
  const newline = bytes.indexOf(0x0a, start)
  if (newline >= 0 && newline < bytes.length - 1) start = newline + 1
  // Never start inside a UTF-8 sequence.
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++
  return { text: bytes.subarray(start).toString('utf8'), cutBytes: start }
}

/** The last `lines` lines of `text`. */
export function lastLines(text: string, lines: number): string {
  const all = text.replace(/\n$/, '').split('\n')
  return all.length <= lines ? all.join('\n') : all.slice(-lines).join('\n')
}

function logArgs(pod: PodInfo, container: string, previous: boolean): string[] {
  return ['logs', '-n', pod.namespace, pod.name, '-c', container, ...(previous ? ['--previous'] : [])]
}

/** The command that shows a whole log, for the cut notice. */
export function logCommand(pod: PodInfo, container: string, previous: boolean): string {
  return `kubectl ${logArgs(pod, container, previous).join(' ')}`
}

async function containerLog(
  run: Run,
  pod: PodInfo,
  c: ContainerInfo,
  previous: boolean,
  limits: LogLimits,
  signal: AbortSignal,
): Promise<PodLog> {
  const log = (text: string): PodLog => ({ pod, container: c.name, previous, text })
  if (!previous && !c.started) return log(`(no log: the container has not started${c.waiting ? `: ${c.waiting}` : ''})\n`)
  if (signal.aborted) return log('(not collected: the time for collecting logs ran out)\n')
  const r = await run([...logArgs(pod, c.name, previous), `--tail=${limits.tailLines}`, '--request-timeout=20s'], signal)
  if (r.exitCode !== 0) return log(`(no log: ${(r.stderr.trim() || r.stdout.trim() || `kubectl exit ${r.exitCode}`).split('\n')[0]})\n`)
  const lines = r.stdout.replace(/\n$/, '').split('\n').length
  const { text, cutBytes } = capTail(r.stdout, limits.maxBytes)
  const cut: string[] = []
  if (lines >= limits.tailLines) cut.push(`only its last ${limits.tailLines} lines were read`)
  if (cutBytes > 0) cut.push(`the first ${cutBytes} bytes of those are left out to keep ${limits.maxBytes} bytes`)
  const head = cut.length > 0 ? `[cut: ${cut.join('; ')}; the whole log: ${logCommand(pod, c.name, previous)}]\n` : ''
  return log(head + text)
}

/**
 * Each container's log of `pods` (init containers too), and the previous container's where one
 * restarted, a few at a time; a log that cannot be read says why in its text. Collection stops at
 * `signal` (the logs not read yet say so).
 */
export async function collectLogs(
  kubectl: Pick<Kubectl, 'run'>,
  pods: PodInfo[],
  limits: LogLimits = FOLDER_LOG_LIMITS,
  signal: AbortSignal = AbortSignal.timeout(90_000),
): Promise<PodLog[]> {
  const run = runner(kubectl)
  const work = pods.flatMap((pod) =>
    pod.containers.flatMap((c) => [
      () => containerLog(run, pod, c, false, limits, signal),
      ...(c.restarts > 0 ? [() => containerLog(run, pod, c, true, limits, signal)] : []),
    ]),
  )
  const out: PodLog[] = new Array<PodLog>(work.length)
  let next = 0
  const worker = async () => {
    while (next < work.length) {
      const i = next++
      out[i] = await work[i]!()
    }
  }
  await Promise.all(Array.from({ length: Math.min(4, work.length) }, worker))
  return out
}

/** The pods and their logs; never rejects (what could not be collected is in `notes`). */
export async function collectPods(
  kubectl: Pick<Kubectl, 'run'>,
  inputs: Pick<Inputs, 'namespace' | 'releaseName'>,
  stack?: PrometheusStack,
): Promise<PodReport> {
  try {
    const { pods, notes } = await findPods(kubectl, inputs, stack)
    return { pods, notes, logs: await collectLogs(kubectl, pods) }
  } catch (e) {
    return { pods: [], notes: [`pods: not collected: ${(e as Error).message}`], logs: [] }
  }
}

/** Where a log is kept in the diagnostics folder. */
export function logFile(log: Pick<PodLog, 'pod' | 'container' | 'previous'>): string {
  return `logs/${log.pod.namespace}/${log.pod.name}/${log.container}${log.previous ? '.previous' : ''}.log`
}
