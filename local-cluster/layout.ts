// Where the local cluster keeps its binaries, state and addresses.
import { homedir } from 'node:os'
import { join } from 'node:path'

export const NETWORK = {
  apiserverIp: '10.250.0.1',
  apiserverPort: 6443,
  // Pod IPs come from the nodes' podCIDRs; node IPs from 10.250.1.0 on.
  podCidr: '10.244.0.0/16',
  serviceCidr: '10.96.0.0/16',
  localRanges: ['10.244.0.0/16', '10.250.0.0/16'],
  mirrorPort: 8099,
} as const

export interface Layout {
  netns: string
  runDir: string
  logDir: string
  pidFile: string
  readyFile: string
  failedFile: string
  envFile: string
  /** Where the mirror's downloads are, fetched by `cluster.ts up` before the namespace exists (downloads.ts). */
  downloadsFile: string
  kubeconfig: string
  /** While this file exists, prometheus-operator's namespace watch events are held back (operator-proxy.ts). */
  holdNamespaceEventsFile: string
  binDir: string
}

export function layout(): Layout {
  const runDir = process.env.LOCAL_CLUSTER_STATE ?? '/tmp/milvus-monitoring-action-cluster'
  const cache =
    process.env.LOCAL_CLUSTER_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'milvus-monitoring-action', 'local-cluster')
  return {
    netns: process.env.LOCAL_CLUSTER_NETNS ?? 'milvus-action',
    runDir,
    logDir: join(runDir, 'logs'),
    pidFile: join(runDir, 'serve.pid'),
    readyFile: join(runDir, 'ready.json'),
    failedFile: join(runDir, 'failed'),
    envFile: join(runDir, 'env'),
    downloadsFile: join(runDir, 'downloads.json'),
    kubeconfig: join(runDir, 'kubeconfig'),
    holdNamespaceEventsFile: join(runDir, 'hold-namespace-events'),
    binDir: join(cache, 'bin'),
  }
}
