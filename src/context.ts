// The run's context: one object that grows as the run learns more, seen by each phase at the
// stage it needs. A phase takes `Run` when it needs only the inputs, `ClusterRun` once the
// cluster answered and the tools are installed, `StackRun` once the Prometheus is resolved.
// The failure path reads the same object, so it knows how far the run got.
import type { Budget } from './budget.ts'
import type { Helm } from './cluster/helm.ts'
import type { Kube } from './cluster/kube.ts'
import type { Kubectl } from './cluster/kubectl.ts'
import type { StateRecorder } from './state.ts'
import type { Inputs, InstalledTool, PrometheusStack, TargetVerdict } from './types.ts'

export interface Run {
  readonly inputs: Inputs
  readonly budget: Budget
  readonly state: StateRecorder
  /** What the run last saw of the Milvus target: the failure message and diagnostics quote it. */
  lastVerdict?: TargetVerdict
}

export interface ClusterRun extends Run {
  readonly kube: Kube
  readonly kubectl: Kubectl
  readonly helm: Helm
  readonly tools: { kubectl: InstalledTool; helm: InstalledTool }
}

export interface StackRun extends ClusterRun {
  /** The Prometheus this run uses, whichever source provided it. */
  readonly stack: PrometheusStack
}

/** The same object, from now on seen with `more`. */
export function advance<R extends Run, M extends object>(run: R, more: M): R & M {
  return Object.assign(run, more)
}

export const hasCluster = (run: Run): run is ClusterRun => 'kube' in run
export const hasStack = (run: Run): run is StackRun => 'stack' in run
