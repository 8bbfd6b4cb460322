// The seam for "the Milvus this run monitors". Each variant is one module of this folder
// (helm-release.ts installs the chart, existing-release.ts verifies a release that is there)
// and index.ts chooses among them, once, from the inputs.
// What comes after `install` (the wiring, the target wait, the mixin) reads the cluster, not the
// variant.
import type { StackRun } from '../context.ts'
import type { MonitorRef } from '../types.ts'

export interface MilvusSource {
  /** What the run's log calls it: 'Helm release milvus/my-release'. */
  readonly description: string
  /** Whether the run installs or changes the release (and so may touch its ServiceMonitor); false: verified as it is. */
  readonly installs: boolean
  /** After `check`: the ServiceMonitor or PodMonitor to verify, when the source knows it; undefined: the wiring finds the release's by its labels. */
  readonly monitor: MonitorRef | undefined
  /** Before any change: what will be installed is rendered and checked (or what exists is read). */
  check(run: StackRun): Promise<void>
  /** Early, beside the monitoring CRDs: the namespace, and Prometheus' discovery RBAC there. */
  prepare(run: StackRun): Promise<void>
  /** Resolves when the release is ready. */
  install(run: StackRun): Promise<void>
}
