// The one place the action runs helm.
import { CommandError, runTool, withKubeconfig, type ExecResult, type RunOptions, type ToolConnection } from './kubectl.ts'

export interface ChartRef {
  chart: string // name in a repository, a path, or oci://
  repo: string // '' for paths and oci://
  version: string // '' for the newest
}

/** One revision of `helm history -o json`. */
export interface HelmRevision {
  revision: number
  status: string // 'deployed', 'superseded', 'failed', 'pending-install', 'pending-upgrade', 'pending-rollback', 'uninstalling', ...
  description?: string
  chart?: string // '<name>-<version>', e.g. 'milvus-5.0.19'
  app_version?: string // the chart's appVersion, e.g. 'v2.6.15'
}

/** [major, minor, patch] of 'v3.17.2'; [0, 0, 0] when unknown. */
export function helmVersionParts(version: string | undefined): [number, number, number] {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version ?? '')
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0]
}

function atLeast(version: string | undefined, major: number, minor: number): boolean {
  const [a, b] = helmVersionParts(version)
  return a > major || (a === major && b >= minor)
}

export class Helm {
  readonly path: string
  readonly version: string | undefined
  readonly conn: ToolConnection | undefined
  /**
   * `version` ('v4.1.4') picks flags per Helm line; `conn` pins every command to a kubeconfig
   * context (`--kube-context`, KUBECONFIG); absent: helm's current context.
   */
  constructor(path: string, conn?: ToolConnection, version?: string) {
    this.path = path
    this.conn = conn
    this.version = version
  }

  run(args: string[], opts: RunOptions = {}): Promise<ExecResult> {
    // Global flags last, so errors still name the command (`helm upgrade --install <release>`).
    const ctx = this.conn?.context ? ['--kube-context', this.conn.context] : []
    return runTool(this.path, 'helm', [...args, ...ctx], withKubeconfig(opts, this.conn))
  }

  /**
   * `helm upgrade --install`, so a re-run on the same cluster upgrades in place. On abort helm
   * gets SIGTERM and this settles once it has exited.
   */
  upgradeInstall(
    o: { release: string; namespace: string; chart: ChartRef; valuesFiles: string[]; timeoutSeconds: number },
    signal?: AbortSignal,
  ): Promise<ExecResult> {
    return this.run(upgradeInstallArgs(o, this.version), signal ? { signal } : {})
  }

  /**
   * `helm template` of the release as upgradeInstall would install it: the rendered manifests
   * (YAML stream). It downloads the chart: `signal` stops it (SIGTERM) with the run's budget.
   */
  async template(
    o: { release: string; namespace: string; chart: ChartRef; valuesFiles: string[]; kubeVersion?: string },
    signal?: AbortSignal,
  ): Promise<string> {
    const args = [
      'template',
      o.release,
      o.chart.chart,
      ...(o.chart.repo ? ['--repo', o.chart.repo] : []),
      ...(o.chart.version ? ['--version', o.chart.version] : []),
      '--namespace',
      o.namespace,
      ...o.valuesFiles.flatMap((f) => ['--values', f]),
      ...(o.kubeVersion ? ['--kube-version', o.kubeVersion] : []),
    ]
    return (await this.run(args, signal ? { signal } : {})).stdout
  }

  status(release: string, namespace: string): Promise<ExecResult> {
    return this.run(['status', release, '-n', namespace], { allowFailure: true })
  }

  /** The release's revisions, oldest first; [] when there is no such release. Throws CommandError for other failures. */
  async history(release: string, namespace: string): Promise<HelmRevision[]> {
    const r = await this.run(['history', release, '-n', namespace, '-o', 'json'], { allowFailure: true })
    if (r.exitCode !== 0) {
      if (/not found/i.test(r.stderr)) return []
      throw new CommandError(`helm history ${release}`, r)
    }
    return (JSON.parse(r.stdout || '[]') as HelmRevision[]).sort((a, b) => a.revision - b.revision)
  }

  /** The user-supplied values of one revision (`helm get values --revision N -o json`); {} when none. */
  async values(release: string, namespace: string, revision: number): Promise<Record<string, unknown>> {
    const r = await this.run(['get', 'values', release, '-n', namespace, '--revision', String(revision), '-o', 'json'])
    return (JSON.parse(r.stdout.trim() || '{}') as Record<string, unknown> | null) ?? {}
  }

  /** `signal`: as for upgradeInstall, helm gets SIGTERM and this settles once it has exited. */
  rollback(release: string, namespace: string, revision: number, timeoutSeconds: number, signal?: AbortSignal): Promise<ExecResult> {
    return this.run(
      ['rollback', release, String(revision), '-n', namespace, '--wait', `--timeout=${Math.max(1, Math.floor(timeoutSeconds))}s`],
      signal ? { signal } : {},
    )
  }

  /** Uninstalls a release that exists (check with history first): flags per Helm line, see uninstallArgs. */
  uninstall(release: string, namespace: string, timeoutSeconds: number, signal?: AbortSignal): Promise<ExecResult> {
    return this.run(uninstallArgs(release, namespace, timeoutSeconds, this.version), signal ? { signal } : {})
  }
}

/**
 * `helm uninstall` for the Helm line in use: `--wait` only from Helm 3.7 on (older releases of
 * Helm 3 reject it; the caller waits itself), never `--ignore-not-found` (Helm 3.13 on only).
 */
export function uninstallArgs(release: string, namespace: string, timeoutSeconds: number, version: string | undefined): string[] {
  return [
    'uninstall',
    release,
    '-n',
    namespace,
    ...(atLeast(version, 3, 7) ? ['--wait'] : []),
    `--timeout=${Math.max(1, Math.floor(timeoutSeconds))}s`,
  ]
}

/**
 * `helm upgrade --install` arguments. With Helm 4 also `--server-side=true --force-conflicts`: Helm 4 applies
 * server-side, and a field another manager took over since (`kubectl scale`, an HPA) is a
 * conflict that would fail the upgrade instead of restoring the chart's value; Helm 3's
 * three-way merge restores it without a flag.
 */
export function upgradeInstallArgs(
  o: { release: string; namespace: string; chart: ChartRef; valuesFiles: string[]; timeoutSeconds: number },
  version?: string,
): string[] {
  return [
    'upgrade',
    '--install',
    o.release,
    o.chart.chart,
    ...(o.chart.repo ? ['--repo', o.chart.repo] : []),
    ...(o.chart.version ? ['--version', o.chart.version] : []),
    '--namespace',
    o.namespace,
    ...o.valuesFiles.flatMap((f) => ['--values', f]),
    '--wait',
    `--timeout=${Math.max(1, Math.floor(o.timeoutSeconds))}s`,
    // '--server-side=true' too: for a release last deployed by Helm 3 (or client-side), Helm 4's
    // 'auto' keeps the client-side method and refuses --force-conflicts with it.
    ...(helmVersionParts(version)[0] >= 4 ? ['--server-side=true', '--force-conflicts'] : []),
  ]
}
