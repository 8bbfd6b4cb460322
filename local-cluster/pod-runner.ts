// Plays the container runtime for the pods whose work the action depends on: the
// prometheus-operator pod runs the real operator (out of cluster, from its pod's arguments), and
// each Prometheus pod a real Prometheus on the pod's IP, with the configuration the operator
// generated, its rule files (the operator's prometheus-<name>-rulefiles-N ConfigMaps) and the
// pod's ServiceAccount token, reloaded when the operator changes either. Each Alertmanager pod
// (the operator's alertmanager-<name>-N) runs a real Alertmanager on the pod's IP:9093 with the
// configuration the operator generated (Secret alertmanager-<name>-generated), reloaded when it
// changes; the replicas of one Alertmanager gossip on their pod IPs' port 9094, as the operator's
// StatefulSet has them do (its --cluster.peer names are DNS names nothing resolves here), so a
// silence made on one reaches all. It also keeps the set
// of pod IPs annotated local-cluster.milvus-monitoring-action/metrics-down: "true", whose
// Milvus stand-in /metrics answers 503 (their targets go down; the pods stay Ready).
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import YAML from 'yaml'
import { Procs, type Proc } from './procs.ts'
import { startMetricsApi } from './metrics-api.ts'

interface Options {
  prometheusBinary: string
  alertmanagerBinary: string
  operatorBinary: string
  kubeconfig: string
  operatorKubeconfig: string
  runDir: string
  apiserver: string
  caFile: string
  /** A serving certificate and key for the metrics API stand-in (its APIService skips verification). */
  servingCert: string
  servingKey: string
}

interface Running {
  key: string
  ip: string
  stop: () => Promise<void>
  reload?: () => Promise<void>
  instance?: string // Prometheus resource, as namespace/name, for config reloads
  alertmanager?: string // Alertmanager resource, as namespace/name, for config reloads
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount/'
const RULES_DIR = '/etc/prometheus/rules/'
const METRICS_DOWN = 'local-cluster.milvus-monitoring-action/metrics-down'

function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString()}] pod-runner: ${msg}\n`)
}

/** Points the operator's in-cluster configuration at this API server and this pod's files. */
export function localizePrometheusConfig(
  raw: string,
  o: { apiserver: string; saDir: string; rulesDir?: string; env: Record<string, string> },
): string {
  // What prometheus-config-reloader does: expand $(VAR) from its container's environment.
  const expanded = raw.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (m, name: string) => o.env[name] ?? m)
  const local = o.rulesDir ? expanded.replaceAll(RULES_DIR, `${o.rulesDir}/`) : expanded
  const config = YAML.parse(local.replaceAll(SA_DIR, `${o.saDir}/`)) as {
    scrape_configs?: Array<Record<string, unknown>>
    alerting?: { alertmanagers?: Array<Record<string, unknown>> }
  }
  const sdOwners = [...(config.scrape_configs ?? []), ...(config.alerting?.alertmanagers ?? [])]
  for (const owner of sdOwners) {
    const sds = owner.kubernetes_sd_configs as Array<Record<string, unknown>> | undefined
    for (const sd of sds ?? []) {
      if (sd.api_server) continue
      sd.api_server = o.apiserver
      sd.tls_config = { ca_file: `${o.saDir}/ca.crt` }
      sd.authorization = { credentials_file: `${o.saDir}/token` }
    }
  }
  return YAML.stringify(config)
}

export class PodRunner {
  private readonly kc: k8s.KubeConfig
  private readonly o: Options
  private readonly core: k8s.CoreV1Api
  private readonly procs: Procs
  private readonly running = new Map<string, Running>()
  private readonly configs = new Map<string, string>() // Prometheus name -> generated config
  private readonly amConfigs = new Map<string, string>() // Alertmanager namespace/name -> generated config
  private readonly ruleFiles = new Map<string, Map<string, Record<string, string>>>() // Prometheus namespace/name -> ConfigMap name -> files
  private readonly downIps = new Set<string>()
  private readonly aborts: Array<{ abort: () => void }> = []
  private queue: Promise<void> = Promise.resolve()

  constructor(kc: k8s.KubeConfig, o: Options) {
    this.kc = kc
    this.o = o
    this.core = kc.makeApiClient(k8s.CoreV1Api)
    this.procs = new Procs(join(o.runDir, 'logs'))
    this.procs.onUnexpectedExit = (p, code) => log(`${p.name} exited with ${code}; see ${p.logFile}`)
  }

  async start(): Promise<void> {
    await this.watch('/api/v1/pods', (type, pod: k8s.V1Pod) => this.onPod(type, pod))
    // Every namespace: a Prometheus of another stack (kube-prometheus-stack's in its own) too.
    await this.watch('/api/v1/secrets', (type, s: k8s.V1Secret) => this.onSecret(type, s))
    await this.watch('/api/v1/configmaps', (type, c: k8s.V1ConfigMap) => this.onConfigMap(type, c))
  }

  /** True when the pod with this IP is annotated metrics-down: its Milvus stand-in /metrics answers 503. */
  metricsDown(ip: string): boolean {
    return this.downIps.has(ip)
  }

  /** The IP of a running Prometheus, the first by pod name, for port-forwards to any of them. */
  livePrometheusIp(): string | undefined {
    const live = [...this.running.values()].filter((r) => r.instance).sort((a, b) => a.key.localeCompare(b.key))
    return live[0]?.ip
  }

  /** The IP of a running Alertmanager, the first by pod name, for port-forwards to any of them. */
  liveAlertmanagerIp(): string | undefined {
    const live = [...this.running.values()].filter((r) => r.alertmanager).sort((a, b) => a.key.localeCompare(b.key))
    return live[0]?.ip
  }

  async stop(): Promise<void> {
    for (const a of this.aborts) a.abort()
    await this.queue
    for (const r of this.running.values()) await r.stop()
    this.running.clear()
    await this.procs.stopAll()
  }

  // Events are handled one at a time, in order, so a pod's start and stop never race.
  private serial(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((e: unknown) => log(`error: ${e instanceof Error ? e.message : String(e)}`))
  }

  private async watch<T>(path: string, handler: (type: string, obj: T) => Promise<void>): Promise<void> {
    const w = new k8s.Watch(this.kc)
    const again = async (): Promise<void> => {
      const req = await w.watch(
        path,
        {},
        (type: string, obj: T) => this.serial(() => handler(type, obj)),
        () => {
          // Watches end on API server restarts and timeouts: start over.
          if (!stopped) setTimeout(() => void again().catch(() => setTimeout(() => void again(), 1000)), 500)
        },
      )
      this.aborts.push(req)
    }
    let stopped = false
    this.aborts.push({ abort: () => (stopped = true) })
    await again()
  }

  private async onPod(type: string, pod: k8s.V1Pod): Promise<void> {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`
    const ip = pod.status?.podIP
    const alive = type !== 'DELETED' && !pod.metadata?.deletionTimestamp && pod.status?.phase === 'Running' && !!ip
    if (ip && alive && pod.metadata?.annotations?.[METRICS_DOWN] === 'true') this.downIps.add(ip)
    else if (ip) this.downIps.delete(ip)
    const current = this.running.get(key)
    if (current && (!alive || current.ip !== ip)) {
      log(`stopping ${key}`)
      this.running.delete(key)
      await current.stop()
    }
    if (!alive || this.running.has(key)) return
    const labels = pod.metadata?.labels ?? {}
    const name = labels['app.kubernetes.io/name']
    if (name === 'prometheus' && labels['operator.prometheus.io/name']) {
      await this.startPrometheus(key, pod, ip!, `${pod.metadata?.namespace}/${labels['operator.prometheus.io/name']}`)
    } else if (name === 'alertmanager' && labels['alertmanager']) {
      this.startAlertmanager(key, pod, ip!, `${pod.metadata?.namespace}/${labels['alertmanager']}`)
    } else if (name === 'prometheus-operator' && labels['app.kubernetes.io/component'] === 'controller') {
      this.startOperator(key, pod, ip!)
    } else if (name === 'prometheus-adapter') {
      await this.startMetricsApi(key, pod, ip!)
    }
  }

  private async startMetricsApi(key: string, pod: k8s.V1Pod, ip: string): Promise<void> {
    const port = pod.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === 'https')?.containerPort ?? 6443
    log(`starting the metrics.k8s.io stand-in for ${key} on ${ip}:${port}`)
    const api = await startMetricsApi({ host: ip, port, cert: this.o.servingCert, key: this.o.servingKey })
    this.running.set(key, { key, ip, stop: () => api.close() })
  }

  private startOperator(key: string, pod: k8s.V1Pod, ip: string): void {
    const container = pod.spec?.containers.find((c) => c.name === 'prometheus-operator')
    // The pod's own arguments; it listens where the pod's kube-rbac-proxy expects it.
    const args = [...(container?.args ?? []).filter((a) => !a.startsWith('--web.listen-address')), '--web.listen-address=127.0.0.1:8080']
    log(`starting prometheus-operator for ${key}`)
    const proc = this.procs.start('prometheus-operator', this.o.operatorBinary, args, { KUBECONFIG: this.o.operatorKubeconfig })
    this.running.set(key, { key, ip, stop: () => this.procs.stop(proc) })
  }

  private async startPrometheus(key: string, pod: k8s.V1Pod, ip: string, instance: string): Promise<void> {
    const ns = pod.metadata!.namespace!
    const dir = join(this.o.runDir, 'pods', key.replace('/', '_'))
    const saDir = join(dir, 'serviceaccount')
    mkdirSync(saDir, { recursive: true })
    mkdirSync(join(dir, 'data'), { recursive: true })
    // The pod's own ServiceAccount token: RBAC applies to Prometheus exactly as in a real cluster.
    const token = await this.core.createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName ?? 'default',
      namespace: ns,
      body: {
        spec: {
          audiences: [],
          expirationSeconds: 86400,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
        },
      },
    })
    writeFileSync(join(saDir, 'token'), token.status?.token ?? '')
    writeFileSync(join(saDir, 'ca.crt'), readFileSync(this.o.caFile))
    writeFileSync(join(saDir, 'namespace'), ns)
    const configFile = join(dir, 'prometheus.yaml')
    const rulesDir = join(dir, 'rules')
    rmSync(rulesDir, { recursive: true, force: true }) // a folder or link of an earlier run; nothing reads it yet
    let generation = 0
    const writeConfig = () => {
      const generated = this.configs.get(instance) ?? 'global: {}\n'
      // What the kubelet does with the rulefiles ConfigMap volumes: one folder per ConfigMap,
      // swapped in atomically through a symlink, so a Prometheus reading them never sees a
      // file vanish (it exits at start on one).
      const next = join(dir, `rules-${++generation}`)
      for (const [cm, files] of this.ruleFiles.get(instance) ?? []) {
        mkdirSync(join(next, cm), { recursive: true })
        for (const [name, body] of Object.entries(files)) writeFileSync(join(next, cm, name), body)
      }
      mkdirSync(next, { recursive: true })
      rmSync(`${rulesDir}.tmp`, { force: true })
      symlinkSync(next, `${rulesDir}.tmp`)
      renameSync(`${rulesDir}.tmp`, rulesDir)
      const old = join(dir, `rules-${generation - 1}`)
      setTimeout(() => rmSync(old, { recursive: true, force: true }), 30_000).unref()
      writeFileSync(
        configFile,
        localizePrometheusConfig(generated, { apiserver: this.o.apiserver, saDir, rulesDir, env: reloaderEnv(pod) }),
      )
    }
    writeConfig()
    // The pod's own web flags: the path it serves under is what the action has to find.
    const podArgs = pod.spec?.containers.find((c) => c.name === 'prometheus')?.args ?? []
    const web = podArgs.filter((a) => a.startsWith('--web.route-prefix=') || a.startsWith('--web.external-url='))
    const routePrefix = (web.find((a) => a.startsWith('--web.route-prefix='))?.split('=')[1] ?? '/').replace(/\/+$/, '')
    log(`starting Prometheus for ${key} on ${ip}:9090${routePrefix}`)
    const proc: Proc = this.procs.start(`prometheus-${key.replace('/', '_')}`, this.o.prometheusBinary, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=${ip}:9090`,
      '--web.enable-lifecycle',
      ...(web.some((a) => a.startsWith('--web.route-prefix=')) ? web : [...web, '--web.route-prefix=/']),
      '--storage.tsdb.retention.time=1h',
    ])
    this.running.set(key, {
      key,
      ip,
      instance,
      stop: () => this.procs.stop(proc),
      reload: async () => {
        writeConfig()
        await fetch(`http://${ip}:9090${routePrefix}/-/reload`, { method: 'POST' }).catch(() => undefined)
      },
    })
  }

  private startAlertmanager(key: string, pod: k8s.V1Pod, ip: string, instance: string): void {
    const dir = join(this.o.runDir, 'pods', key.replace('/', '_'))
    mkdirSync(join(dir, 'data'), { recursive: true })
    const configFile = join(dir, 'alertmanager.yaml')
    // Until the operator has generated one: a configuration Alertmanager accepts.
    const writeConfig = () =>
      writeFileSync(configFile, this.amConfigs.get(instance) ?? 'route: {receiver: "null"}\nreceivers: [{name: "null"}]\n')
    writeConfig()
    const container = pod.spec?.containers.find((c) => c.name === 'alertmanager')
    // The pod's own web flags: the route prefix and external URL the operator derived from the resource.
    const web = (container?.args ?? []).filter((a) => a.startsWith('--web.route-prefix=') || a.startsWith('--web.external-url='))
    const label = (container?.args ?? []).filter((a) => a.startsWith('--cluster.label='))
    // The replicas running already are this one's peers; memberlist joins both ways.
    const peers = [...this.running.values()].filter((r) => r.alertmanager === instance).map((r) => `--cluster.peer=${r.ip}:9094`)
    log(`starting Alertmanager for ${key} on ${ip}:9093 (${peers.length} peer(s))`)
    const proc: Proc = this.procs.start(`alertmanager-${key.replace('/', '_')}`, this.o.alertmanagerBinary, [
      `--config.file=${configFile}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=${ip}:9093`,
      `--cluster.listen-address=${ip}:9094`,
      `--cluster.advertise-address=${ip}:9094`,
      ...peers,
      ...label,
      ...web,
    ])
    const prefix = (web.find((a) => a.startsWith('--web.route-prefix='))?.split('=')[1] ?? '/').replace(/\/+$/, '')
    this.running.set(key, {
      key,
      ip,
      alertmanager: instance,
      stop: () => this.procs.stop(proc),
      reload: async () => {
        writeConfig()
        await fetch(`http://${ip}:9093${prefix}/-/reload`, { method: 'POST' }).catch(() => undefined)
      },
    })
  }

  private async onConfigMap(type: string, c: k8s.V1ConfigMap): Promise<void> {
    const name = c.metadata?.name ?? ''
    const m = /^prometheus-(.+)-rulefiles-\d+$/.exec(name)
    if (!m) return
    const instance = `${c.metadata?.namespace}/${m[1]!}`
    const byName = this.ruleFiles.get(instance) ?? new Map<string, Record<string, string>>()
    this.ruleFiles.set(instance, byName)
    if (type === 'DELETED') byName.delete(name)
    else byName.set(name, c.data ?? {})
    for (const r of this.running.values()) if (r.instance === instance) await r.reload?.()
  }

  private async onSecret(type: string, s: k8s.V1Secret): Promise<void> {
    const am = /^alertmanager-(.+)-generated$/.exec(s.metadata?.name ?? '')
    const amGz = s.data?.['alertmanager.yaml.gz']
    if (am && amGz && type !== 'DELETED') {
      const instance = `${s.metadata?.namespace}/${am[1]!}`
      const config = gunzipSync(Buffer.from(amGz, 'base64')).toString('utf8')
      if (this.amConfigs.get(instance) === config) return
      this.amConfigs.set(instance, config)
      // What the config-reloader container does in a real pod.
      for (const r of this.running.values()) if (r.alertmanager === instance) await r.reload?.()
      return
    }
    const m = /^prometheus-(.+)$/.exec(s.metadata?.name ?? '')
    const gz = s.data?.['prometheus.yaml.gz']
    if (!m || !gz || type === 'DELETED') return
    const instance = `${s.metadata?.namespace}/${m[1]!}`
    const config = gunzipSync(Buffer.from(gz, 'base64')).toString('utf8')
    if (this.configs.get(instance) === config) return
    this.configs.set(instance, config)
    // What prometheus-config-reloader does in a real pod.
    for (const r of this.running.values()) if (r.instance === instance) await r.reload?.()
  }
}

/** The config-reloader container's environment (SHARD, POD_NAME), as the kubelet would set it. */
function reloaderEnv(pod: k8s.V1Pod): Record<string, string> {
  const env: Record<string, string> = {}
  const reloader = pod.spec?.containers.find((c) => c.name === 'config-reloader')
  for (const e of reloader?.env ?? []) {
    const field = e.valueFrom?.fieldRef?.fieldPath
    if (e.value !== undefined) env[e.name] = e.value
    else if (field === 'metadata.name') env[e.name] = pod.metadata?.name ?? ''
    else if (field === 'metadata.namespace') env[e.name] = pod.metadata?.namespace ?? ''
  }
  return env
}
