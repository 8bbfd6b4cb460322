// The Milvus Grafana dashboard: Milvus' own milvus-dashboard.json for the release's Milvus
// version, loaded into the stack's Grafana through Grafana's HTTP API and read back.
//
// Grafana is reached through a `kubectl port-forward` of its own, not the API server's service
// proxy: the API server removes the Authorization header of every request it authenticates
// (k8s.io/apiserver authentication filter), so Grafana's basic auth cannot pass through it.
// kube-prometheus' Grafana runs with its default login (admin/admin: grafana-config sets no
// security section) and keeps dashboards in an emptyDir, so a Grafana pod restart drops it.
import * as core from '@actions/core'
import type { ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import type { Helm } from '../cluster/helm.ts'
import type { Kubectl } from '../cluster/kubectl.ts'
import { conditionTrue, type Kube, type KubeObject } from '../cluster/kube.ts'
import { defaultFetch, fetchText } from '../tools/download.ts'
import type { Inputs, LoadedDashboard, StackService } from '../types.ts'
import { unwrapDashboard } from './dashboard-check.ts'
export type { LoadedDashboard }

/** raw.githubusercontent.com's copy of the dashboard; `${tag}` becomes the Milvus release tag. */
export const DEFAULT_DASHBOARD_URL =
  'https://raw.githubusercontent.com/milvus-io/milvus/${tag}/deployments/monitor/grafana/milvus-dashboard.json'

/** kube-prometheus' Grafana login (its Deployment sets no GF_SECURITY_* and grafana.ini no [security]). */
/** Basic auth, and where it came from (for the notice when Grafana refuses it). */
export interface GrafanaLogin {
  authorization: string
  from: string
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/**
 * The login for the stack's Grafana: the grafana-credentials input; else the admin Secret the
 * Grafana chart writes (named like its Service, keys admin-user and admin-password: what
 * kube-prometheus-stack's Grafana uses) where the identity may read it; else admin/admin, which
 * kube-prometheus' Grafana keeps.
 */
export async function grafanaLogin(inputs: Inputs, kube: Pick<Kube, 'find'>, grafana: StackService): Promise<GrafanaLogin> {
  if (inputs.grafanaCredentials)
    return {
      authorization: basic(inputs.grafanaCredentials.user, inputs.grafanaCredentials.password),
      from: 'the grafana-credentials input',
    }
  const secret = await kube
    .find<{ data?: Record<string, string> }>(`/api/v1/namespaces/${grafana.namespace}/secrets/${grafana.name}`)
    .catch(() => undefined)
  const user = secret?.data?.['admin-user']
  const password = secret?.data?.['admin-password']
  if (user && password) {
    const plain = Buffer.from(password, 'base64').toString('utf8')
    core.setSecret(plain)
    return {
      authorization: basic(Buffer.from(user, 'base64').toString('utf8'), plain),
      from: `Secret ${grafana.namespace}/${grafana.name}`,
    }
  }
  return { authorization: basic('admin', 'admin'), from: "Grafana's default admin/admin" }
}

/** The Milvus tag of a chart appVersion: '2.6.15' -> 'v2.6.15'; 'v2.6.15' stays. */
export function milvusTag(appVersion: string): string {
  return appVersion.startsWith('v') ? appVersion : `v${appVersion}`
}

/** Where to read the dashboard: `grafana-dashboard-url` (or the default) with `${tag}` filled in. */
export function dashboardSource(urlInput: string, tag: string | undefined): string {
  const url = urlInput === '' ? DEFAULT_DASHBOARD_URL : urlInput
  if (url.includes('${tag}') && tag === undefined)
    throw new Error(
      `grafana-dashboard-url ${url} needs the Milvus version, which neither the release's chart (appVersion) nor its Milvus image tag says: set grafana-dashboard-url to a dashboard of your Milvus version`,
    )
  return url.replaceAll('${tag}', tag ?? '')
}

/**
 * A deep link to the dashboard with its template variables set: `base` (Grafana's URL, no
 * trailing slash needed), `path` as Grafana's API answers it ('/d/<uid>/<slug>'), each var as
 * `var-<name>=<value>`, URL-encoded.
 */
export function dashboardLink(base: string, path: string, vars: Record<string, string>): string {
  const qs = new URLSearchParams(Object.entries(vars).map(([k, v]): [string, string] => [`var-${k}`, v])).toString()
  return `${base.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}${qs ? `?${qs}` : ''}`
}

export interface GrafanaDatasource {
  uid: string
  name: string
  type: string
  url?: string
  isDefault?: boolean
}

/** The Prometheus datasource the dashboard should use: kube-prometheus' `prometheus`, else the default Prometheus, else the first. */
export function pickDatasource(list: GrafanaDatasource[]): GrafanaDatasource | undefined {
  const proms = list.filter((d) => d.type === 'prometheus')
  return proms.find((d) => d.name === 'prometheus') ?? proms.find((d) => d.isDefault) ?? proms[0]
}

type Dashboard = Record<string, unknown> & { uid?: string; title?: string; templating?: { list?: Array<Record<string, unknown>> } }

/**
 * The dashboard as posted: the model of any of Grafana's file shapes (unwrapDashboard), `id`
 * cleared (Grafana assigns one; a foreign id is refused as not found), its `datasource` variable
 * (type datasource, query prometheus) set to `ds`, and for a dashboard exported for sharing each
 * `${DS_…}` of a Prometheus input (`__inputs`) replaced by `ds`' uid, as Grafana's import does.
 * Returns a copy. Throws when the JSON has no uid or title.
 */
export function prepareDashboard(json: unknown, ds: GrafanaDatasource | undefined): Dashboard {
  let d = structuredClone(unwrapDashboard(json)) as Dashboard
  if (typeof d?.uid !== 'string' || typeof d.title !== 'string')
    throw new Error('the dashboard JSON has no uid or title: is it a Grafana dashboard?')
  const inputs = Array.isArray(d['__inputs']) ? (d['__inputs'] as Array<{ name?: unknown; pluginId?: unknown }>) : []
  const promInputs = inputs.filter((i) => i.pluginId === 'prometheus' && typeof i.name === 'string').map((i) => String(i.name))
  if (ds && promInputs.length > 0) {
    d = JSON.parse(
      JSON.stringify(d).replace(/\$\{(DS_[A-Za-z0-9_-]+)\}/g, (whole, name: string) =>
        promInputs.includes(name) ? JSON.stringify(ds.uid).slice(1, -1) : whole,
      ),
    ) as Dashboard
    delete d['__inputs']
  }
  d.id = null
  for (const v of d.templating?.list ?? []) {
    if (v.type === 'datasource' && ds) v.current = { selected: true, text: ds.name, value: ds.uid }
  }
  return d
}

/** Starts `kubectl port-forward svc/<grafana> :<port>` and resolves with its local port and process. */
function forwardGrafana(kubectl: Kubectl, grafana: StackService, signal: AbortSignal): Promise<{ port: number; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = kubectl.spawn(
      ['port-forward', '-n', grafana.namespace, `svc/${grafana.name}`, `:${grafana.portNumber}`, '--address', '127.0.0.1'],
      signal,
    )
    let err = ''
    child.on('error', reject)
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    child.stdout.on('data', (c: Buffer) => {
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(c.toString())
      if (m) resolve({ port: Number(m[1]), child })
    })
    child.on('exit', (code) => reject(new Error(`kubectl port-forward svc/${grafana.name} exited with ${code}: ${err.trim()}`)))
  })
}

/** A dashboard saved in Grafana and read back: its uid, title, path ('/d/<uid>/<slug>'), the version saved and the one read back. */
export interface SavedDashboard {
  uid: string
  title: string
  path: string
  datasource: string | undefined
  version: number
  readBackVersion: number
}

/**
 * Saves the dashboard `json` (any of Grafana's file shapes) in the Grafana at `base`, with its
 * Prometheus datasource, and reads it back. The read-back may show a later version than the one
 * saved: jobs on one cluster share the stack's Grafana and save the same dashboard (one uid), with
 * overwrite. An earlier version, or none, is Grafana not keeping what it accepted: that throws.
 */
export async function saveDashboard(base: string, login: GrafanaLogin, json: unknown): Promise<SavedDashboard> {
  const ds = pickDatasource(await grafana<GrafanaDatasource[]>(base, login, 'GET', '/api/datasources'))
  const dashboard = prepareDashboard(json, ds)
  const posted = await grafana<{ uid: string; url: string; version: number }>(base, login, 'POST', '/api/dashboards/db', {
    dashboard,
    overwrite: true,
    message: 'milvus-monitoring-action',
  })
  const uid = encodeURIComponent(posted.uid)
  const [found, back] = await Promise.all([
    grafana<Array<{ uid: string }>>(base, login, 'GET', `/api/search?dashboardUIDs=${uid}`),
    grafana<{ dashboard: { uid: string; version: number } }>(base, login, 'GET', `/api/dashboards/uid/${uid}`),
  ])
  if (!found.some((f) => f.uid === posted.uid) || !(back.dashboard.version >= posted.version)) {
    throw new Error(`Grafana accepted dashboard ${posted.uid} but does not show version ${posted.version} of it when read back`)
  }
  return {
    uid: posted.uid,
    title: String(dashboard.title),
    path: posted.url,
    datasource: ds?.name,
    version: posted.version,
    readBackVersion: back.dashboard.version,
  }
}

async function grafana<T>(base: string, login: GrafanaLogin, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: login.authorization,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`Grafana ${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as T
}

/** The Milvus version in an image reference: 'milvusdb/milvus:v2.6.15' -> 'v2.6.15'; undefined for another image or tag. */
export function milvusImageVersion(image: string): string | undefined {
  const m = /(?:^|\/)milvus:(v?\d+\.\d+\.\d+)(?:-[\w.]+)?(?:@.*)?$/.exec(image)
  return m?.[1]
}

/**
 * The release's Milvus version: its chart's appVersion, else the tag of the Milvus image its
 * pods run (a Milvus that Milvus Operator runs has no Helm release to ask).
 */
async function milvusVersion(c: { helm: Helm; kube: Kube }, inputs: Inputs): Promise<string | undefined> {
  const fromChart = await appVersion(c.helm, inputs)
  if (fromChart) return fromChart
  const selector = encodeURIComponent(`app.kubernetes.io/instance=${inputs.releaseName}`)
  const pods = await c.kube
    .get<{ items: KubeObject[] }>(`/api/v1/namespaces/${inputs.namespace}/pods?labelSelector=${selector}`)
    .catch(() => ({ items: [] as KubeObject[] }))
  const images = pods.items.flatMap((p) => ((p.spec?.containers ?? []) as Array<{ image?: string }>).map((x) => x.image ?? ''))
  const version = images.map(milvusImageVersion).find((v) => v !== undefined)
  if (version) core.info(`Milvus version ${version}, from the image the release's pods run (no chart appVersion)`)
  return version
}

/** The release's chart appVersion (`helm get metadata`), or undefined when helm does not say. */
async function appVersion(helm: Helm, inputs: Inputs): Promise<string | undefined> {
  const r = await helm.run(['get', 'metadata', inputs.releaseName, '-n', inputs.namespace, '-o', 'json'], { allowFailure: true })
  try {
    const v = (JSON.parse(r.stdout) as { appVersion?: string }).appVersion
    return v ? v : undefined
  } catch {
    return undefined
  }
}

/** The dashboard JSON as read, and where from. */
export interface DashboardJson {
  json: unknown
  source: string
}

/**
 * Downloads (or reads, for a path) the dashboard JSON once, for Grafana and for the data check:
 * `grafana-dashboard-url`, or Milvus' file at the release's tag (milvusVersion). Rejects for
 * a download that fails or a JSON that is not a dashboard.
 */
export async function readDashboard(inputs: Inputs, c: { helm: Helm; kube: Kube; signal: AbortSignal }): Promise<DashboardJson> {
  const raw = inputs.grafanaDashboardUrl
  const local = raw.startsWith('/') || raw.startsWith('.')
  const needsTag = !local && (raw === '' || raw.includes('${tag}'))
  const version = needsTag ? await milvusVersion(c, inputs) : undefined
  const source = local ? raw : dashboardSource(raw, version === undefined ? undefined : milvusTag(version))
  core.info(`Milvus dashboard from ${source}`)
  const json = JSON.parse(
    local
      ? await readFile(source, 'utf8')
      : await fetchText(defaultFetch, source, { signal: c.signal, allowInsecure: inputs.allowInsecureDownloads }),
  ) as unknown
  prepareDashboard(json, undefined) // fail early on a file that is not a dashboard
  return { json, source }
}

/**
 * How many Ready pods a Service selects (its spec.selector); undefined when that cannot be
 * read (no right to, or a Service without a selector): then nobody can say, and the caller tries.
 */
export async function readyPods(kube: Pick<Kube, 'find' | 'get'>, s: { namespace: string; name: string }): Promise<number | undefined> {
  try {
    const svc = await kube.find(`/api/v1/namespaces/${s.namespace}/services/${s.name}`)
    const selector = (svc?.spec as { selector?: Record<string, string> } | undefined)?.selector
    if (!selector || Object.keys(selector).length === 0) return undefined
    const labels = Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',')
    const pods = await kube.get<{ items: KubeObject[] }>(
      `/api/v1/namespaces/${s.namespace}/pods?labelSelector=${encodeURIComponent(labels)}`,
    )
    return pods.items.filter((p) => conditionTrue(p, 'Ready')).length
  } catch {
    return undefined
  }
}

export interface DashboardContext {
  kubectl: Kubectl
  kube: Pick<Kube, 'find' | 'get'>
  /** The stack's Grafana; undefined when it has none (then nothing is loaded, with a notice). */
  grafana: StackService | undefined
  /** Whether this run installs the stack: its Grafana may still be starting, and is waited for. */
  installsStack: boolean
  /** Grafana's URL for the deep link (the forwarded one with expose port-forward); known once the forwards are. */
  grafanaUrl: string | Promise<string>
  /** The dashboard JSON (readDashboard), read once for Grafana and the data check. */
  dashboard: () => Promise<DashboardJson>
  signal: AbortSignal
}

/**
 * Posts the dashboard (read by readDashboard) to Grafana (`POST /api/dashboards/db`
 * with overwrite), reads it back (`GET /api/search?dashboardUIDs=`, `GET /api/dashboards/uid/`)
 * and resolves with its deep link; undefined when `grafana-dashboard` is off. Retries while
 * Grafana is not answering yet (its pod starting), until `signal` aborts; rejects as readDashboard
 * does, or for a read-back that does not show it.
 */
export async function loadDashboard(inputs: Inputs, c: DashboardContext): Promise<LoadedDashboard | undefined> {
  if (!inputs.grafanaDashboard) return undefined
  const service = c.grafana
  if (!service) {
    core.notice(
      'grafana-dashboard is on, but the Prometheus stack has no Grafana the action could find: the Milvus dashboard was not loaded.',
    )
    return undefined
  }
  // Someone else's Grafana with no ready pod does not start because this run waits: say so, go on.
  if (!c.installsStack && (await readyPods(c.kube, service)) === 0) {
    core.notice(
      `Grafana ${service.namespace}/${service.name} has no ready pod: the Milvus dashboard was not loaded. It is not this run's Grafana; start it, or set grafana-dashboard: false.`,
    )
    return undefined
  }
  const { json, source } = await c.dashboard()
  const login = await grafanaLogin(inputs, c.kube, service)
  for (let attempt = 1; ; attempt++) {
    c.signal.throwIfAborted()
    const stop = new AbortController()
    const forward = await forwardGrafana(c.kubectl, service, AbortSignal.any([c.signal, stop.signal])).catch((e: unknown) => e as Error)
    try {
      if (forward instanceof Error) throw forward
      const saved = await saveDashboard(`http://127.0.0.1:${forward.port}`, login, json)
      const url = dashboardLink(await c.grafanaUrl, saved.path, { namespace: inputs.namespace, instance: inputs.releaseName })
      core.info(
        `Milvus dashboard "${saved.title}" loaded into Grafana (uid ${saved.uid}, datasource ${saved.datasource ?? 'default'}): ${url}`,
      )
      if (saved.readBackVersion !== saved.version)
        core.info(
          `Grafana shows version ${saved.readBackVersion} of it, saved after this run's version ${saved.version}: another run loaded the same dashboard meanwhile`,
        )
      return { uid: saved.uid, title: saved.title, source, url }
    } catch (e) {
      const msg = (e as Error).message
      // Grafana that refuses the login is not this run's to fail: the dashboard is a convenience.
      if (/HTTP 401|HTTP 403/.test(msg) && !c.signal.aborted) {
        core.notice(
          `Grafana ${service.namespace}/${service.name} refused the login from ${login.from} (${msg.split(':').slice(0, 2).join(':')}): the Milvus dashboard was not loaded. Set grafana-credentials (user:password, from a secret).`,
        )
        return undefined
      }
      if (c.signal.aborted || /accepted dashboard|HTTP 4\d\d/.test(msg)) throw e
      if (attempt === 1 || attempt % 10 === 0) core.info(`Grafana is not answering yet (${msg}); retrying`)
      await delay(2000, undefined, { signal: c.signal })
    } finally {
      stop.abort()
    }
  }
}
