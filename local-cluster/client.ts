// A handle on the local cluster for the end-to-end tests, the demo and the benchmarks: bring it
// up (idempotent), and run kubectl and HTTP requests inside its network namespace, where the
// action's URLs live.
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { readEnvFile } from './cluster.ts'
import { layout } from './layout.ts'
import { readDownloads } from './downloads.ts'

const run = promisify(execFile)
const CLUSTER = join(import.meta.dirname, 'cluster.ts')

export interface LocalCluster {
  netns: string
  logDir: string
  env: Record<string, string>
  wrap: string[]
  kubectl(args: string[]): Promise<string>
  kubectlJson<T = { items: Array<{ metadata: { name: string; resourceVersion: string; generation?: number } }> }>(
    args: string[],
  ): Promise<T>
  helm(args: string[]): Promise<string>
  /** Any command inside the cluster's network namespace, with its KUBECONFIG: its stdout. */
  run(cmd: string, args: string[]): Promise<string>
  /** A GET from inside the network namespace (status 0 when nothing answered); `headers` added to the request. */
  get(url: string, headers?: Record<string, string>): Promise<{ status: number; body: string }>
  connect(hostPort: string): Promise<boolean>
  outage(): void
  /** Holds back (true) or releases prometheus-operator's namespace watch events (local-cluster/operator-proxy.ts). */
  holdNamespaceEvents(on: boolean): void
}

/**
 * The inputs that point the action at the cluster's loopback mirrors, which stand in for
 * dl.k8s.io, get.helm.sh, GitHub (kube-prometheus, the Milvus dashboard) and the Milvus Helm
 * repository: every run on the local cluster needs all of them (nothing else is reachable).
 */
export function mirrorInputs(env: Record<string, string>): Record<string, string> {
  return {
    'kubectl-base-url': env.LOCAL_CLUSTER_KUBECTL_BASE_URL!,
    'helm-base-url': env.LOCAL_CLUSTER_HELM_BASE_URL!,
    'kube-prometheus-url': env.LOCAL_CLUSTER_KUBE_PROMETHEUS_URL!,
    'milvus-chart-repo': env.LOCAL_CLUSTER_HELM_REPO_URL!,
    'grafana-dashboard-url': env.LOCAL_CLUSTER_GRAFANA_DASHBOARD_URL!,
  }
}

export async function localCluster(nodes = 1): Promise<LocalCluster> {
  execFileSync(process.execPath, [CLUSTER, 'up', '--nodes', String(nodes)], { stdio: ['ignore', 'ignore', 'inherit'], env: process.env })
  const l = layout()
  const env = readEnvFile(l.envFile)
  const wrap = ['ip', 'netns', 'exec', l.netns]
  const bins = readDownloads(l.downloadsFile).binaries // the ones the cluster serves
  const kubectlPath = bins.find((b) => b.tool === 'kubectl' && b.version.startsWith('v1.35'))!.path
  const helmPath = bins.find((b) => b.tool === 'helm' && b.version.startsWith('v4'))!.path
  const inNs = async (cmd: string, args: string[]) =>
    (await run(wrap[0]!, [...wrap.slice(1), cmd, ...args], { env: { ...process.env, KUBECONFIG: env.KUBECONFIG }, maxBuffer: 64 << 20 }))
      .stdout
  const node = (script: string, arg: string) => inNs(process.execPath, ['-e', script, arg])
  return {
    netns: l.netns,
    logDir: l.logDir,
    env,
    wrap,
    kubectl: (args) => inNs(kubectlPath, args),
    kubectlJson: async (args) => JSON.parse(await inNs(kubectlPath, [...args, '-o', 'json'])),
    helm: (args) => inNs(helmPath, args),
    run: inNs,
    get: async (url, headers = {}) =>
      JSON.parse(
        await node(
          `const [u,h]=JSON.parse(process.argv[1]);fetch(u,{headers:h,signal:AbortSignal.timeout(10000)}).then(async r=>console.log(JSON.stringify({status:r.status,body:await r.text()})),e=>console.log(JSON.stringify({status:0,body:String(e.cause?.code??e)})))`,
          JSON.stringify([url, headers]),
        ),
      ),
    connect: async (hostPort) =>
      (
        await node(
          `const [h,p]=process.argv[1].split(':');const s=require('net').connect(+p,h,()=>{console.log('ok');s.destroy()});s.on('error',()=>console.log('no'))`,
          hostPort,
        )
      ).trim() === 'ok',
    outage: () => execFileSync(process.execPath, [CLUSTER, 'outage']),
    holdNamespaceEvents: (on) => execFileSync(process.execPath, [CLUSTER, 'hold-namespace-events', on ? 'on' : 'off']),
  }
}

/**
 * ms epoch of the first Event with `reason` in `namespace` seen since `since` (ms epoch), or
 * undefined: an event series begun before (an earlier run) counts from `since`.
 */
export async function firstEventSince(
  cluster: LocalCluster,
  namespace: string,
  reason: string,
  since: number,
): Promise<number | undefined> {
  const events = await cluster.kubectlJson<{
    items: Array<{ reason: string; firstTimestamp?: string; lastTimestamp?: string; eventTime?: string }>
  }>(['get', 'events', '-n', namespace])
  const times = events.items
    .filter((e) => e.reason === reason && Date.parse(e.lastTimestamp ?? e.eventTime ?? '') >= since - 1000)
    .map((e) => Math.max(Date.parse(e.firstTimestamp ?? e.eventTime ?? ''), since))
  return times.length ? Math.min(...times) : undefined
}
