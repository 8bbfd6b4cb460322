// Brings the local cluster up once for the whole end-to-end project, before its first file:
// building or starting it can take minutes, which no file's hook should pay. Files still call
// localCluster() themselves (idempotent, well under a second when it runs), so each file also
// passes alone. The cluster's environment (KUBECONFIG, the mirror URLs) is provided to the
// files as `localClusterEnv` for those that need no more than that (inject('localClusterEnv')).
import type { TestProject } from 'vitest/node'
import { localCluster } from '../../local-cluster/client.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    localClusterEnv: Record<string, string>
  }
}

export default async function setup(project: TestProject): Promise<void> {
  if (process.env.MILVUS_ACTION_E2E === '0') return
  const cluster = await localCluster()
  project.provide('localClusterEnv', cluster.env)
}
