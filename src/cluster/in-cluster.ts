// Runners inside the cluster (actions-runner-controller pods) have no kubeconfig file: the API
// client falls back to the pod's ServiceAccount (KUBERNETES_SERVICE_HOST/PORT, the token and CA
// under /var/run/secrets/kubernetes.io/serviceaccount) and names that context
// "inClusterContext", a name kubectl and helm do not know. For them the action writes a
// kubeconfig file of the same server, CA file and token file, so every tool (and the post step,
// and the port-forwards) reaches the cluster the client reached. The token is referenced by
// path (`tokenFile`), never copied: client-go rereads it, so a rotated projected token keeps
// working for a long-running port-forward.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import type { InClusterCredentials } from '../types.ts'

/** What @kubernetes/client-node's loadFromCluster names its context, cluster and user. */
export const IN_CLUSTER = { context: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' } as const

export type { InClusterCredentials }

/**
 * The in-cluster credentials the client loaded, when it loaded them (its current context is
 * loadFromCluster's, with a token-file user); undefined for a kubeconfig file.
 */
export function inClusterCredentials(kc: KubeConfig): InClusterCredentials | undefined {
  if (kc.getCurrentContext() !== IN_CLUSTER.context) return undefined
  const cluster = kc.getCurrentCluster()
  const provider = kc.getCurrentUser()?.authProvider as { name?: string; config?: { tokenFile?: string } } | undefined
  const tokenFile = provider?.name === 'tokenFile' ? provider.config?.tokenFile : undefined
  if (!cluster?.caFile || !tokenFile) return undefined
  const namespace = kc.getContextObject(IN_CLUSTER.context)?.namespace
  return { server: cluster.server, caFile: cluster.caFile, tokenFile, ...(namespace ? { namespace } : {}) }
}

/**
 * A kubeconfig of the credentials, its context named as the client named it: JSON, which is
 * YAML too, so the post step writes it again without a YAML library.
 */
export function inClusterKubeconfig(c: InClusterCredentials): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: IN_CLUSTER.cluster, cluster: { server: c.server, 'certificate-authority': c.caFile } }],
      users: [{ name: IN_CLUSTER.user, user: { tokenFile: c.tokenFile } }],
      contexts: [
        {
          name: IN_CLUSTER.context,
          context: { cluster: IN_CLUSTER.cluster, user: IN_CLUSTER.user, ...(c.namespace ? { namespace: c.namespace } : {}) },
        },
      ],
      'current-context': IN_CLUSTER.context,
    },
    null,
    2,
  )
}

/** Writes inClusterKubeconfig under RUNNER_TEMP (else the temp dir), readable only by the runner's user: its path. */
export function writeInClusterKubeconfig(c: InClusterCredentials, parent = process.env.RUNNER_TEMP || tmpdir()): string {
  const file = join(mkdtempSync(join(parent, 'milvus-kubeconfig-')), 'config')
  writeFileSync(file, inClusterKubeconfig(c), { mode: 0o600 })
  return file
}

/**
 * The post step's kubeconfig when the main step wrote it for in-cluster credentials and a later
 * step emptied RUNNER_TEMP: written again at the same path from what the connection recorded
 * (the token and CA stay where the pod has them). True when it wrote it.
 */
export function restoreInClusterKubeconfig(conn: { kubeconfig: string; inCluster?: InClusterCredentials } | undefined): boolean {
  if (!conn?.inCluster || existsSync(conn.kubeconfig)) return false
  mkdirSync(dirname(conn.kubeconfig), { recursive: true, mode: 0o700 })
  writeFileSync(conn.kubeconfig, inClusterKubeconfig(conn.inCluster), { mode: 0o600 })
  return true
}
