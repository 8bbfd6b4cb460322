import { describe, expect, it } from 'vitest'
import type { Kube, KubeObject } from '../../src/cluster/kube.ts'
import { namespaceGone } from '../../src/cluster/namespace-deletion.ts'

/** A terminating namespace, with the conditions the namespace controller wrote `ago` seconds before now. */
const terminating = (conditions: Array<{ type: string; ago: number; message: string }> = []): KubeObject => ({
  metadata: { name: 'monitoring', deletionTimestamp: new Date().toISOString() },
  status: {
    phase: 'Terminating',
    conditions: conditions.map((c) => ({
      type: c.type,
      status: 'True',
      message: c.message,
      lastTransitionTime: new Date(Date.now() - c.ago * 1000).toISOString(),
    })),
  },
})

/**
 * waitFor over a namespace's successive states, as a watch sees them (undefined: deleted): each
 * call answers with the first state from the current one on for which `done` holds, and stays
 * pending (until aborted) when none does.
 */
function watched(states: Array<KubeObject | undefined>): Pick<Kube, 'waitFor'> {
  let at = 0
  return {
    waitFor: async (_path, _query, done, signal) => {
      for (; at < states.length; at++) {
        const s = states[at]
        const items = new Map(s ? [[`/${s.metadata.name}`, s]] : [])
        if (done(items)) return items
      }
      at = states.length - 1
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))
    },
  }
}

describe('a namespace being deleted, waited on', () => {
  it('resolves once it is gone', async () => {
    await expect(namespaceGone(watched([terminating(), undefined]), 'monitoring', AbortSignal.timeout(5000))).resolves.toBeUndefined()
  })

  it('a discovery failure that appears after the first look ends the wait once its grace is over, naming the APIService fix', async () => {
    const failing = terminating([
      {
        type: 'NamespaceDeletionDiscoveryFailure',
        ago: 29.7,
        message: 'Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: stale GroupVersion discovery',
      },
    ])
    await expect(namespaceGone(watched([terminating(), failing]), 'monitoring', AbortSignal.timeout(5000))).rejects.toThrow(
      /Namespace monitoring is being deleted, but the deletion cannot finish:\nDiscovery failed[\s\S]*kubectl get apiservices/,
    )
  })

  it('a failing condition within its grace that clears as the namespace goes: resolves', async () => {
    const failing = terminating([{ type: 'NamespaceContentRemaining', ago: 1, message: 'Some resources are remaining: pods.' }])
    await expect(namespaceGone(watched([failing, undefined]), 'monitoring', AbortSignal.timeout(5000))).resolves.toBeUndefined()
  })
})
