// kwok plays the kubelets of the local cluster's fake nodes (see KWOK.md).
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import YAML from 'yaml'
import { NETWORK } from './layout.ts'
import { renderNode } from './kwok/nodes.ts'
import type { Procs } from './procs.ts'

const config = (file: string) => new URL(`./kwok/${file}`, import.meta.url).pathname

export function startKwok(procs: Procs, o: { binary: string; kubeconfig: string; runDir: string; timeline: 'instant' | 'runner' }): void {
  const workdir = join(o.runDir, 'kwok')
  mkdirSync(workdir, { recursive: true })
  procs.start(
    'kwok',
    o.binary,
    [
      `--kubeconfig=${o.kubeconfig}`,
      `--config=${config('stages.yaml')}`,
      `--config=${config('runner-stages.yaml')}`,
      `--config=${config('port-forward.yaml')}`,
      `--config=${config('volume-stages.yaml')}`,
      // The runner profile leaves every pod to the timeline (runner-stages.yaml); the instant one makes pods Ready at once.
      ...(o.timeline === 'instant' ? [`--config=${config('instant-stages.yaml')}`] : []),
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      // Every node reports the namespace's own address; kwok's server there answers port-forwards.
      `--node-ip=${NETWORK.apiserverIp}`,
      '--node-port=10250',
      `--server-address=${NETWORK.apiserverIp}:10250`,
      `--cidr=${NETWORK.podCidr}`,
      '--node-lease-duration-seconds=40',
    ],
    { KWOK_WORKDIR: workdir },
  )
}

/** Creates `count` fake nodes, a few requests at a time (1000 nodes in seconds). */
export async function createNodes(kc: k8s.KubeConfig, count: number): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const pending = Array.from({ length: count }, (_, i) => i)
  const workers = Array.from({ length: Math.min(16, count) }, async () => {
    for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
      const body = YAML.parse(renderNode(i)) as k8s.V1Node
      await core.createNode({ body }).catch((e: { code?: number }) => {
        if (e.code !== 409) throw e
      })
    }
  })
  await Promise.all(workers)
}

export async function createStorageClass(kc: k8s.KubeConfig): Promise<void> {
  const storage = kc.makeApiClient(k8s.StorageV1Api)
  const body = YAML.parse(readFileSync(config('storage-class.yaml'), 'utf8')) as k8s.V1StorageClass
  await storage.createStorageClass({ body }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e
  })
}
