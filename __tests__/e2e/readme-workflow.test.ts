// The README's complete workflow: its inputs, then its shell steps against the run's outputs.
// Its namespace is the README's (milvus, the default), the one the default-install file uses
// too: the action converges on the same release whichever runs first.
import { describe, expect, it } from 'vitest'
import { readmeWorkflowSteps, withOutputs } from '../support/readme.ts'
import { E2E, e2e, failed, inputs, MIN, useLocalCluster, removeWhenDone } from './support.ts'

describe.runIf(E2E)("the README's workflow", () => {
  useLocalCluster()

  it(
    "the README's complete workflow: its inputs, then its shell steps against the run's outputs",
    async () => {
      const { cluster, runner } = e2e
      removeWhenDone('milvus', 'my-release')
      const steps = readmeWorkflowSteps()
      const action = steps.find((st) => st.uses?.startsWith('org/milvus-monitoring-action'))!
      const withInputs = Object.fromEntries(Object.entries(action.with ?? {}).map(([k, v]) => [k, String(v)]))
      const r = await runner.main(inputs(withInputs))
      expect(r.code, failed(r)).toBe(0)
      try {
        for (const st of steps.filter((x) => x.run)) {
          const script = withOutputs(st.run!, action.id!, r.outputs)
          // The runner's shell for run steps: bash -e, here inside the cluster's network namespace.
          const out = await cluster.run('bash', ['-e', '-c', script]).catch((e: Error) => {
            throw new Error(`README step "${st.name}" failed: ${e.message}`)
          })
          expect(out, st.name).toBeDefined()
        }
      } finally {
        await runner.post(r.state)
      }
    },
    10 * MIN,
  )
})
