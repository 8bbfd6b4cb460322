// The one place the action runs helm.
import { runTool, type ExecResult, type RunOptions } from './kubectl.ts'

export interface ChartRef {
  chart: string // name in a repository, a path, or oci://
  repo: string // '' for paths and oci://
  version: string // '' for the newest
}

export class Helm {
  readonly path: string
  constructor(path: string) {
    this.path = path
  }

  run(args: string[], opts: RunOptions = {}): Promise<ExecResult> {
    return runTool(this.path, 'helm', args, opts)
  }

  /**
   * `helm upgrade --install`, so a re-run on the same cluster upgrades in place. On abort helm
   * gets SIGTERM and this settles once it has exited.
   */
  upgradeInstall(o: { release: string; namespace: string; chart: ChartRef; valuesFiles: string[]; timeoutSeconds: number }, signal?: AbortSignal): Promise<ExecResult> {
    return this.run(upgradeInstallArgs(o), signal ? { signal } : {})
  }

  /** `helm template` of the release as upgradeInstall would install it: the rendered manifests (YAML stream). */
  async template(o: { release: string; namespace: string; chart: ChartRef; valuesFiles: string[]; kubeVersion?: string }): Promise<string> {
    const args = [
      'template', o.release, o.chart.chart,
      ...(o.chart.repo ? ['--repo', o.chart.repo] : []),
      ...(o.chart.version ? ['--version', o.chart.version] : []),
      '--namespace', o.namespace,
      ...o.valuesFiles.flatMap((f) => ['--values', f]),
      ...(o.kubeVersion ? ['--kube-version', o.kubeVersion] : []),
    ]
    return (await this.run(args)).stdout
  }

  status(release: string, namespace: string): Promise<ExecResult> {
    return this.run(['status', release, '-n', namespace], { allowFailure: true })
  }

  uninstall(release: string, namespace: string, timeoutSeconds: number): Promise<ExecResult> {
    return this.run(['uninstall', release, '-n', namespace, '--wait', '--ignore-not-found', `--timeout=${timeoutSeconds}s`])
  }
}

export function upgradeInstallArgs(o: { release: string; namespace: string; chart: ChartRef; valuesFiles: string[]; timeoutSeconds: number }): string[] {
  return [
    'upgrade', '--install', o.release, o.chart.chart,
    ...(o.chart.repo ? ['--repo', o.chart.repo] : []),
    ...(o.chart.version ? ['--version', o.chart.version] : []),
    '--namespace', o.namespace,
    ...o.valuesFiles.flatMap((f) => ['--values', f]),
    '--wait', `--timeout=${Math.max(1, Math.floor(o.timeoutSeconds))}s`,
  ]
}
