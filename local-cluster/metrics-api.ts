// A stand-in for prometheus-adapter's aggregated API (metrics.k8s.io/v1beta1), served on each
// adapter pod's IP as the real one would be. It only has to answer discovery: kube-prometheus
// registers the APIService `v1beta1.metrics.k8s.io`, and while nothing answers it the API server's
// discovery is partial, so the namespace controller never finishes deleting a namespace
// (NamespaceDeletionDiscoveryFailure) and every namespace a test drops stays Terminating.
// The metrics lists are empty: nothing here has CPU or memory to report.
import https from 'node:https'
import { readFileSync } from 'node:fs'

const GROUP = 'metrics.k8s.io'
const VERSION = 'v1beta1'
const GROUP_VERSION = `${GROUP}/${VERSION}`

const RESOURCES = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: GROUP_VERSION,
  resources: [
    { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
    { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
  ],
}

const GROUP_DOC = {
  kind: 'APIGroup',
  apiVersion: 'v1',
  name: GROUP,
  versions: [{ groupVersion: GROUP_VERSION, version: VERSION }],
  preferredVersion: { groupVersion: GROUP_VERSION, version: VERSION },
}

/** The response for a path of the metrics API, or undefined for 404. */
export function metricsApiResponse(path: string): unknown {
  switch (path) {
    case '/healthz':
    case '/livez':
    case '/readyz':
      return 'ok'
    case '/apis':
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [GROUP_DOC] }
    case `/apis/${GROUP}`:
      return GROUP_DOC
    case `/apis/${GROUP_VERSION}`:
      return RESOURCES
    case '/openapi/v2':
      return { swagger: '2.0', info: { title: 'metrics.k8s.io (local-cluster stand-in)', version: VERSION }, paths: {} }
    case '/openapi/v3':
      return { paths: {} }
    case `/apis/${GROUP_VERSION}/nodes`:
      return { kind: 'NodeMetricsList', apiVersion: GROUP_VERSION, metadata: {}, items: [] }
    case `/apis/${GROUP_VERSION}/pods`:
      return { kind: 'PodMetricsList', apiVersion: GROUP_VERSION, metadata: {}, items: [] }
  }
  if (new RegExp(`^/apis/${GROUP_VERSION}/namespaces/[^/]+/pods$`).test(path)) {
    return { kind: 'PodMetricsList', apiVersion: GROUP_VERSION, metadata: {}, items: [] }
  }
  return undefined
}

/** Serves the metrics API on host:port with the given certificate (the APIService skips TLS verification). */
export function startMetricsApi(o: { host: string; port: number; cert: string; key: string }): Promise<{ close(): Promise<void> }> {
  const server = https.createServer({ cert: readFileSync(o.cert), key: readFileSync(o.key) }, (req, res) => {
    req.resume()
    const body = metricsApiResponse(new URL(req.url ?? '/', 'https://adapter').pathname)
    if (body === undefined) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }))
    } else if (typeof body === 'string') res.writeHead(200, { 'content-type': 'text/plain' }).end(body)
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () =>
      resolve({
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      }),
    )
  })
}
