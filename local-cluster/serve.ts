// The local cluster's supervisor, run inside its network namespace by `cluster.ts up`.
// It starts the control plane and kwok, then plays the container runtime for the few pods
// whose work must really happen (see pod-runner.ts).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import https from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import * as k8s from '@kubernetes/client-node'
import { ensurePki, kubeconfig, type Pki } from './pki.ts'
import { Procs, until } from './procs.ts'
import { layout, NETWORK } from './layout.ts'
import { startKwok, createNodes, createStorageClass } from './kwok.ts'
import { PodRunner } from './pod-runner.ts'
import { startOperatorProxy } from './operator-proxy.ts'
import { TimelineController, type Profile } from './timeline/controller.ts'
import { startMirror } from './mirror.ts'
import { startMilvusStandin } from './milvus-standin.ts'
import { startStandins } from './standins.ts'
import { readDownloads } from './downloads.ts'

const KUBERNETES_VERSION = readVersions().KUBERNETES_VERSION

function readVersions(): Record<string, string> {
  const out: Record<string, string> = {}
  const text = readFileSync(new URL('./versions.env', import.meta.url), 'utf8')
  for (const m of text.matchAll(/^([A-Z_]+)=(\S+)/gm)) out[m[1]!] = m[2]!
  return out
}

function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString()}] ${msg}\n`)
}

function httpsOk(url: string, pki: Pki): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      url,
      { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey), timeout: 2000 },
      (res) => {
        res.resume()
        resolve(res.statusCode === 200)
      },
    )
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
  })
}

export async function serve(nodeCount: number, timeline: Profile = 'instant'): Promise<void> {
  const l = layout()
  rmSync(l.readyFile, { force: true })
  mkdirSync(l.logDir, { recursive: true })
  writeFileSync(l.pidFile, String(process.pid))
  const procs = new Procs(l.logDir)
  let shuttingDown = false
  const shutdown = async (code: number) => {
    if (shuttingDown) return
    shuttingDown = true
    log('stopping')
    await runner?.stop()
    await procs.stopAll()
    await closers.reduce((p, c) => p.then(c), Promise.resolve())
    process.exit(code)
  }
  process.on('SIGTERM', () => void shutdown(0))
  process.on('SIGINT', () => void shutdown(0))
  procs.onUnexpectedExit = (p, code) => log(`${p.name} exited with ${code}; see ${p.logFile}`)
  const closers: Array<() => Promise<void>> = []
  let runner: PodRunner | undefined

  try {
    const bin = (name: string) => join(l.binDir, name)
    const server = `https://${NETWORK.apiserverIp}:${NETWORK.apiserverPort}`
    const pki = ensurePki(join(l.runDir, 'pki'), NETWORK.apiserverIp)
    writeFileSync(l.kubeconfig, kubeconfig(pki, server, { cert: pki.adminCert, key: pki.adminKey }))

    log('starting etcd')
    procs.start('etcd', bin('etcd'), [
      '--name=local',
      `--data-dir=${join(l.runDir, 'etcd')}`,
      '--listen-client-urls=http://127.0.0.1:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=local=http://127.0.0.1:2380',
      // A throw-away cluster: durability buys nothing and fsync costs seconds.
      '--unsafe-no-fsync',
      '--quota-backend-bytes=4294967296',
    ])
    await until('etcd', async () => (await fetch('http://127.0.0.1:2379/health')).ok, 60_000)

    log('starting kube-apiserver')
    await startApiserver(procs, bin('kube-apiserver'), pki)
    await until('kube-apiserver /readyz', () => httpsOk(`${server}/readyz`, pki), 120_000)

    // `cluster.ts outage`: the API server goes away for a few seconds, as in a control-plane restart.
    process.on('SIGUSR2', () => {
      const proc = procs.find('kube-apiserver')
      if (!proc) return
      log('outage: killing kube-apiserver, 5 s down')
      // Killed, not drained: requests in flight fail as they do when a control plane crashes.
      void procs
        .stop(proc, 0)
        .then(() => sleep(5000))
        .then(() => startApiserver(procs, bin('kube-apiserver'), pki))
        .then(() => log('outage over: kube-apiserver started again'))
    })

    log('starting kube-controller-manager and kube-scheduler')
    procs.start('kube-controller-manager', bin('kube-controller-manager'), [
      `--kubeconfig=${l.kubeconfig}`,
      `--authentication-kubeconfig=${l.kubeconfig}`,
      `--authorization-kubeconfig=${l.kubeconfig}`,
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--use-service-account-credentials=false',
      // kwok nodes carry their podCIDR already.
      '--allocate-node-cidrs=false',
      '--controllers=*,-nodeipam',
      '--kube-api-qps=200',
      '--kube-api-burst=400',
      '--concurrent-deployment-syncs=10',
    ])
    procs.start('kube-scheduler', bin('kube-scheduler'), [
      `--kubeconfig=${l.kubeconfig}`,
      `--authentication-kubeconfig=${l.kubeconfig}`,
      `--authorization-kubeconfig=${l.kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--kube-api-qps=200',
      '--kube-api-burst=400',
    ])

    const kc = new k8s.KubeConfig()
    kc.loadFromFile(l.kubeconfig)
    const core = kc.makeApiClient(k8s.CoreV1Api)
    await until(
      'the default ServiceAccount',
      async () => {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })
        return true
      },
      120_000,
    )

    log(`creating ${nodeCount} kwok nodes and the default StorageClass`)
    await createNodes(kc, nodeCount)
    await createStorageClass(kc)
    startKwok(procs, { binary: bin('kwok'), kubeconfig: l.kubeconfig, runDir: l.runDir, timeline })
    // Plays the runner timeline: every pod with the runner profile, marked pods with the instant one.
    const timelineController = new TimelineController(kc, timeline)
    await timelineController.start()
    closers.push(async () => timelineController.stop())
    // `cluster.ts forget-images`: the next pulls start from empty nodes, as on a new runner.
    process.on('SIGUSR1', () => {
      timelineController.forgetImages()
      log('timeline: image stores emptied')
    })

    log('starting the pod runner (operator and Prometheus pods), the stand-ins and the download mirror')
    // The operator reaches the API server through a proxy that tests can make hold its namespace events.
    rmSync(l.holdNamespaceEventsFile, { force: true })
    const operatorProxy = await startOperatorProxy({
      apiserver: server,
      ca: pki.caCert,
      cert: pki.adminCert,
      key: pki.adminKey,
      holdFile: l.holdNamespaceEventsFile,
    })
    closers.push(() => operatorProxy.close())
    const operatorKubeconfig = join(l.runDir, 'operator.kubeconfig')
    writeFileSync(
      operatorKubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: local, cluster: {server: '${operatorProxy.url}'}}]\nusers: [{name: local, user: {}}]\ncontexts: [{name: local, context: {cluster: local, user: local}}]\ncurrent-context: local\n`,
    )
    runner = new PodRunner(kc, {
      prometheusBinary: bin('prometheus'),
      alertmanagerBinary: bin('alertmanager'),
      operatorBinary: bin('prometheus-operator'),
      kubeconfig: l.kubeconfig,
      operatorKubeconfig,
      runDir: l.runDir,
      apiserver: server,
      caFile: pki.caCert,
      servingCert: pki.apiserverCert,
      servingKey: pki.apiserverKey,
    })
    await runner.start()
    // kwok forwards every port-forward to 127.0.0.1:<port>, and every pod IP is local here, so
    // one listener on 0.0.0.0 answers for all pods of a port (see kwok/port-forward.yaml).
    // A pod annotated metrics-down gets 503 from /metrics (its target goes down, its pod stays Ready).
    const standin = await startMilvusStandin({ host: '0.0.0.0', port: 9091, isDown: (ip) => runner!.metricsDown(ip) })
    closers.push(() => standin.close())
    const others = await startStandins(runner)
    closers.push(() => others.close())
    // Fetched by `cluster.ts up` on the host: nothing here reaches the network.
    const { binaries, fixtures } = readDownloads(l.downloadsFile)
    // Every address of the namespace (loopback, and 10.250.0.1 for requests that must not be
    // exempt from a proxy); nothing outside the namespace reaches it.
    const mirror = await startMirror({
      host: '0.0.0.0',
      port: NETWORK.mirrorPort,
      binaries,
      kubePrometheusDir: fixtures.kubePrometheus,
      helmRepoDir: fixtures.helmRepo,
      grafanaDir: fixtures.grafana,
    })
    closers.push(() => mirror.close())

    const env = {
      KUBECONFIG: l.kubeconfig,
      LOCAL_CLUSTER_NETNS: l.netns,
      LOCAL_CLUSTER_KUBERNETES_VERSION: KUBERNETES_VERSION,
      LOCAL_CLUSTER_KUBECTL_BASE_URL: mirror.kubectlBaseUrl,
      LOCAL_CLUSTER_HELM_BASE_URL: mirror.helmBaseUrl,
      LOCAL_CLUSTER_KUBE_PROMETHEUS_URL: mirror.kubePrometheusUrl('v0.18.0'),
      LOCAL_CLUSTER_HELM_REPO_URL: mirror.helmRepoUrl,
      LOCAL_CLUSTER_GRAFANA_DASHBOARD_URL: mirror.grafanaDashboardUrl,
    }
    writeFileSync(
      l.envFile,
      Object.entries(env)
        .map(([k, v]) => `export ${k}='${v}'\n`)
        .join(''),
    )
    writeFileSync(l.readyFile, JSON.stringify({ nodes: nodeCount, timeline, pid: process.pid }))
    log('ready')
  } catch (e) {
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e)
    log(`failed: ${msg}`)
    writeFileSync(l.failedFile, msg)
    await shutdown(1)
  }
}

async function startApiserver(procs: Procs, binary: string, pki: Pki): Promise<void> {
  procs.start('kube-apiserver', binary, [
    '--etcd-servers=http://127.0.0.1:2379',
    // Its own address only: the port is also the one prometheus-adapter pods serve on (the
    // metrics API stand-in binds each such pod's IP, see pod-runner.ts).
    `--bind-address=${NETWORK.apiserverIp}`,
    // No kube-proxy here, so Service IPs lead nowhere: aggregated APIs are reached at their
    // endpoints' pod IPs, which are local to the namespace.
    '--enable-aggregator-routing=true',
    `--secure-port=${NETWORK.apiserverPort}`,
    `--advertise-address=${NETWORK.apiserverIp}`,
    `--tls-cert-file=${pki.apiserverCert}`,
    `--tls-private-key-file=${pki.apiserverKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    // kwok's kubelet server answers port-forward; it is reached by node IP.
    `--kubelet-client-certificate=${pki.adminCert}`,
    `--kubelet-client-key=${pki.adminKey}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--max-requests-inflight=1000',
    '--max-mutating-requests-inflight=500',
    '--profiling=false',
  ])
}
