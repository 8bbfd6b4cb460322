// src/cluster/: how the action talks to a cluster, and nothing about what it deploys. kube.ts is
// the API client (@kubernetes/client-node behind a small JSON-and-watch surface), kubectl.ts and
// helm.ts are one thin wrapper per tool, retry.ts tells transient API server failures from real
// ones. Phases use these; these never import a phase.
//
// The action's view of the Kubernetes API: loaded lazily (the client library is most of the
// bundle, and the first log line should not wait for it) and only KubeConfig and Watch of it
// (client-node.ts), JSON requests, and waits built on watches rather than polling.
//
// Proxies: a kubeconfig's proxy-url wins; otherwise the environment's HTTPS_PROXY/HTTP_PROXY/
// NO_PROXY decide as for kubectl (src/proxy.ts: a loopback API server such as kind's is never
// proxied), and the decision is handed to the client library as the cluster's proxy-url, so its
// own proxy agents (hpagent for requests, undici for watches) carry every request.
import http from 'node:http'
import { existsSync } from 'node:fs'
import https from 'node:https'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { inClusterCredentials, writeInClusterKubeconfig, type InClusterCredentials } from './in-cluster.ts'
import { proxyForUrl, type ProxyDecision } from './proxy.ts'
import type { KubeConnection } from '../types.ts'
export type { KubeConnection }

/** Where a pod's ServiceAccount token is, below the ServiceAccount root. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token'

export class NoClusterError extends Error {
  constructor(detail: string) {
    super(
      `No reachable Kubernetes cluster: ${detail}. The action works on the cluster of the runner's kubeconfig ` +
        '(KUBECONFIG or ~/.kube/config): create one in an earlier step, for example with helm/kind-action, ' +
        'or point KUBECONFIG at an existing cluster.',
    )
    this.name = 'NoClusterError'
  }
}

export class ApiError extends Error {
  readonly status: number
  readonly body: unknown
  constructor(method: string, path: string, status: number, body: unknown) {
    const msg = (body as { message?: string } | undefined)?.message ?? (typeof body === 'string' ? body : '')
    super(`${method} ${path}: HTTP ${status}${msg ? `: ${msg}` : ''}`)
    this.name = 'ApiError'
    this.status = status
    this.body = body
  }
}

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    resourceVersion?: string
    deletionTimestamp?: string
    uid?: string
  }
  spec?: Record<string, unknown>
  status?: Record<string, unknown>
  [key: string]: unknown
}

interface KubeList {
  metadata: { resourceVersion: string }
  items: KubeObject[]
}

/** A Service port as the API server's service proxy names it: `[scheme:]name:port`. */
export interface ServiceRef {
  namespace: string
  /** The Service's name (or, with resource 'pods', the Pod's). */
  name: string
  /** What the proxy reaches: a Service (load-balanced over its endpoints, the default) or one Pod (port by number). */
  resource?: 'services' | 'pods'
  /** The port's name ('web') or number (9090). */
  port: string | number
  /** How the API server talks to the endpoint; omitted means http. */
  scheme?: 'http' | 'https'
}

/**
 * The API path of a GET through the service proxy:
 * `/api/v1/namespaces/<ns>/services/[<scheme>:]<name>:<port>/proxy<pathAndQuery>`. Each
 * name is percent-encoded on its own (the colons stay separators); `pathAndQuery` must start
 * with '/' and is appended as given, so its query string must be encoded already (as
 * targetsPath and queryPath do). Throws for a path without the leading '/'.
 */
export function serviceProxyPath(ref: ServiceRef, pathAndQuery: string): string {
  if (!pathAndQuery.startsWith('/')) throw new Error(`service proxy path must start with '/': ${JSON.stringify(pathAndQuery)}`)
  const e = encodeURIComponent
  const service = [...(ref.scheme ? [ref.scheme] : []), ref.name, String(ref.port)].map(e).join(':')
  return `/api/v1/namespaces/${e(ref.namespace)}/${ref.resource ?? 'services'}/${service}/proxy${pathAndQuery}`
}

export class Kube {
  readonly kc: KubeConfig
  readonly server: string
  readonly context: string
  /** The API server's gitVersion ('v1.35.4'), once the preflight has read it. */
  serverVersion?: string
  /** The kube-system namespace's UID, set by the preflight where readable (KubeConnection.clusterId). */
  clusterId?: string
  /** The proxy requests to the API server go through (or why none), for messages. */
  readonly proxy: ProxyDecision
  /**
   * With in-cluster credentials (no kubeconfig file, a pod's ServiceAccount), the kubeconfig the
   * action wrote for kubectl and helm (see in-cluster.ts); undefined with a kubeconfig file.
   */
  readonly inClusterKubeconfig: string | undefined
  /** The credentials that kubeconfig holds (the post step writes it again when it is gone). */
  private readonly inCluster: InClusterCredentials | undefined
  private readonly watchCtor: typeof import('./client-node.ts').Watch

  private constructor(
    kc: KubeConfig,
    watchCtor: typeof import('./client-node.ts').Watch,
    proxy: ProxyDecision,
    inClusterKubeconfig: string | undefined,
    inCluster?: InClusterCredentials,
  ) {
    this.kc = kc
    this.inCluster = inCluster
    this.watchCtor = watchCtor
    this.server = kc.getCurrentCluster()?.server ?? ''
    this.context = kc.getCurrentContext()
    this.proxy = proxy
    this.inClusterKubeconfig = inClusterKubeconfig
  }

  /**
   * Loads the kubeconfig the way kubectl does (KUBECONFIG, else ~/.kube/config), else, as the
   * client library does, the pod's in-cluster ServiceAccount credentials (then writes a
   * kubeconfig of them for the tools: see in-cluster.ts), and decides the proxy to its API
   * server (see the header); fails with NoClusterError when there is none.
   * `serviceAccountRoot` prefixes the ServiceAccount's paths when no kubeconfig is found (a
   * test's fake pod); in a pod it is ''.
   */
  static async load(opts: { serviceAccountRoot?: string } = {}): Promise<Kube> {
    const k8s = await import('./client-node.ts')
    const kc = new k8s.KubeConfig()
    try {
      kc.loadFromDefault()
      // The library's last resort (no kubeconfig, no ServiceAccount at the pod's path): a fake pod's.
      if (
        opts.serviceAccountRoot &&
        kc.getCurrentContext() === 'loaded-context' &&
        existsSync(join(opts.serviceAccountRoot, SERVICE_ACCOUNT_TOKEN))
      ) {
        kc.loadFromCluster(opts.serviceAccountRoot)
      }
    } catch (e) {
      throw new NoClusterError(`the kubeconfig could not be read (${(e as Error).message})`)
    }
    const inCluster = inClusterCredentials(kc)
    if (inCluster && !process.env.KUBERNETES_SERVICE_HOST) {
      throw new NoClusterError(
        `no kubeconfig was found, and the ServiceAccount token at ${inCluster.tokenFile} comes without KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (the pod's environment names the API server)`,
      )
    }
    const cluster = kc.getCurrentCluster()
    if (!cluster || !cluster.server || cluster.server === 'http://localhost') {
      throw new NoClusterError('no kubeconfig with a current context was found')
    }
    // kubectl and helm know no context named inClusterContext until it is in a file.
    const toolsKubeconfig = inCluster ? writeInClusterKubeconfig(inCluster) : undefined
    if (cluster.proxyUrl)
      return new Kube(kc, k8s.Watch, { proxy: cluster.proxyUrl, reason: "the kubeconfig's proxy-url" }, toolsKubeconfig, inCluster)
    const decision = proxyForUrl(cluster.server)
    if (decision.proxy !== undefined) {
      const proxyUrl = decision.proxy
      kc.loadFromOptions({
        clusters: kc.getClusters().map((c) => (c.name === cluster.name ? { ...c, proxyUrl } : c)),
        contexts: kc.getContexts(),
        users: kc.getUsers(),
        currentContext: kc.getCurrentContext(),
      })
    }
    return new Kube(kc, k8s.Watch, decision, toolsKubeconfig, inCluster)
  }

  /**
   * One API request: the parsed JSON of a 2xx answer (the text when it is not JSON); rejects with
   * ApiError for any other status. `accept` replaces the Accept header (e.g. metadata only),
   * `timeoutMs` (default 30 000) bounds socket inactivity.
   */
  async request<T = KubeObject>(
    method: string,
    path: string,
    body?: unknown,
    opts: { timeoutMs?: number; contentType?: string; accept?: string; signal?: AbortSignal; onStatus?: (code: number) => void } = {},
  ): Promise<T> {
    const url = new URL(this.server.replace(/\/$/, '') + path)
    const options: https.RequestOptions = { method, headers: { accept: opts.accept ?? 'application/json' } }
    await this.kc.applyToHTTPSOptions(options)
    if (url.protocol === 'https:' && !this.kc.getCurrentCluster()?.proxyUrl) options.agent = this.keepAliveAgent(options)
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    if (payload !== undefined) options.headers = { ...options.headers, 'content-type': opts.contentType ?? 'application/json' }
    const lib = url.protocol === 'http:' ? http : https
    return new Promise<T>((resolve, reject) => {
      const req = lib.request(url, { ...options, timeout: opts.timeoutMs ?? 30_000, signal: opts.signal }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown = text
          try {
            parsed = JSON.parse(text)
          } catch {
            // not JSON: keep the text for the error
          }
          if ((res.statusCode ?? 0) >= 300) reject(new ApiError(method, path, res.statusCode ?? 0, parsed))
          else {
            opts.onStatus?.(res.statusCode ?? 0)
            resolve(parsed as T)
          }
        })
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out (ETIMEDOUT)`)))
      req.on('error', reject)
      req.end(payload)
    })
  }

  private agent?: { key: string; agent: https.Agent }

  /**
   * One keep-alive agent for the API server, with the TLS settings the kubeconfig gave
   * (`o`, from applyToHTTPSOptions): the client library's own agent opens a connection, a TLS
   * handshake and a TLS context per request, hundreds in a run. A new agent when the settings
   * change (a credential plugin's rotated client certificate). Through a proxy the library's
   * agent is kept.
   */
  private keepAliveAgent(o: https.RequestOptions): https.Agent {
    const tls = {
      ca: o.ca,
      cert: o.cert,
      key: o.key,
      pfx: o.pfx,
      passphrase: o.passphrase,
      rejectUnauthorized: o.rejectUnauthorized,
      servername: o.servername,
    }
    const key = JSON.stringify(tls)
    if (this.agent?.key !== key) {
      this.agent?.agent.destroy()
      this.agent = { key, agent: new https.Agent({ ...tls, keepAlive: true, maxSockets: 16 }) }
    }
    return this.agent.agent
  }

  /**
   * How kubectl and helm reach the same cluster whatever the current context becomes later:
   * this context by name, and the kubeconfig file(s) it was loaded from (KUBECONFIG as set, a
   * ':'-separated list allowed, else ~/.kube/config), or the one written for in-cluster credentials.
   */
  connection(): KubeConnection {
    return {
      context: this.context,
      kubeconfig: this.inClusterKubeconfig ?? (process.env.KUBECONFIG || join(homedir(), '.kube', 'config')),
      server: this.server,
      ...(this.clusterId ? { clusterId: this.clusterId } : {}),
      ...(this.inCluster && this.inClusterKubeconfig ? { inCluster: this.inCluster } : {}),
    }
  }

  get<T = KubeObject>(path: string, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>('GET', path, undefined, opts)
  }

  /**
   * A GET through the API server's service proxy (see serviceProxyPath) with the kubeconfig's
   * credentials and proxy: the parsed JSON of a 2xx answer. Rejects with ApiError (its `status`
   * the HTTP status, e.g. 503 while the Service has no ready endpoint) for any other status,
   * with an Error for a 2xx body that is not JSON, and with the socket's error when the API
   * server does not answer; `timeoutMs` (default 30 000) bounds socket inactivity, `signal`
   * aborts the request.
   */
  async serviceProxyGet(ref: ServiceRef, pathAndQuery: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<unknown> {
    const path = serviceProxyPath(ref, pathAndQuery)
    const body = await this.request<unknown>('GET', path, undefined, opts)
    if (typeof body === 'string') throw new Error(`GET ${path}: the answer is not JSON: ${JSON.stringify(body.slice(0, 200))}`)
    return body
  }

  /** GET that answers undefined for 404. */
  async find<T = KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path)
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined
      throw e
    }
  }

  list(path: string, query: Record<string, string> = {}): Promise<KubeList> {
    const qs = new URLSearchParams(query).toString()
    return this.get<KubeList>(qs ? `${path}?${qs}` : path)
  }

  /**
   * Hands every object of the collection at `path` (narrowed by `query`) to `each`, one page of
   * at most `limit` objects (default 500) at a time, following `metadata.continue`: memory holds
   * one page whatever the cluster's size. Rejects with ApiError as `list` does (410 when a
   * continue token expired, after about 5 minutes between pages).
   */
  async eachPage(path: string, query: Record<string, string>, each: (items: KubeObject[]) => void, limit = 500): Promise<void> {
    let token: string | undefined
    do {
      const page = await this.list(path, { ...query, limit: String(limit), ...(token ? { continue: token } : {}) })
      each(page.items)
      token = (page.metadata as { continue?: string } | undefined)?.continue || undefined
    } while (token)
  }

  /**
   * Creates one object (POST to its collection `path`) with the action's field manager: the
   * object as the API server answered the 201 (its metadata.uid is what the run records), or
   * undefined when it exists already (409 AlreadyExists: someone else's, or an earlier run's).
   */
  async create(path: string, obj: KubeObject, fieldManager: string): Promise<KubeObject | undefined> {
    try {
      return await this.request('POST', `${path}?fieldManager=${fieldManager}`, obj)
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) return undefined
      throw e
    }
  }

  /**
   * Server-side apply of one object that says whether the apply created it: the API server answers
   * 201 then, 200 when it existed. One field manager and operation from the first write on, so a
   * re-run's apply of the same object changes nothing (a POST then an apply would add a second
   * managedFields entry, and a new resourceVersion, on the first re-run).
   */
  async applyCreating(path: string, obj: KubeObject, fieldManager: string): Promise<{ object: KubeObject; created: boolean }> {
    let status = 0
    const object = await this.request<KubeObject>('PATCH', `${path}/${obj.metadata.name}?fieldManager=${fieldManager}&force=true`, obj, {
      contentType: 'application/apply-patch+yaml',
      onStatus: (code) => (status = code),
    })
    return { object, created: status === 201 }
  }

  /** Server-side apply of one object with the action's field manager. */
  apply(path: string, obj: KubeObject, fieldManager: string): Promise<KubeObject> {
    return this.request('PATCH', `${path}/${obj.metadata.name}?fieldManager=${fieldManager}&force=true`, obj, {
      contentType: 'application/apply-patch+yaml',
    })
  }

  /**
   * Resolves with the first object of the collection at `path` (narrowed by `query`) for which
   * `done` returns true: one list, then a watch from its resourceVersion, started over when the
   * watch ends (API server restarts, expired versions). Rejects when `signal` aborts.
   */
  async waitFor(
    path: string,
    query: Record<string, string>,
    done: (items: Map<string, KubeObject>) => boolean,
    signal: AbortSignal,
  ): Promise<Map<string, KubeObject>> {
    const items = new Map<string, KubeObject>()
    const key = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`
    let backoff = 250
    while (!signal.aborted) {
      let resourceVersion: string
      try {
        const list = await this.list(path, query)
        items.clear()
        for (const o of list.items) items.set(key(o), o)
        if (done(items)) return items
        resourceVersion = list.metadata.resourceVersion
        backoff = 250
      } catch (e) {
        // The API server is away (restarting) or overloaded: try again shortly, within the budget.
        await abortableSleep(backoff, signal)
        backoff = Math.min(backoff * 2, 5000)
        if (!(e instanceof ApiError) || e.status >= 500 || e.status === 429) continue
        throw e
      }
      const result = await new Promise<'done' | 'restart'>((resolve, reject) => {
        let controller: AbortController | undefined
        const onAbort = () => {
          controller?.abort()
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
        }
        signal.addEventListener('abort', onAbort, { once: true })
        const finish = (r: 'done' | 'restart') => {
          signal.removeEventListener('abort', onAbort)
          controller?.abort()
          resolve(r)
        }
        new this.watchCtor(this.kc)
          .watch(
            path,
            { ...query, resourceVersion, allowWatchBookmarks: true },
            (phase: string, obj: KubeObject) => {
              if (phase === 'BOOKMARK' || phase === 'ERROR') {
                if (phase === 'ERROR') finish('restart')
                return
              }
              if (phase === 'DELETED') items.delete(key(obj))
              else items.set(key(obj), obj)
              if (done(items)) finish('done')
            },
            () => finish('restart'),
          )
          .then((c) => {
            controller = c
            if (signal.aborted) c.abort()
          })
          .catch(() => finish('restart'))
      })
      if (result === 'done') return items
    }
    throw signal.reason instanceof Error ? signal.reason : new Error('aborted')
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** A condition of `status.conditions` is True. */
export function conditionTrue(obj: KubeObject | undefined, type: string): boolean {
  const conditions = (obj?.status?.conditions ?? []) as Array<{ type: string; status: string }>
  return conditions.some((c) => c.type === type && c.status === 'True')
}

/** A Deployment has rolled out: its current generation observed and all replicas available. */
export function deploymentAvailable(d: KubeObject | undefined): boolean {
  if (!d) return false
  const s = (d.status ?? {}) as { observedGeneration?: number; availableReplicas?: number; updatedReplicas?: number }
  const want = ((d.spec ?? {}) as { replicas?: number }).replicas ?? 1
  const generation = (d.metadata as { generation?: number }).generation ?? 0
  return (s.observedGeneration ?? 0) >= generation && (s.availableReplicas ?? 0) >= want && (s.updatedReplicas ?? 0) >= want
}
