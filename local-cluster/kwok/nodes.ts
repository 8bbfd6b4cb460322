// Renders the fake Node manifests kwok manages (node.yaml) and gives each node its own pod range.
import { readFileSync } from 'node:fs'

/** Every pod IP of the local cluster; routed to `lo` inside its network namespace. */
export const POD_NETWORK = '10.244.0.0/16'
/** A /26 per node: 62 usable addresses (kwok starts at .1), 1024 nodes in the /16. */
export const NODE_PREFIX_LENGTH = 26
export const MAX_NODES = 2 ** (NODE_PREFIX_LENGTH - 16)

/** The pod range of node `index` (0-based): 10.244.0.0/26, 10.244.0.64/26, ... 10.244.255.192/26. */
export function podCidr(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_NODES) {
    throw new RangeError(`node index ${index} outside 0..${MAX_NODES - 1}`)
  }
  const offset = index * 2 ** (32 - NODE_PREFIX_LENGTH)
  return `10.244.${Math.floor(offset / 256)}.${offset % 256}/${NODE_PREFIX_LENGTH}`
}

/**
 * A node the size of a GitHub-hosted Linux runner (4 CPU, 16 GB; kind reserves nothing, so
 * allocatable equals capacity), as the one node kind starts there. Pods stay at 60, under the
 * node's /26 pod range. LOCAL_CLUSTER_NODE_CPU and LOCAL_CLUSTER_NODE_MEMORY override it (the
 * benchmarks' big clusters).
 */
export const RUNNER_NODE = { cpu: '4', memory: '16Gi' }

export function nodeSize(env: NodeJS.ProcessEnv = process.env): { cpu: string; memory: string } {
  return { cpu: env.LOCAL_CLUSTER_NODE_CPU || RUNNER_NODE.cpu, memory: env.LOCAL_CLUSTER_NODE_MEMORY || RUNNER_NODE.memory }
}

/** The node manifest template, with ${NODE_NAME}, ${POD_CIDR}, ${NODE_CPU} and ${NODE_MEMORY} placeholders. */
export function nodeTemplate(): string {
  return readFileSync(new URL('./node.yaml', import.meta.url), 'utf8')
}

/** One Node manifest (YAML) for node `index`, named `${prefix}-${index}`. */
export function renderNode(index: number, prefix = 'kwok-node', template = nodeTemplate()): string {
  const size = nodeSize()
  const values: Record<string, string> = {
    NODE_NAME: `${prefix}-${index}`,
    POD_CIDR: podCidr(index),
    NODE_CPU: size.cpu,
    NODE_MEMORY: size.memory,
  }
  return template.replace(/\$\{(NODE_NAME|POD_CIDR|NODE_CPU|NODE_MEMORY)\}/g, (_, key: string) => values[key] ?? '')
}

/** `count` Node manifests as one multi-document YAML stream, for a single `kubectl create -f -`. */
export function renderNodes(count: number, prefix = 'kwok-node'): string {
  const template = nodeTemplate()
  return Array.from({ length: count }, (_, i) => renderNode(i, prefix, template)).join('\n---\n')
}
