// What the end-to-end files share: the cluster and a runner per file, the inputs that point the
// action at the local cluster's mirrors, readers of Prometheus, Grafana and the API server, and
// the set-ups a case needs that the cluster may or may not have (kube-prometheus installed by
// the action, or no kube-prometheus at all). No case relies on what another case left: a case
// that needs something creates it, or calls one of the ensure/remove helpers here.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { beforeAll, expect, onTestFinished } from 'vitest'
import { firstEventSince, localCluster, mirrorInputs, type LocalCluster } from '../../local-cluster/client.ts'
import { makeRunner, type Runner, type StepResult } from '../../local-cluster/runner.ts'

export const E2E = process.env.MILVUS_ACTION_E2E !== '0'
export const MIN = 60_000
export const ROOT = resolve(import.meta.dirname, '..', '..')
export const SUPPORT = resolve(import.meta.dirname, '..', 'support')

/** The cluster and the file's runner (one tool cache, like the jobs of one machine), set by useLocalCluster(). */
export const e2e = {} as { cluster: LocalCluster; runner: Runner }

/** Sets e2e.cluster and e2e.runner before the file's cases (the cluster is up already under the e2e project's global setup). */
export function useLocalCluster(): void {
  beforeAll(async () => {
    e2e.cluster = await localCluster()
    e2e.runner = newRunner()
  }, 90 * MIN)
}

/** A runner with an empty tool cache of its own. */
export function newRunner(): Runner {
  return makeRunner({ wrap: e2e.cluster.wrap, env: { KUBECONFIG: e2e.cluster.env.KUBECONFIG! } })
}

/** The inputs that point the action at the local cluster's mirrors, a 6 min budget, and `extra`. */
export function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return { ...mirrorInputs(e2e.cluster.env), timeout: '6m', ...extra }
}

/** A step's exit code, its ::error:: lines and the ends of its output, for a failed expectation. */
export function failed(r: StepResult): string {
  const errors = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('::error::'))
    .join('\n')
  return `exit ${r.code}\n--- errors\n${errors}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}`
}

/** A file with `content` in a new temporary folder. */
export function tempFile(name: string, content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'e2e-')), name)
  writeFileSync(file, content)
  return file
}

export interface TargetsAnswer {
  data: { activeTargets: Array<{ scrapePool: string; health: string; labels: Record<string, string>; scrapeUrl: string }> }
}

export async function activeTargets(prometheusUrl: string, pool: string) {
  const r = await e2e.cluster.get(`${prometheusUrl}/api/v1/targets?state=active&scrapePool=${encodeURIComponent(pool)}`)
  expect(r.status).toBe(200)
  return (JSON.parse(r.body) as TargetsAnswer).data.activeTargets
}

/** A Grafana API answer with kube-prometheus' login. */
export async function grafana(base: string, path: string) {
  const r = await e2e.cluster.get(`${base}${path}`, { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` })
  expect(r.status, r.body).toBe(200)
  return JSON.parse(r.body)
}

export async function ruleGroup(prometheusUrl: string, name: string) {
  const r = await e2e.cluster.get(`${prometheusUrl}/api/v1/rules`)
  const groups = (JSON.parse(r.body) as { data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string }> }> } }).data
    .groups
  const group = groups.find((g) => g.name === name)
  expect(group, `group ${name} in ${groups.map((g) => g.name).join(', ')}`).toBeDefined()
  return group!
}

/** The Roles and RoleBindings the action manages in `namespace`. */
export async function managedRoles(namespace: string) {
  return (
    await e2e.cluster.kubectlJson([
      'get',
      'role,rolebinding',
      '-n',
      namespace,
      '-l',
      'app.kubernetes.io/managed-by=milvus-monitoring-action',
    ])
  ).items
}

/** What a re-run must not change: the CRDs' and Prometheus' specs, the ServiceMonitors and the RBAC in `namespace`. */
export async function snapshot(namespace: string) {
  const gen = async (args: string[]) =>
    (await e2e.cluster.kubectlJson(args)).items
      .map((i) => `${i.metadata.name}@${i.metadata.generation ?? i.metadata.resourceVersion}`)
      .sort()
  return {
    crds: await gen(['get', 'crd']),
    prometheus: await gen(['get', 'prometheus', '-n', 'monitoring']),
    serviceMonitors: await gen(['get', 'servicemonitor', '-n', namespace]),
    rbac: (await managedRoles(namespace)).map((i) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort(),
  }
}

/** ms from the first Event with `reason` in `namespace` since `since` (ms epoch) to now. */
export async function sinceFirstEvent(namespace: string, reason: string, since: number): Promise<number> {
  const first = await firstEventSince(e2e.cluster, namespace, reason, since)
  expect(first, `a ${reason} event in ${namespace}`).toBeDefined()
  return Date.now() - first!
}

/** ms until `probe` answers true, polling every 100 ms, at most `limitMs` (Infinity when it never does). */
export async function untilAnswers(probe: () => Promise<boolean>, limitMs: number): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < limitMs) {
    if (await probe().catch(() => false)) return Date.now() - started
    await sleep(100)
  }
  return Infinity
}

/**
 * Deletes `namespace` and what the action's runs put there (a Helm release `release`), without
 * waiting for the namespace to go. `default` and `milvus` (the default input, which the README's
 * workflow uses too: a later case must not find it terminating) keep the namespace.
 */
export async function dropNamespace(namespace: string, release?: string): Promise<void> {
  if (release) await e2e.cluster.helm(['uninstall', release, '-n', namespace, '--ignore-not-found', '--wait'])
  if (namespace !== 'default' && namespace !== 'milvus')
    await e2e.cluster.kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false'])
}

/**
 * Once the current case has finished, pass or fail: its release uninstalled and its namespace
 * deleted. The local cluster's node holds 60 pods, as a runner-sized kind node does: releases
 * left by every case would fill it.
 */
export function removeWhenDone(namespace: string, release: string): void {
  onTestFinished(() => dropNamespace(namespace, release))
}

// --- kube-prometheus, as the cases need it ---

/** kube-prometheus' manifests/, from the local cluster's mirror of the release archive. */
export async function kubePrometheusManifests(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-'))
  await e2e.cluster.run('sh', ['-c', `curl -fsSL "$0" | tar xz -C "$1"`, e2e.cluster.env.LOCAL_CLUSTER_KUBE_PROMETHEUS_URL!, dir])
  return join(dir, readdirSync(dir)[0]!, 'manifests')
}

/** True when kube-prometheus, installed by the action, runs: its operator Deployment and Prometheus monitoring/k8s, both available. */
async function kubePrometheusRuns(): Promise<boolean> {
  try {
    const operator = await e2e.cluster.kubectlJson<{ status: { availableReplicas?: number } }>([
      'get',
      'deployment',
      '-n',
      'monitoring',
      'prometheus-operator',
    ])
    const prometheus = await e2e.cluster.kubectlJson<{ status?: { availableReplicas?: number } }>([
      'get',
      'prometheus',
      '-n',
      'monitoring',
      'k8s',
    ])
    const grafanaDeploy = await e2e.cluster.kubectlJson<{ spec: { replicas: number } }>([
      'get',
      'deployment',
      '-n',
      'monitoring',
      'grafana',
    ])
    return (
      (operator.status.availableReplicas ?? 0) > 0 && (prometheus.status?.availableReplicas ?? 0) > 0 && grafanaDeploy.spec.replicas > 0
    )
  } catch {
    return false
  }
}

/**
 * For cases that run with install-kube-prometheus: false, or read kube-prometheus' Prometheus
 * without a run: the action installs kube-prometheus unless it runs already (a run of its own,
 * Milvus in namespace `e2e-stack`, no forwards). Another Prometheus stack left by a case that
 * failed half-way would make that run refuse; the error says so.
 */
export async function ensureKubePrometheus(): Promise<void> {
  if (await kubePrometheusRuns()) return
  const runner = newRunner()
  const r = await runner.main(
    inputs({ namespace: 'e2e-stack', 'release-name': 'stack', expose: 'none', 'grafana-dashboard': 'false', 'alert-rules': 'false' }),
  )
  expect(r.code, `installing kube-prometheus for this case: ${failed(r)}`).toBe(0)
  await runner.post(r.state)
  await dropNamespace('e2e-stack', 'stack')
}

/**
 * For cases that need a cluster without the action's kube-prometheus: deletes what its
 * manifests create, and with `crds` its CRDs and the monitoring namespace too (manifests/setup).
 * A case that calls this leaves the cluster without kube-prometheus; the next case that needs it
 * installs it again (ensureKubePrometheus, or a run with the default install-kube-prometheus).
 */
export async function removeKubePrometheus(o: { crds: boolean }): Promise<string> {
  const manifests = await kubePrometheusManifests()
  // Without the CRDs (a cluster where no case installed them yet) there is nothing of their kinds
  // to delete: kubectl deletes the rest and says so per object, which is not a failure here.
  await e2e.cluster.kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=300s', '-f', manifests]).catch((e: Error) => {
    const lines = e.message.split('\n').slice(1).filter(Boolean)
    if (!lines.every((l) => /^resource mapping not found for name: .* no matches for kind|^ensure CRDs are installed first/.test(l)))
      throw e
  })
  if (o.crds) await e2e.cluster.kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=300s', '-f', join(manifests, 'setup')])
  return manifests
}

// --- processes and files of a run ---

/** The newest port-forward status file a run of `runner` wrote (under its RUNNER_TEMP). */
export function forwardStatus(runner: Runner): {
  dir: string
  status: { forwards: Array<{ name: string; pid?: number; restarts: number; state: string; lastRestart?: { reason: string } }> }
} {
  const base = dirname(runner.toolCache)
  const dirs = readdirSync(base)
    .filter((d) => d.endsWith('-main'))
    .flatMap((d) =>
      readdirSync(join(base, d, 'temp'))
        .filter((t) => t.startsWith('milvus-monitoring-forwards-'))
        .map((t) => join(base, d, 'temp', t)),
    )
    .filter((d) => existsSync(join(d, 'port-forward-status.json')))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
  return { dir: dirs[0]!, status: JSON.parse(readFileSync(join(dirs[0]!, 'port-forward-status.json'), 'utf8')) }
}

/** Kills (SIGKILL) the helm process upgrading `release`, found by its exact arguments. */
export function killHelm(release: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let args: string[]
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    } catch {
      continue
    }
    if (args[0]?.endsWith('/helm') && args[1] === 'upgrade' && args[2] === '--install' && args[3] === release)
      process.kill(Number(pid), 'SIGKILL')
  }
}

// --- the checks of .github/workflows/e2e.yml ---

export const CHECKS = join(ROOT, '.github', 'scripts')

const execFileP = promisify(execFile)

/**
 * Runs `.github/scripts/<script>` as e2e.yml runs it (bash -e), inside the cluster's network
 * namespace, with `env` on top of the test's environment and KUBECONFIG: its output, or an error
 * carrying it (a .mjs check runs with node).
 */
export async function runCheck(script: string, env: Record<string, string>, scriptArgs: string[] = []): Promise<string> {
  const interpreter = script.endsWith('.mjs') ? [process.execPath] : ['bash', '-e']
  const [cmd, ...args] = [
    ...e2e.cluster.wrap,
    'env',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...interpreter,
    join(CHECKS, script),
    ...scriptArgs,
  ]
  const cwd = mkdtempSync(join(tmpdir(), 'check-'))
  try {
    const { stdout, stderr } = await execFileP(cmd!, args, {
      cwd,
      env: { ...process.env, KUBECONFIG: e2e.cluster.env.KUBECONFIG! },
      maxBuffer: 16 << 20,
    })
    return stdout + stderr
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string }
    throw new Error(`${script} failed (exit ${err.code}):\n${err.stdout ?? ''}\n${err.stderr ?? ''}`, { cause: e })
  }
}

/** The environment e2e.yml's steps give the check scripts, from a run's outputs (and the runner's tool cache). */
export function outputsEnv(r: StepResult) {
  const o = r.outputs
  return {
    KUBECTL: o['kubectl-path']!,
    KUBECTL_VERSION: o['kubectl-version']!,
    HELM: o['helm-path']!,
    HELM_VERSION: o['helm-version']!,
    PROMETHEUS_URL: o['prometheus-url']!,
    GRAFANA_URL: o['grafana-url']!,
    ALERTMANAGER_URL: o['alertmanager-url']!,
    MILVUS_ENDPOINT: o['milvus-endpoint']!,
    MILVUS_METRICS_URL: o['milvus-metrics-url']!,
    DASHBOARD_URL: o['dashboard-url']!,
    SERVICE_MONITOR: o['service-monitor']!,
    SCRAPE_POOL: o['scrape-pool']!,
    TARGET_HEALTH: o['target-health']!,
    TARGET_SCRAPE_URL: o['target-scrape-url']!,
    PROMETHEUS_IN_CLUSTER: o['prometheus-url-in-cluster']!,
    GRAFANA_IN_CLUSTER: o['grafana-url-in-cluster']!,
    ALERTMANAGER_IN_CLUSTER: o['alertmanager-url-in-cluster']!,
    MILVUS_ENDPOINT_IN_CLUSTER: o['milvus-endpoint-in-cluster']!,
    MILVUS_METRICS_IN_CLUSTER: o['milvus-metrics-url-in-cluster']!,
    RUNNER_TOOL_CACHE: e2e.runner.toolCache,
    FORWARDS: forwardsOf(e2e.runner),
  }
}

/** The FORWARDS of the checks: the port-forward supervisors of `runner`'s steps only (other runs share this machine). */
export function forwardsOf(runner: Runner): string {
  return `--port-forward-supervisor ${dirname(runner.toolCache)}/`
}

/** The kubectl of the file's runner's tool cache (a failed run sets no kubectl-path output). */
export function toolCacheKubectl(): string {
  const found = (readdirSync(e2e.runner.toolCache, { recursive: true }) as string[])
    .filter((f) => f.endsWith('/kubectl') || f === 'kubectl')
    .sort()
  expect(found.length, `kubectl in ${e2e.runner.toolCache}`).toBeGreaterThan(0)
  return join(e2e.runner.toolCache, found.at(-1)!)
}
