// The post step: stop the port-forwards; with cleanup, remove what the main step installed
// and wait until it is gone.
import * as core from '@actions/core'
import { loadRunState } from '../state.ts'
import { stopForwards } from './port-forward.ts'
import { Kubectl } from '../cluster/kubectl.ts'
import { Helm } from '../cluster/helm.ts'
import { MANAGED_SELECTOR } from './rbac.ts'

export async function runPost(): Promise<void> {
  try {
    const state = loadRunState()
    if (!state) return
    if (state.supervisorPid) {
      await stopForwards(state.supervisorPid)
      core.info('Stopped the port-forwards')
    }
    if (!state.cleanup) return
    core.startGroup('Cleanup: uninstall what the action installed')
    try {
      if (state.helmRelease && state.helmPath) {
        await new Helm(state.helmPath).uninstall(state.release, state.namespace, 300)
        core.info(`Uninstalled Helm release ${state.namespace}/${state.release}`)
      }
      if (!state.kubectlPath) return
      const kubectl = new Kubectl(state.kubectlPath)
      if (state.addedRbac) {
        await kubectl.delete({ kind: 'role,rolebinding', namespace: state.namespace, selector: MANAGED_SELECTOR }, true)
        core.info(`Removed the discovery Role and RoleBinding in ${state.namespace}`)
      }
      if (state.manifestsDir) {
        // The stack first, then the CRDs and the monitoring namespace it lived in.
        await kubectl.run(['delete', '--ignore-not-found', '--wait=true', '--timeout=300s', '-f', state.manifestsDir])
        await kubectl.run(['delete', '--ignore-not-found', '--wait=true', '--timeout=300s', '-f', `${state.manifestsDir}/setup`])
        core.info('Removed kube-prometheus')
      }
      // Last: a namespace is only deleted once API discovery is whole, and kube-prometheus'
      // metrics APIService, while its adapter is not serving, keeps it from being whole.
      if (state.createdNamespace) {
        await kubectl.run(['delete', 'namespace', state.namespace, '--ignore-not-found', '--wait=true', '--timeout=300s'])
        core.info(`Deleted namespace ${state.namespace}`)
      }
    } finally {
      core.endGroup()
    }
  } catch (e) {
    // The job's result is the main step's: a failed cleanup warns.
    core.warning(`Post step: ${(e as Error).message}`)
  }
}
