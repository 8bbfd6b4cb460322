// What the main step leaves for the post step, saved each time it changes so a failed run is
// cleaned up as far as it got. It records ownership: only what this run created is listed,
// and the post step deletes nothing else.
import * as core from '@actions/core'
import type { DrillTarget, KubeConnection, ObjectRef } from './types.ts'

export interface RunState {
  release: string
  namespace: string
  cleanup: boolean
  kubectlPath?: string
  helmPath?: string
  helmVersion?: string // 'v3.17.2': the post step picks helm's flags by it
  /** The cluster the main step deployed to; the post step and the forwards use it, whatever the current context is later. */
  connection?: KubeConnection
  supervisorPid?: number
  createdNamespace?: boolean
  /** Name of the discovery Role and RoleBinding this run created in the release's namespace. */
  addedRbac?: string
  /** The release did not exist before this run (or was a pending first install the run uninstalled). */
  releaseCreated?: boolean
  /** The release's PersistentVolumeClaims that existed before this run: never deleted. */
  pvcsBefore?: string[]
  /** kube-prometheus objects that did not exist before this run (it creates them). */
  created?: ObjectRef[]
  /** Where the action's PrometheusRule went when not in the release's namespace (the Prometheus' own). */
  rulesNamespace?: string
  /** This run as the holder of its Leases (src/holds.ts). */
  holder?: string
  /** The Lease holding the release, in the release's namespace. */
  releaseHold?: string
  /** The Lease holding the kube-prometheus stack. */
  stackHold?: { namespace: string; name: string }
  /** An alert fire drill's rule and silence not removed yet (the post step removes them). */
  drill?: DrillTarget
}

const KEY = 'run'

/** The run state and the one way to change it: each change is saved for the post step at once. */
export class StateRecorder {
  readonly #state: RunState

  constructor(initial: RunState) {
    this.#state = { ...initial }
    this.#save()
  }

  get state(): Readonly<RunState> {
    return this.#state
  }

  record(change: Partial<RunState>): void {
    Object.assign(this.#state, change)
    this.#save()
  }

  #save(): void {
    core.saveState(KEY, JSON.stringify(this.#state))
  }
}

export function loadRunState(): RunState | undefined {
  const raw = core.getState(KEY)
  return raw ? (JSON.parse(raw) as RunState) : undefined
}
