// What the main step leaves for the post step, saved as it happens so a failed run is
// cleaned up as far as it got.
import * as core from '@actions/core'

export interface RunState {
  release: string
  namespace: string
  cleanup: boolean
  kubectlPath?: string
  helmPath?: string
  manifestsDir?: string // kube-prometheus manifests/ the action applied
  supervisorPid?: number
  createdNamespace?: boolean
  addedRbac?: boolean
  helmRelease?: boolean
}

const KEY = 'run'

export function saveRunState(state: RunState): void {
  core.saveState(KEY, JSON.stringify(state))
}

export function loadRunState(): RunState | undefined {
  const raw = core.getState(KEY)
  return raw ? (JSON.parse(raw) as RunState) : undefined
}
