// A Milvus that is already there (install-milvus: false): verified as it is. Nothing of the
// release is installed, upgraded or changed, no namespace is created; the run finds the
// release's ServiceMonitor (or the PodMonitor Milvus Operator creates), and the discovery RBAC
// is added only where Prometheus lacks it. The run state records only that RBAC, so the post
// step never removes what it verified.
import * as core from '@actions/core'
import type { KubeObject } from '../cluster/kube.ts'
import type { StackRun } from '../context.ts'
import { refuseUndiscoverable } from '../prometheus/discovery-rbac.ts'
import type { Inputs, MonitorRef } from '../types.ts'
import { grantDiscovery } from './helm-release.ts'
import type { MilvusSource } from './source.ts'
import { monitorPath } from './wiring.ts'

/** The ServiceMonitors, else PodMonitors, of the release (labelled app.kubernetes.io/instance=<release>). */
export function releaseMonitor(
  release: { namespace: string; name: string },
  serviceMonitors: KubeObject[],
  podMonitors: KubeObject[],
): MonitorRef {
  const label = `app.kubernetes.io/instance=${release.name}`
  const [kind, found] = serviceMonitors.length ? (['ServiceMonitor', serviceMonitors] as const) : (['PodMonitor', podMonitors] as const)
  if (found.length === 1) return { kind, namespace: release.namespace, name: found[0]!.metadata.name }
  if (found.length > 1) {
    throw new Error(
      `${found.length} ${kind}s in namespace ${release.namespace} are labelled ${label} (${found.map((o) => o.metadata.name).join(', ')}): ` +
        `name the one Prometheus scrapes Milvus through with service-monitor: ${release.namespace}/<name>.`,
    )
  }
  throw new Error(
    `No ServiceMonitor or PodMonitor in namespace ${release.namespace} is labelled ${label}, so there is nothing through which Prometheus scrapes the release. ` +
      `Name it with service-monitor: <namespace>/<name> (a PodMonitor of Milvus Operator, for example), or enable the chart's metrics.serviceMonitor on the release.`,
  )
}

/** The monitor the `service-monitor` input names: a ServiceMonitor of that name, else a PodMonitor. */
async function namedMonitor(run: StackRun, ref: { namespace: string; name: string }): Promise<MonitorRef> {
  for (const kind of ['ServiceMonitor', 'PodMonitor'] as const) {
    const m = { kind, ...ref }
    if (await run.kube.find(monitorPath(m))) return m
  }
  throw new Error(
    `service-monitor ${ref.namespace}/${ref.name}: there is no ServiceMonitor or PodMonitor of that name; name the one Prometheus scrapes the release through, or leave it empty to find the release's by its labels.`,
  )
}

export class ExistingRelease implements MilvusSource {
  readonly description: string
  readonly installs = false
  #monitor: MonitorRef | undefined

  constructor(inputs: Inputs) {
    this.description = `the existing release ${inputs.namespace}/${inputs.releaseName}`
  }

  get monitor(): MonitorRef | undefined {
    return this.#monitor
  }

  /** Reads the namespace, the Helm release (when there is one: Milvus Operator makes none) and the monitor; changes nothing. */
  async check(run: StackRun): Promise<void> {
    const { inputs, kube, helm } = run
    await run.budget.phase('Check the release', async () => {
      if (!(await kube.find(`/api/v1/namespaces/${inputs.namespace}`))) {
        throw new Error(
          `Namespace ${inputs.namespace} does not exist. With install-milvus: false the action verifies a Milvus that is there and creates nothing: ` +
            'set namespace and release-name to that release, or install-milvus: true to install one.',
        )
      }
      const last = (await helm.history(inputs.releaseName, inputs.namespace)).at(-1)
      if (last) {
        core.info(
          `Helm release ${inputs.namespace}/${inputs.releaseName}: chart ${last.chart ?? 'unknown'}${last.app_version ? ` (app version ${last.app_version})` : ''}, revision ${last.revision} ${last.status}; verified as it is (install-milvus: false)`,
        )
      } else {
        core.info(
          `No Helm release ${inputs.releaseName} in ${inputs.namespace} (a Milvus Operator instance has none): verifying what is labelled app.kubernetes.io/instance=${inputs.releaseName} as it is`,
        )
      }
      if (inputs.serviceMonitor) {
        this.#monitor = await namedMonitor(run, inputs.serviceMonitor)
      } else {
        const instance = encodeURIComponent(`app.kubernetes.io/instance=${inputs.releaseName}`)
        const list = (plural: string) =>
          kube
            .get<{ items: KubeObject[] }>(
              `/apis/monitoring.coreos.com/v1/namespaces/${inputs.namespace}/${plural}?labelSelector=${instance}`,
            )
            .then((l) => l.items)
        const serviceMonitors = await list('servicemonitors')
        const podMonitors = serviceMonitors.length ? [] : await list('podmonitors')
        this.#monitor = releaseMonitor({ namespace: inputs.namespace, name: inputs.releaseName }, serviceMonitors, podMonitors)
      }
      core.info(
        `Verifying ${inputs.namespace}/${inputs.releaseName} through ${this.#monitor.kind} ${this.#monitor.namespace}/${this.#monitor.name}`,
      )
      await refuseUndiscoverable(run, this.#monitor.kind)
    })
  }

  /** Only the discovery RBAC, where the Prometheus lacks it; no namespace is created. */
  prepare(run: StackRun): Promise<void> {
    return run.budget.phase('Discovery RBAC', () => grantDiscovery(run, { unlessGranted: true }))
  }

  /** Nothing to install: the release is verified as it is. */
  async install(_run: StackRun): Promise<void> {
    core.info(`install-milvus is false: nothing installed or upgraded; ${this.description} is verified as it is`)
  }
}
