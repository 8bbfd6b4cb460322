// What the main step leaves for the post step, saved each time it changes so a failed run is
// cleaned up as far as it got. It records ownership at the moment of creation: an object is this
// run's only when the API call that created it was answered 201, and it is recorded then, with
// its UID. The post step deletes nothing else, and nothing whose UID changed since (deleted and
// created again by someone else).
import * as core from '@actions/core'
import type { DrillTarget, KubeConnection, ObjectRef } from './types.ts'

/**
 * What cleanup does with a created object when someone else still uses its part: 'stack'
 * (kube-prometheus) stays while another run holds the stack; 'namespace' (the release's namespace
 * and its discovery Role and RoleBinding) stays while another run or release uses the namespace;
 * 'release' (the action's alert rules for the release) goes with the release.
 */
export type CreatedPart = 'stack' | 'namespace' | 'release'

/** An object this run created (its create answered 201), as the post step finds it again. */
export interface CreatedObject extends ObjectRef {
  /** metadata.uid in the create's answer: the post step deletes the object only while it is the same. */
  uid: string
  /** Its API path (`/apis/<group>/<version>[/namespaces/<ns>]/<plural>/<name>`), for a DELETE with preconditions. */
  path: string
  part: CreatedPart
}

/** The Helm release this run installed: the UID of its first revision's Secret (`sh.helm.release.v1.<name>.v1`). */
export interface CreatedRelease {
  secret: string
  uid: string
}

/** The Secret Helm writes for a release's first revision (its storage driver's name). */
export const firstRevisionSecret = (release: string): string => `sh.helm.release.v1.${release}.v1`

const refKeyOf = (r: ObjectRef): string => `${r.apiVersion}/${r.kind}/${r.namespace ?? ''}/${r.name}`

/** `created` with `obj` added; an entry of the same object replaced (created again after it was deleted). */
export function withCreated(created: readonly CreatedObject[] | undefined, obj: CreatedObject): CreatedObject[] {
  return [...(created ?? []).filter((c) => refKeyOf(c) !== refKeyOf(obj)), obj]
}

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
  /** The objects this run created, each recorded as its create was answered (recordCreated). */
  created?: CreatedObject[]
  /** The Helm release, when this run installed its first revision (recordRelease). */
  createdRelease?: CreatedRelease
  /** The release's PersistentVolumeClaims that existed before this run: never deleted. */
  pvcsBefore?: string[]
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

  /** Objects this run's create calls made (answered 201), each with the UID of its answer: one save for them all. */
  recordCreated(...objs: CreatedObject[]): void {
    if (objs.length)
      this.record({ created: objs.reduce<CreatedObject[]>((all, o) => withCreated(all, o), [...(this.#state.created ?? [])]) })
  }

  /** The release this run installed, by its first revision's Secret's UID. */
  recordRelease(release: CreatedRelease): void {
    this.record({ createdRelease: release })
  }

  #save(): void {
    core.saveState(KEY, JSON.stringify(this.#state))
  }
}

export function loadRunState(): RunState | undefined {
  const raw = core.getState(KEY)
  return raw ? (JSON.parse(raw) as RunState) : undefined
}
