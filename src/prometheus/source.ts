// The seam for "the Prometheus this run uses". Each variant is one module of this folder
// (kube-prometheus.ts installs the stack, existing.ts uses one the cluster has) and index.ts
// chooses among them, once, from the inputs. Everything after `resolve` reads only the
// PrometheusStack it returned: no phase assumes kube-prometheus.
import type { ClusterRun, Run, StackRun } from '../context.ts'
import type { Permission, PrometheusStack } from '../types.ts'

export interface PrometheusSource {
  /** What the run's log calls it: 'kube-prometheus v0.18.0', 'the cluster's Prometheus'. */
  readonly description: string
  /** What this source will do on the cluster, for the preflight's access review. */
  permissions(): Permission[]
  /** A warning for a server version the source is not known to work with; '' when none. */
  compatibility(serverMinor: number): string
  /** Before the cluster is known, beside the tool install: downloads. */
  fetch(run: Run): Promise<void>
  /** Reads the cluster, changes nothing: the Prometheus to use. Throws when it cannot be used. */
  resolve(run: ClusterRun): Promise<PrometheusStack>
  /** What the Milvus release needs before it installs (the monitoring CRDs). */
  prepare(run: StackRun): Promise<void>
  /** Starts the stack; resolves when Milvus may install beside it. */
  start(run: StackRun): Promise<void>
  /** Resolves when the run's Prometheus serves. */
  ready(run: StackRun): Promise<void>
  /** After a failure: what was begun is left whole (work is tracked by the budget). */
  abandon(run: StackRun): void
}
