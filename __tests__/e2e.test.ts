// The bundled action, end to end, against the local cluster: a real API server, real Helm,
// real Prometheus processes scraping a Milvus stand-in. Assertions read the cluster and
// Prometheus, not the action's logs (except where a log is the behaviour under test).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeAll, describe, expect, it } from 'vitest'
import YAML from 'yaml'
import { pullSeconds } from '../local-cluster/timeline/images.ts'
import { MILVUS_STARTUP_S } from '../local-cluster/timeline/plan.ts'
import { firstEventSince, localCluster, mirrorInputs, type LocalCluster } from '../local-cluster/client.ts'
import { makeRunner, type Runner, type StepResult } from '../local-cluster/runner.ts'
import { readmeWorkflowSteps, withOutputs } from './support/readme.ts'

const E2E = process.env.MILVUS_ACTION_E2E !== '0'
const MIN = 60_000

let cluster: LocalCluster
let runner: Runner

/** The inputs that point the action at the local cluster's mirrors. */
function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...mirrorInputs(cluster.env),
    timeout: '6m',
    ...extra,
  }
}

function failed(r: StepResult): string {
  const errors = r.stdout.split('\n').filter((l) => l.startsWith('::error::')).join('\n')
  return `exit ${r.code}\n--- errors\n${errors}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}`
}

interface TargetsAnswer {
  data: { activeTargets: Array<{ scrapePool: string; health: string; labels: Record<string, string>; scrapeUrl: string }> }
}

async function activeTargets(prometheusUrl: string, pool: string) {
  const r = await cluster.get(`${prometheusUrl}/api/v1/targets?state=active&scrapePool=${encodeURIComponent(pool)}`)
  expect(r.status).toBe(200)
  return (JSON.parse(r.body) as TargetsAnswer).data.activeTargets
}

/** A Grafana API answer with kube-prometheus' login. */
async function grafana(base: string, path: string) {
  const r = await cluster.get(`${base}${path}`, { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` })
  expect(r.status, r.body).toBe(200)
  return JSON.parse(r.body)
}

async function ruleGroup(prometheusUrl: string, name: string) {
  const r = await cluster.get(`${prometheusUrl}/api/v1/rules`)
  const groups = (JSON.parse(r.body) as { data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string }> }> } }).data.groups
  const group = groups.find((g) => g.name === name)
  expect(group, `group ${name} in ${groups.map((g) => g.name).join(', ')}`).toBeDefined()
  return group!
}

async function managedRoles(namespace: string) {
  return (await cluster.kubectlJson(['get', 'role,rolebinding', '-n', namespace, '-l', 'app.kubernetes.io/managed-by=milvus-monitoring-action'])).items
}

describe.runIf(E2E)('the bundled action on the local cluster', () => {
  beforeAll(async () => {
    cluster = await localCluster()
    runner = makeRunner({ wrap: cluster.wrap, env: { KUBECONFIG: cluster.env.KUBECONFIG! } })
  }, 90 * MIN)

  let first: StepResult

  it('default inputs: Milvus standalone in namespace milvus, its target up in Prometheus', async () => {
    first = await runner.main(inputs())
    expect(first.code, failed(first)).toBe(0)
    const o = first.outputs
    for (const name of ['kubectl-path', 'kubectl-version', 'helm-path', 'helm-version', 'prometheus-url', 'grafana-url', 'alertmanager-url', 'milvus-endpoint', 'milvus-metrics-url', 'service-monitor', 'scrape-pool', 'target-health', 'target-scrape-url']) {
      expect(o[name], name).toBeTruthy()
    }
    expect(o['kubectl-version']).toBe('v1.35.2')
    expect(o['helm-version']).toBe('v4.1.4')
    expect(o['service-monitor']).toBe('milvus/my-release-milvus-standalone')
    expect(o['target-health']).toBe('up')

    // The cluster: the ServiceMonitor and the discovery RBAC exist.
    const sm = await cluster.kubectlJson<{ metadata: { name: string } }>(['get', 'servicemonitor', '-n', 'milvus', 'my-release-milvus-standalone'])
    expect(sm.metadata.name).toBe('my-release-milvus-standalone')
    const rbac = await managedRoles('milvus')
    expect(rbac.map((r) => r.metadata.name).sort()).toEqual(['prometheus-k8s-milvus-discovery', 'prometheus-k8s-milvus-discovery'])
    // The CI timing levers reach the cluster: readiness from 5 s every 5 s, a 10 s scrape interval.
    const deploy = await cluster.kubectlJson<{ spec: { template: { spec: { containers: Array<{ readinessProbe: { initialDelaySeconds: number; periodSeconds: number }; livenessProbe: { initialDelaySeconds: number } }> } } } }>(['get', 'deployment', '-n', 'milvus', 'my-release-milvus-standalone'])
    expect(deploy.spec.template.spec.containers[0]!.readinessProbe).toMatchObject({ initialDelaySeconds: 5, periodSeconds: 5 })
    expect(deploy.spec.template.spec.containers[0]!.livenessProbe).toMatchObject({ initialDelaySeconds: 30 })
    expect((sm as unknown as { spec: { endpoints: Array<{ interval: string }> } }).spec.endpoints[0]!.interval).toBe('10s')
    const etcd = await cluster.kubectlJson<{ spec: { template: { spec: { containers: Array<{ readinessProbe: unknown }> } } } }>(['get', 'statefulset', '-n', 'milvus', 'my-release-etcd'])
    expect(etcd.spec.template.spec.containers[0]!.readinessProbe).toMatchObject({ initialDelaySeconds: 5, periodSeconds: 5 })

    // All of kube-prometheus, Grafana's 33 dashboards (one 1 MB ConfigMapList) included: its
    // Deployment mounts each, so without them its pod never starts on a real cluster.
    const configMaps = (await cluster.kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'configmaps', '-n', 'monitoring'])).items.map((c) => c.metadata.name)
    expect(configMaps.filter((n) => n.startsWith('grafana-dashboard-'))).toHaveLength(33)

    // Prometheus itself, through the forwarded URL the action gave: the Milvus target is up.
    const targets = await activeTargets(o['prometheus-url']!, o['scrape-pool']!)
    expect(targets.length).toBeGreaterThan(0)
    expect(targets.every((t) => t.health === 'up')).toBe(true)
    expect(targets[0]!.scrapeUrl).toBe(o['target-scrape-url'])
    // The targets output: every one of them, as Prometheus reports it.
    const listed = JSON.parse(o['targets']!) as Array<{ scrapeUrl: string; health: string; labels: Record<string, string> }>
    expect(listed.map((t) => [t.scrapeUrl, t.health]).sort()).toEqual(targets.map((t) => [t.scrapeUrl, 'up']).sort())
    expect(listed[0]!.labels).toMatchObject({ namespace: 'milvus', app_kubernetes_io_instance: 'my-release' })

    // Every URL output answers from the runner.
    expect((await cluster.get(`${o['grafana-url']}/api/health`)).status).toBe(200)
    expect((await cluster.get(`${o['alertmanager-url']}/api/v2/status`)).status).toBe(200)
    const metrics = await cluster.get(o['milvus-metrics-url']!)
    expect(metrics.status).toBe(200)
    expect(metrics.body).toMatch(/^milvus_/m)
    expect(await cluster.connect(o['milvus-endpoint']!)).toBe(true)

    // Progress while helm waits: one line per pod state, and the operator's configuration checked.
    expect(first.stdout).toMatch(/Pod milvus\/my-release-milvus-standalone-\S+: Running, 1\/1 ready/)
    expect(first.stdout).toMatch(/Rendered release my-release: \d+ objects, no problem found/)

    expect(first.summary).toContain('my-release-milvus-standalone')
    expect(first.summary).toContain(o['target-scrape-url'])

    // The dashboard: fetched for the chart's Milvus (appVersion 2.6.15), in Grafana, read back by uid.
    expect(first.stdout).toContain('/raw/milvus-io/milvus/v2.6.15/deployments/monitor/grafana/milvus-dashboard.json')
    const link = new URL(o['dashboard-url']!)
    expect(link.pathname).toMatch(/^\/d\/uLf5cJ3Gaa\//)
    expect(link.searchParams.get('var-namespace')).toBe('milvus')
    expect(link.searchParams.get('var-instance')).toBe('my-release')
    const back = await grafana(o['grafana-url']!, '/api/dashboards/uid/uLf5cJ3Gaa')
    const dsVar = back.dashboard.templating.list.find((v: { name: string }) => v.name === 'datasource')
    expect(dsVar).toMatchObject({ type: 'datasource', query: 'prometheus' })
    const ds = await grafana(o['grafana-url']!, `/api/datasources/uid/${encodeURIComponent(dsVar.current.value)}`)
    expect(ds).toMatchObject({ type: 'prometheus', url: 'http://prometheus-k8s.monitoring.svc:9090' })
    expect((await grafana(o['grafana-url']!, '/api/search?dashboardUIDs=uLf5cJ3Gaa')).map((d: { uid: string }) => d.uid)).toEqual(['uLf5cJ3Gaa'])

    // The alert rules: the group reported healthy by the real Prometheus.
    expect(JSON.parse(o['alert-rule-groups']!)).toEqual([{ prometheusRule: 'milvus/my-release-milvus-alerts', group: 'milvus-milvus-my-release', rules: 6 }])
    // The action saw it healthy in one replica (the service proxy picks one); the forward may
    // reach the other, which evaluates it on its own schedule.
    let health: string[] = []
    for (let i = 0; i < 20 && health.join() !== Array(6).fill('ok').join(); i++) {
      if (i > 0) await new Promise((ok) => setTimeout(ok, 3000))
      health = (await ruleGroup(o['prometheus-url']!, 'milvus-milvus-my-release')).rules.map((r) => r.health)
    }
    expect(health).toEqual(Array(6).fill('ok'))
    expect(o['diagnostics-dir']).toBe('')

    // The post step stops the forwards (and, without cleanup, leaves the install).
    const post = await runner.post(first.state)
    expect(post.code, failed(post)).toBe(0)
    expect((await cluster.get(`${o['prometheus-url']}/-/ready`)).status).toBe(0)
    expect(await cluster.helm(['status', 'my-release', '-n', 'milvus'])).toMatch(/STATUS: deployed/)
  }, 15 * MIN)

  it('assertions that hold, one that needs within, one that fails: the run fails naming it, the summary says which, the diagnostics folder has no secret', async () => {
    const secret = 'hunter2-e2e-secret-value'
    const sel = 'namespace="${namespace}", app_kubernetes_io_instance="${release}"'
    const assertions = [
      { name: 'every component up', query: `min(up{${sel}})`, successCondition: 'result[0] == 1' },
      { name: 'the build version', query: `milvus_build_info{${sel}, version=~"v2.6.*"}`, successCondition: 'all(result, # == 1)' },
      { name: 'no failed requests', query: `sum(rate(milvus_proxy_req_count{${sel}, status="fail"}[5m])) or vector(0)`, successCondition: 'result[0] == 0' },
      { name: 'three scrapes', query: `count_over_time(up{${sel}}[10m])`, successCondition: 'result[0] >= 3', within: '3m' },
      { name: 'deliberately failing', query: `milvus_build_info{${sel}, version="v0.0.1"}`, successCondition: 'len(result) > 0' },
    ]
    const yaml = assertions.map((a) => `- ${Object.entries(a).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n  ')}`).join('\n')
    const r = await runner.main(inputs({ namespace: 'milvus-assert', 'release-name': 'checks', assertions: yaml, values: `minio:\n  secretKey: ${secret}\n` }))
    await runner.post(r.state)
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::1 PromQL assertion did not hold:%0A {2}- deliberately failing: expected len\(result\) > 0, 1 of 1 measurement failed, last value \[\]/)
    const verdicts = JSON.parse(r.outputs['assertion-results']!) as Array<{ name: string; held: boolean; measurements: number }>
    expect(verdicts.map((v) => [v.name, v.held])).toEqual(assertions.map((a) => [a.name, a.name !== 'deliberately failing']))
    expect(verdicts.find((v) => v.name === 'three scrapes')!.measurements).toBeGreaterThan(1)
    expect(r.summary).toMatch(/PromQL assertions: 4 of 5 held/)
    expect(r.summary).toMatch(/deliberately failing<\/td>.*❌ did not hold/)
    expect(r.summary).toMatch(/three scrapes<\/td>.*result\[0\] &gt;= 3 within 3m.*✅ held/)

    // The diagnostics folder: every file, and the secret value nowhere.
    const dir = r.outputs['diagnostics-dir']!
    expect(dir).toMatch(/milvus-diagnostics-/)
    const files = readdirSync(dir).sort()
    for (const f of ['pods-milvus-assert.txt', 'describe-pods-milvus-assert.txt', 'events-milvus-assert.txt', 'pods-monitoring.txt', 'helm-status.txt', 'helm-values.yaml', 'prometheus-targets.json', 'prometheus-rules.json', 'operator-prometheus-config.yaml', 'servicemonitors.yaml', 'prometheusrules.yaml']) {
      expect(files).toContain(f)
    }
    for (const f of files) expect(readFileSync(join(dir, f), 'utf8'), f).not.toContain(secret)
    expect(readFileSync(join(dir, 'helm-values.yaml'), 'utf8')).toMatch(/secretKey: "?\*\*\*"?/)
    expect(readFileSync(join(dir, 'prometheus-rules.json'), 'utf8')).toContain('milvus-milvus-assert-checks')
    expect(readFileSync(join(dir, 'operator-prometheus-config.yaml'), 'utf8')).toContain('serviceMonitor/milvus-assert/checks-milvus-standalone/0')
  }, 10 * MIN)

  it('a malformed rule in the user\'s PrometheusRule file: rejected within 60 s, naming the rule', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'broken.yaml')
    writeFileSync(file, 'apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: broken-rules}\nspec:\n  groups:\n  - name: broken\n    rules:\n    - alert: BrokenAlert\n      expr: sum(rate(up[5m])\n')
    let applied = 0
    const r = await runner.main(inputs({ 'alert-rules': file }), { onStdout: (c) => void (c.includes('Applied PrometheusRule milvus/broken-rules') && (applied ||= Date.now())) })
    const ended = Date.now()
    await runner.post(r.state)
    await cluster.kubectl(['delete', 'prometheusrule', '-n', 'milvus', 'broken-rules', '--ignore-not-found'])
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::prometheus-operator rejected PrometheusRule milvus\/broken-rules/)
    expect(r.stdout).toMatch(/BrokenAlert \(group broken\): .*parse error/)
    expect(applied).toBeGreaterThan(0)
    expect(ended - applied).toBeLessThan(MIN)
  }, 10 * MIN)

  it('an alert of the action\'s rules fires in Prometheus when Milvus stops answering', async () => {
    const r = await runner.main(inputs({ namespace: 'milvus-alert', 'release-name': 'alerting', 'alert-rules-for': '0s', 'grafana-dashboard': 'false' }))
    expect(r.code, failed(r)).toBe(0)
    expect(r.outputs['dashboard-url']).toBe('')
    const pod = (await cluster.kubectl(['get', 'pods', '-n', 'milvus-alert', '-l', 'component=standalone', '-o', 'name'])).trim()
    await cluster.kubectl(['annotate', '-n', 'milvus-alert', pod, 'local-cluster.milvus-monitoring-action/metrics-down=true', '--overwrite'])
    const started = Date.now()
    let firing: Array<{ labels: Record<string, string>; state: string }> = []
    try {
      while (Date.now() - started < 3 * MIN) {
        const a = await cluster.get(`${r.outputs['prometheus-url']}/api/v1/alerts`)
        firing = (JSON.parse(a.body || '{"data":{"alerts":[]}}') as { data: { alerts: typeof firing } }).data.alerts.filter(
          (x) => x.labels.alertname === 'MilvusTargetDown' && x.labels.namespace === 'milvus-alert' && x.state === 'firing',
        )
        if (firing.length) break
        await new Promise((ok) => setTimeout(ok, 5000))
      }
    } finally {
      await cluster.kubectl(['annotate', '-n', 'milvus-alert', pod, 'local-cluster.milvus-monitoring-action/metrics-down-'])
      await runner.post(r.state)
    }
    console.log(`MilvusTargetDown firing ${Math.round((Date.now() - started) / 1000)} s after the stand-in stopped answering`)
    expect(firing.length).toBeGreaterThan(0)
    expect(firing[0]!.labels).toMatchObject({ severity: 'critical', app_kubernetes_io_instance: 'alerting' })
  }, 10 * MIN)

  it('a second run on the same cluster succeeds and leaves the stack as it was', async () => {
    const before = await snapshot()
    const again = await runner.main(inputs())
    expect(again.code, failed(again)).toBe(0)
    await runner.post(again.state)
    expect(await snapshot()).toEqual(before)
    expect(again.outputs['target-health']).toBe('up')
  }, 10 * MIN)

  it("the README's complete workflow: its inputs, then its shell steps against the run's outputs", async () => {
    const steps = readmeWorkflowSteps()
    const action = steps.find((st) => st.uses?.startsWith('org/milvus-monitoring-action'))!
    const withInputs = Object.fromEntries(Object.entries(action.with ?? {}).map(([k, v]) => [k, String(v)]))
    const r = await runner.main(inputs(withInputs))
    expect(r.code, failed(r)).toBe(0)
    try {
      for (const st of steps.filter((x) => x.run)) {
        const script = withOutputs(st.run!, action.id!, r.outputs)
        // The runner's shell for run steps: bash -e, here inside the cluster's network namespace.
        const out = await cluster.run('bash', ['-e', '-c', script]).catch((e: Error) => {
          throw new Error(`README step "${st.name}" failed: ${e.message}`)
        })
        expect(out, st.name).toBeDefined()
      }
    } finally {
      await runner.post(r.state)
    }
  }, 10 * MIN)

  /** The newest port-forward status file a run of `r` wrote (under its runner's RUNNER_TEMP). */
  function forwardStatus(): { dir: string; status: { forwards: Array<{ name: string; pid?: number; restarts: number; state: string; lastRestart?: { reason: string } }> } } {
    const base = dirname(runner.toolCache)
    const dirs = readdirSync(base)
      .filter((d) => d.endsWith('-main'))
      .flatMap((d) => readdirSync(join(base, d, 'temp')).filter((t) => t.startsWith('milvus-monitoring-forwards-')).map((t) => join(base, d, 'temp', t)))
      .filter((d) => existsSync(join(d, 'port-forward-status.json')))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    return { dir: dirs[0]!, status: JSON.parse(readFileSync(join(dirs[0]!, 'port-forward-status.json'), 'utf8')) }
  }

  /** ms until `probe` answers true, polling every 100 ms, at most `limitMs`. */
  async function untilAnswers(probe: () => Promise<boolean>, limitMs: number): Promise<number> {
    const started = Date.now()
    while (Date.now() - started < limitMs) {
      if (await probe().catch(() => false)) return Date.now() - started
      await sleep(100)
    }
    return Infinity
  }

  it('forwards that heal: a frozen kubectl and a deleted Milvus pod, each forward answering again within its bound', async () => {
    const r = await runner.main(inputs())
    expect(r.code, failed(r)).toBe(0)
    try {
      const prometheus = r.outputs['prometheus-url']!
      const before = forwardStatus().status.forwards.find((f) => f.name === 'prometheus')!
      process.kill(before.pid!, 'SIGSTOP')
      const frozenMs = await untilAnswers(async () => (await cluster.get(`${prometheus}/-/ready`)).status === 200, 30_000)
      console.log(`prometheus forward: frozen kubectl to answering again in ${frozenMs} ms`)
      // The documented bound: a probe period, two failed probes, the first backoff, kubectl's start.
      expect(frozenMs).toBeLessThan(15_000)
      const after = forwardStatus().status.forwards.find((f) => f.name === 'prometheus')!
      expect(after.restarts).toBeGreaterThan(before.restarts)
      expect(after.lastRestart?.reason).toMatch(/probe failed 2 times: kubectl \(pid \d+\) is stopped/)
      // The supervisor killed the frozen kubectl when it restarted the forward.
      expect(() => process.kill(before.pid!, 0)).toThrow(/ESRCH/)

      const metrics = r.outputs['milvus-metrics-url']!
      const podNames = async () => (await cluster.kubectl(['get', 'pods', '-n', 'milvus', '-l', 'component=standalone', '-o', 'name'])).trim().split('\n')
      const [old] = await podNames()
      await cluster.kubectl(['delete', 'pod', '-n', 'milvus', '-l', 'component=standalone', '--wait=false'])
      // Answering again means: the old pod gone, and the forward serving its replacement.
      const podMs = await untilAnswers(async () => !(await podNames()).includes(old!) && (await cluster.get(metrics)).status === 200, 90_000)
      console.log(`milvus-metrics forward: deleted pod to answering again in ${podMs} ms`)
      expect(podMs).toBeLessThan(60_000)
    } finally {
      await runner.post(r.state)
    }
  }, 10 * MIN)

  it('Grafana scaled to zero: the run succeeds, its output set, a notice names Grafana', async () => {
    await cluster.kubectl(['scale', 'deployment', 'grafana', '-n', 'monitoring', '--replicas=0'])
    try {
      const r = await runner.main(inputs({ 'install-kube-prometheus': 'false' }))
      expect(r.code, failed(r)).toBe(0)
      expect(r.outputs['grafana-url']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(r.stdout).toMatch(/::notice::Grafana is not answering yet at http:\/\/127\.0\.0\.1:\d+ \(svc\/grafana in monitoring has no ready pod\?\)/)
      expect(r.outputs['target-health']).toBe('up')
      await runner.post(r.state)
    } finally {
      await cluster.kubectl(['scale', 'deployment', 'grafana', '-n', 'monitoring', '--replicas=1'])
    }
  }, 10 * MIN)

  it('behind a proxy: every request the proxy variables do not exempt goes through it; with it stopped, the preflight names it', async () => {
    const logFile = join(mkdtempSync(join(tmpdir(), 'proxy-')), 'proxy.log')
    writeFileSync(logFile, '')
    const [cmd, ...args] = [...cluster.wrap, process.execPath, join(import.meta.dirname, 'support', 'http-proxy-entry.ts'), '10.250.9.9', logFile]
    const proxy = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    const proxyUrl = await new Promise<string>((resolve) => proxy.stdout.once('data', (c: Buffer) => resolve(c.toString().trim())))
    // The mirror on a namespace address rather than loopback, which no proxy variable covers.
    const viaNamespace = (u: string) => u.replace('127.0.0.1', '10.250.0.1')
    const proxied = inputs({ expose: 'none', namespace: 'milvus-proxy', 'release-name': 'viaproxy' })
    for (const k of ['kubectl-base-url', 'helm-base-url', 'kube-prometheus-url', 'milvus-chart-repo']) proxied[k] = viaNamespace(proxied[k]!)
    proxied['allow-insecure-downloads'] = 'true' // the mirror is plain http, now off loopback
    const env = { HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl, NO_PROXY: '' }
    // A fresh runner: nothing in its tool cache, so the downloads happen too.
    const fresh = makeRunner({ wrap: cluster.wrap, env: { KUBECONFIG: cluster.env.KUBECONFIG! } })
    try {
      const r = await fresh.main(proxied, { env })
      expect(r.code, failed(r)).toBe(0)
      await fresh.post(r.state)
      const log = readFileSync(logFile, 'utf8')
      const server = /server: https:\/\/(\S+)/.exec(readFileSync(cluster.env.KUBECONFIG!, 'utf8'))![1]
      // The action's API client, kubectl and helm: to the API server.
      expect(log).toContain(`CONNECT ${server}`)
      // The version and checksum files, the binaries, the archive, the chart repository.
      expect(log).toMatch(/(GET http:\/\/10\.250\.0\.1:8099\/kubectl\/\S+\.sha256|CONNECT 10\.250\.0\.1:8099)/)
      expect(log).toMatch(/GET http:\/\/10\.250\.0\.1:8099\/helm-repo\/index\.yaml/)
      expect(r.stdout).toMatch(/reached via proxy http:\/\/10\.250\.9\.9:\d+/)
    } finally {
      proxy.kill('SIGTERM')
      await new Promise((res) => proxy.once('close', res))
    }
    const down = await fresh.main(proxied, { env })
    expect(down.code).not.toBe(0)
    expect(down.stdout).toMatch(/::error::.*did not answer within 20 s, asked via proxy http:\/\/10\.250\.9\.9:\d+/)
  }, 10 * MIN)

  it('a re-run after kubectl scale: Helm 4 and Helm 3 both restore the chart\'s replicas', async () => {
    const deploy = ['deployment', 'my-release-milvus-standalone', '-n', 'milvus']
    const replicas = async () => (await cluster.kubectlJson<{ spec: { replicas: number } }>(['get', ...deploy])).spec.replicas
    for (const helmVersion of ['v4.1.4', '3']) {
      await cluster.kubectl(['scale', ...deploy, '--replicas=3'])
      expect(await replicas()).toBe(3)
      const r = await runner.main(inputs({ 'helm-version': helmVersion, expose: 'none' }))
      expect(r.code, `${helmVersion}: ${failed(r)}`).toBe(0)
      expect(await replicas(), helmVersion).toBe(1)
      expect(await cluster.helm(['status', 'my-release', '-n', 'milvus'])).toMatch(/STATUS: deployed/)
      await runner.post(r.state)
    }
  }, 15 * MIN)

  it('another prometheus-operator in another namespace: the default install stops before any change, naming it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'other-op-')), 'op.yaml')
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: other-ops}\n---\n' +
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: team-operator, namespace: other-ops}\n' +
        'spec: {replicas: 1, selector: {matchLabels: {app: team-operator}}, template: {metadata: {labels: {app: team-operator}}, ' +
        'spec: {containers: [{name: operator, image: "quay.io/prometheus-operator/prometheus-operator:v0.85.0"}]}}}\n',
    )
    await cluster.kubectl(['apply', '-f', file])
    const before = await snapshot()
    const r = await runner.main(inputs({ namespace: 'milvus-refused', 'release-name': 'refused' }))
    await runner.post(r.state)
    await cluster.kubectl(['delete', 'namespace', 'other-ops', '--wait=false'])
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The cluster already runs a Prometheus stack this action did not install/)
    expect(r.stdout).toContain('Deployment other-ops/team-operator (image quay.io/prometheus-operator/prometheus-operator:v0.85.0)')
    expect(r.stdout).toMatch(/nothing was changed\. Use that stack instead with install-kube-prometheus: false/)
    // Nothing applied: no namespace, no release, the stack's objects as they were.
    await expect(cluster.kubectl(['get', 'namespace', 'milvus-refused'])).rejects.toThrow(/NotFound/)
    expect(await cluster.helm(['list', '-A', '-f', '^refused$', '-q'])).toBe('')
    expect(await snapshot()).toEqual(before)
  }, 5 * MIN)

  it('a kube-prometheus-stack-shaped Prometheus in kps: its label added, RBAC for its ServiceAccount, target up through it, outputs pointing at it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kps-')), 'kps.yaml')
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: kps}\n---\n' +
        // The Milvus namespace exists before: cleanup uninstalls the release and leaves the namespace.
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: milvus-kps}\n---\n' +
        'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: kps-prometheus, namespace: kps}\n---\n' +
        'apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: kps, namespace: kps}\n' +
        'spec: {replicas: 1, serviceAccountName: kps-prometheus, serviceMonitorSelector: {matchLabels: {release: kps}}, serviceMonitorNamespaceSelector: {}, ' +
        'resources: {requests: {cpu: 50m, memory: 100Mi}}}\n---\n' +
        'apiVersion: v1\nkind: Service\nmetadata: {name: kps-prometheus, namespace: kps, labels: {release: kps}}\n' +
        'spec: {selector: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: kps}, ports: [{name: http-web, port: 9090, targetPort: 9090}]}\n',
    )
    await cluster.kubectl(['apply', '-f', file])
    try {
      const r = await runner.main(inputs({ 'install-kube-prometheus': 'false', prometheus: 'kps/kps', namespace: 'milvus-kps', 'release-name': 'kpsrel', cleanup: 'true' }))
      expect(r.code, failed(r)).toBe(0)
      expect(r.stdout).toMatch(/Prometheus kps\/kps selects ServiceMonitors labelled release=kps: adding these labels to the Milvus ServiceMonitor \(metrics\.serviceMonitor\.additionalLabels\)/)
      const sm = await cluster.kubectlJson<{ metadata: { labels: Record<string, string> } }>(['get', 'servicemonitor', '-n', 'milvus-kps', 'kpsrel-milvus-standalone'])
      expect(sm.metadata.labels.release).toBe('kps')
      const binding = await cluster.kubectlJson<{ subjects: Array<{ namespace: string; name: string }> }>(['get', 'rolebinding', '-n', 'milvus-kps', 'kps-prometheus-milvus-discovery'])
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', namespace: 'kps', name: 'kps-prometheus' }])
      expect(r.outputs['prometheus-url-in-cluster']).toBe('http://kps-prometheus.kps.svc:9090')
      expect(r.outputs['grafana-url']).toBe('')
      expect(r.outputs['alertmanager-url']).toBe('')
      expect(r.stdout).toMatch(/::notice::The stack of Prometheus kps\/kps has no Grafana/)
      // kps' own Prometheus, asked through the API server (the local cluster's port-forward
      // serves whichever Prometheus runs): the Milvus target is up there.
      expect(r.outputs['scrape-pool']).toBe('serviceMonitor/milvus-kps/kpsrel-milvus-standalone/0')
      const answer = await cluster.kubectl(['get', '--raw', `/api/v1/namespaces/kps/services/kps-prometheus:http-web/proxy/api/v1/targets?state=active&scrapePool=${encodeURIComponent(r.outputs['scrape-pool']!)}`])
      const targets = (JSON.parse(answer) as TargetsAnswer).data.activeTargets
      expect(targets.length).toBeGreaterThan(0)
      expect(targets.every((t) => t.health === 'up')).toBe(true)
      // kube-prometheus' Prometheus was not involved, and the stack was not touched.
      expect(r.stdout).not.toContain('Apply kube-prometheus')
      const post = await runner.post(r.state)
      expect(post.stdout).not.toContain('::warning::')
      expect(await cluster.helm(['list', '-A', '-f', '^kpsrel$', '-q'])).toBe('')
      await expect(cluster.kubectl(['get', 'rolebinding', '-n', 'milvus-kps', 'kps-prometheus-milvus-discovery'])).rejects.toThrow(/NotFound/)
      // What existed before: the namespace, kps' Prometheus, its Service and ServiceAccount.
      expect(await cluster.kubectl(['get', 'namespace', 'milvus-kps', '-o', 'name'])).toContain('milvus-kps')
      expect(await cluster.kubectl(['get', 'prometheus,service,serviceaccount', '-n', 'kps', '-o', 'name'])).toMatch(/prometheus\.monitoring\.coreos\.com\/kps[\s\S]*service\/kps-prometheus[\s\S]*serviceaccount\/kps-prometheus/)
    } finally {
      // Only the Prometheus goes (later runs would find two); a namespace deletion on the local
      // cluster waits for the metrics APIService kube-prometheus' stand-in adapter never serves.
      await cluster.kubectl(['delete', 'prometheus', 'kps', '-n', 'kps', '--ignore-not-found'])
    }
  }, 10 * MIN)

  it('a release left pending-install by an interrupted run: the next run uninstalls it, then installs', async () => {
    let killed = false
    await cluster.kubectl(['create', 'namespace', 'milvus-pending']).catch(() => '')
    const values = 'annotations:\n  local-cluster.milvus-monitoring-action/never-ready: "true"\n'
    const first = await runner.main(inputs({ namespace: 'milvus-pending', 'release-name': 'pend', values, expose: 'none', timeout: '3m' }), {
      onStdout: (chunk) => {
        if (killed || !chunk.includes('helm upgrade --install pend')) return
        killed = true
        // The runner cancelling the job: helm dies without recording anything.
        setTimeout(() => killHelm('pend'), 5000)
      },
    })
    expect(killed).toBe(true)
    expect(first.code).not.toBe(0)
    expect(await cluster.helm(['status', 'pend', '-n', 'milvus-pending'])).toMatch(/STATUS: pending-install/)
    const r = await runner.main(inputs({ namespace: 'milvus-pending', 'release-name': 'pend', expose: 'none', cleanup: 'true' }))
    expect(r.code, failed(r)).toBe(0)
    expect(r.stdout).toMatch(/Helm release milvus-pending\/pend is pending-install \(revision 1, a first install an earlier run of this action did not finish\): uninstalling it before installing again/)
    expect(await cluster.helm(['status', 'pend', '-n', 'milvus-pending'])).toMatch(/STATUS: deployed/)
    const post = await runner.post(r.state)
    expect(post.stdout).not.toContain('::warning::')
    expect(await cluster.helm(['list', '-A', '-f', '^pend$', '-q'])).toBe('')
  }, 10 * MIN)

  it('the post step after a context switch: it cleans the cluster the main step deployed to', async () => {
    const admin = YAML.parse(readFileSync(cluster.env.KUBECONFIG!, 'utf8')) as { clusters: Array<{ name: string }>; contexts: Array<{ name: string; context: { user: string } }>; 'current-context': string }
    const user = admin.contexts.find((c) => c.name === admin['current-context'])!.context.user
    admin.clusters.push({ name: 'dead', cluster: { server: 'https://127.0.0.1:1' } } as never)
    admin.contexts.push({ name: 'elsewhere', context: { cluster: 'dead', user } } as never)
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'ctx-')), 'kubeconfig')
    writeFileSync(kubeconfig, YAML.stringify(admin))
    const env = { KUBECONFIG: kubeconfig }
    await cluster.kubectl(['create', 'namespace', 'milvus-ctx']).catch(() => '')
    const r = await runner.main(inputs({ namespace: 'milvus-ctx', 'release-name': 'ctx', cleanup: 'true' }), { env })
    expect(r.code, failed(r)).toBe(0)
    // A later step points kubectl at another cluster.
    await cluster.kubectl(['config', 'use-context', 'elsewhere', '--kubeconfig', kubeconfig])
    const post = await runner.post(r.state, { env })
    expect(post.code, failed(post)).toBe(0)
    expect(post.stdout).not.toContain('::warning::')
    expect(post.stdout).toMatch(/Cleanup: delete what this run created on context \S+ \(https:\/\/10\.250/)
    expect(await cluster.helm(['list', '-A', '-f', '^ctx$', '-q'])).toBe('')
    await expect(cluster.kubectl(['get', 'rolebinding', '-n', 'milvus-ctx', 'prometheus-k8s-milvus-discovery'])).rejects.toThrow(/NotFound/)
    // The namespace existed before the run: left in place.
    expect(await cluster.kubectl(['get', 'namespace', 'milvus-ctx', '-o', 'name'])).toContain('milvus-ctx')
    // The forwards were stopped too.
    expect((await cluster.get(`${r.outputs['prometheus-url']}/-/ready`)).status).toBe(0)
  }, 10 * MIN)

  it('an identity without the permissions: fails before changing anything, naming what it may not do', async () => {
    await cluster.kubectl(['create', 'serviceaccount', 'no-rights', '-n', 'default']).catch(() => '')
    const token = (await cluster.kubectl(['create', 'token', 'no-rights', '-n', 'default'])).trim()
    const admin = readFileSync(cluster.env.KUBECONFIG!, 'utf8')
    const server = /server: (\S+)/.exec(admin)![1]
    const ca = /certificate-authority: (\S+)/.exec(admin)![1]
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'no-rights-')), 'kubeconfig')
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: ${server}, certificate-authority: ${ca}}}]\n` +
        `users: [{name: u, user: {token: ${token}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
    )
    const r = await runner.main(inputs({ namespace: 'milvus-denied' }), { env: { KUBECONFIG: kubeconfig } })
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The kubeconfig's identity may not do what the action needs/)
    expect(r.stdout).toContain('create customresourcedefinitions.apiextensions.k8s.io (cluster-wide)')
    expect(r.stdout).toContain('create namespaces (cluster-wide)')
    await expect(cluster.kubectl(['get', 'namespace', 'milvus-denied'])).rejects.toThrow(/NotFound/)
    expect(r.outputs).toEqual({})
  }, 5 * MIN)

  it('Milvus in default: no RBAC added, target up', async () => {
    const r = await runner.main(inputs({ namespace: 'default', 'release-name': 'rel-default', values: 'readinessProbe: {initialDelaySeconds: 20}' }))
    expect(r.code, failed(r)).toBe(0)
    expect(await managedRoles('default')).toEqual([])
    // A timing lever set in values wins; the rest of the lever stays.
    const deploy = await cluster.kubectlJson<{ spec: { template: { spec: { containers: Array<{ readinessProbe: unknown }> } } } }>(['get', 'deployment', '-n', 'default', 'rel-default-milvus-standalone'])
    expect(deploy.spec.template.spec.containers[0]!.readinessProbe).toMatchObject({ initialDelaySeconds: 20, periodSeconds: 5 })
    const targets = await activeTargets(r.outputs['prometheus-url']!, r.outputs['scrape-pool']!)
    expect(targets.every((t) => t.health === 'up')).toBe(true)
    await runner.post(r.state)
  }, 10 * MIN)

  it('milvus-mode cluster: every component target up', async () => {
    const r = await runner.main(inputs({ 'milvus-mode': 'cluster', namespace: 'milvus-cluster', 'release-name': 'big' }))
    expect(r.code, failed(r)).toBe(0)
    const targets = await activeTargets(r.outputs['prometheus-url']!, r.outputs['scrape-pool']!)
    const components = new Set(targets.map((t) => t.labels.component))
    // Cluster mode runs the coordinators, nodes and proxy as separate components.
    expect(components.size).toBeGreaterThanOrEqual(4)
    expect(components).toContain('proxy')
    expect(targets.every((t) => t.health === 'up')).toBe(true)
    await runner.post(r.state)
  }, 10 * MIN)

  it('prometheus-rbac false in a namespace Prometheus may not read: fails with the RBAC diagnosis', async () => {
    const r = await runner.main(inputs({ namespace: 'milvus-norbac', 'release-name': 'norbac', 'prometheus-rbac': 'false', timeout: '2m' }))
    await runner.post(r.state)
    expect(r.code).not.toBe(0)
    expect(await managedRoles('milvus-norbac')).toEqual([])
    // The failure says what was seen and why, not merely that time ran out.
    expect(r.stdout).toMatch(/::error::.*Timed out waiting for the Milvus target/s)
    expect(r.stdout).toMatch(/no targets discovered/i)
    expect(r.stdout).toMatch(/RBAC|Role/)
    expect(r.ms).toBeLessThan(2 * MIN + 30_000)
  }, 5 * MIN)

  it('a Milvus pod that never becomes ready: fails within the timeout, printing the pod, its events and the Helm status', async () => {
    // A release left by an earlier run of the suite would fail at once on its exceeded deadline.
    await cluster.helm(['uninstall', 'stuck', '-n', 'milvus-stuck', '--ignore-not-found', '--wait'])
    const values = 'annotations:\n  local-cluster.milvus-monitoring-action/never-ready: "true"\n'
    const r = await runner.main(inputs({ namespace: 'milvus-stuck', 'release-name': 'stuck', values, timeout: '90s' }))
    await runner.post(r.state)
    expect(r.code).not.toBe(0)
    expect(r.ms).toBeLessThan(90_000 + 30_000)
    expect(r.stdout).toMatch(/::error::.*Milvus release stuck/s)
    expect(r.stdout).toMatch(/Pod milvus-stuck\/stuck-milvus-standalone-\S+ is not ready/)
    expect(r.stdout).toMatch(/Events:/)
    expect(r.stdout).toMatch(/helm status stuck[\s\S]*STATUS:/)
  }, 5 * MIN)

  it('the API server stopped for a few seconds during the kube-prometheus apply: retried, succeeds', async () => {
    let triggered = false
    const r = await runner.main(inputs(), {
      onStdout: (chunk) => {
        if (!triggered && chunk.includes('Apply kube-prometheus')) {
          triggered = true
          cluster.outage()
        }
      },
    })
    expect(triggered).toBe(true)
    expect(r.code, failed(r)).toBe(0)
    // The apply in flight failed and was retried, and the API server really went away.
    expect(r.stdout).toMatch(/Applying manifests\/setup: the API server did not answer .*; retry 1 in/)
    expect(readFileSync(join(cluster.logDir, 'serve.log'), 'utf8')).toMatch(/outage over/)
    expect(r.outputs['target-health']).toBe('up')
    await runner.post(r.state)
  }, 10 * MIN)

  it('expose none, install-kube-prometheus false, Helm 3 and version lines: in-cluster URLs, no forwards left', async () => {
    const r = await runner.main(
      inputs({ expose: 'none', 'install-kube-prometheus': 'false', 'helm-version': '3', 'kubectl-version': '1.35' }),
    )
    expect(r.code, failed(r)).toBe(0)
    expect(r.outputs['helm-version']).toBe('v3.17.2')
    expect(r.outputs['kubectl-version']).toBe('v1.35.2')
    expect(r.outputs['prometheus-url']).toBe('http://prometheus-k8s.monitoring.svc:9090')
    expect(r.outputs['milvus-endpoint']).toBe('my-release-milvus.milvus.svc:19530')
    expect(r.outputs['target-health']).toBe('up')
    expect(r.stdout).not.toContain('Apply kube-prometheus')
    // The forward used for the wait is gone before the post step runs.
    expect(JSON.parse(r.state.run!).supervisorPid).toBeUndefined()
    expect(await cluster.kubectl(['version', '--client'])).toBeTruthy()
    await runner.post(r.state)
  }, 10 * MIN)

  // Fail fast: a run the cluster already said can never succeed ends within a minute of the
  // cause, naming it, instead of waiting out its budget.

  /** ms from the first Event with `reason` in `namespace` since `since` (ms epoch) to now. */
  async function sinceFirstEvent(namespace: string, reason: string, since: number): Promise<number> {
    const first = await firstEventSince(cluster, namespace, reason, since)
    expect(first, `a ${reason} event in ${namespace}`).toBeDefined()
    return Date.now() - first!
  }

  it('a ServiceMonitor interval shorter than its scrapeTimeout: fails before any change, naming both', async () => {
    const r = await runner.main(inputs({ namespace: 'milvus-interval', 'release-name': 'fast', values: 'metrics: {serviceMonitor: {interval: 5s}}', timeout: '10m' }))
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The Milvus release fast would never become ready or be scraped; nothing was changed/)
    expect(r.stdout).toMatch(/scrapeTimeout 10s longer than its interval 5s/)
    expect(r.ms).toBeLessThan(MIN)
    await expect(cluster.kubectl(['get', 'namespace', 'milvus-interval'])).rejects.toThrow(/NotFound/)
  }, 5 * MIN)

  it('a release name whose StatefulSet names are too long: fails before any change, naming the StatefulSet', async () => {
    const release = 'pr-1234-feature-add-hybrid-search-to-the-ingest-api'
    const r = await runner.main(inputs({ namespace: 'milvus-longname', 'release-name': release, timeout: '10m' }))
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(new RegExp(`StatefulSet ${release}-etcd: the name has 56 characters`))
    expect(r.stdout).toMatch(/Shorten release-name by 4 or more characters/)
    expect(r.ms).toBeLessThan(MIN)
    await expect(cluster.kubectl(['get', 'namespace', 'milvus-longname'])).rejects.toThrow(/NotFound/)
  }, 5 * MIN)

  it('a namespace whose Pod Security admission refuses the pods: fails within a minute of the refusal, the release not left pending', async () => {
    await cluster.kubectl(['create', 'namespace', 'milvus-psa']).catch(() => '')
    await cluster.kubectl(['label', 'namespace', 'milvus-psa', 'pod-security.kubernetes.io/enforce=restricted', '--overwrite'])
    const since = Date.now()
    const r = await runner.main(inputs({ namespace: 'milvus-psa', 'release-name': 'psa', timeout: '10m' }))
    const lag = await sinceFirstEvent('milvus-psa', 'FailedCreate', since)
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The cluster refused the Milvus release psa: \S+ milvus-psa\/\S+: FailedCreate: .*violates PodSecurity/)
    expect(r.stdout).toMatch(/pod-security\.kubernetes\.io\/enforce=privileged/)
    expect(lag).toBeLessThan(MIN)
    // helm was stopped with SIGTERM and waited for: the release is failed, never pending-install.
    expect(await cluster.helm(['status', 'psa', '-n', 'milvus-psa'])).toMatch(/STATUS: failed/)
    await runner.post(r.state)
    await cluster.helm(['uninstall', 'psa', '-n', 'milvus-psa', '--wait'])
    await cluster.kubectl(['delete', 'namespace', 'milvus-psa', '--wait=false'])
  }, 10 * MIN)

  it('requests no node of the runner-sized cluster can hold: fails within a minute, naming the pod, its requests and the nodes', async () => {
    const values = 'standalone:\n  resources:\n    requests:\n      cpu: "64"\n'
    const since = Date.now()
    const r = await runner.main(inputs({ namespace: 'milvus-sched', 'release-name': 'sched', values, timeout: '10m' }))
    const lag = await sinceFirstEvent('milvus-sched', 'FailedScheduling', since)
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/FailedScheduling: 0\/1 nodes are available: 1 Insufficient cpu/)
    expect(r.stdout).toMatch(/The pod requests: standalone: cpu 64/)
    expect(r.stdout).toMatch(/The nodes can allocate: kwok-node-0: cpu 4, memory 16Gi/)
    expect(lag).toBeLessThan(MIN)
    await runner.post(r.state)
    await cluster.helm(['uninstall', 'sched', '-n', 'milvus-sched', '--wait'])
    await cluster.kubectl(['delete', 'namespace', 'milvus-sched', '--wait=false'])
  }, 10 * MIN)

  it('a ResourceQuota the pods exceed: fails within a minute of the refusal, naming the quota', async () => {
    await cluster.kubectl(['create', 'namespace', 'milvus-quota']).catch(() => '')
    await cluster.kubectl(['create', 'quota', 'tiny', '-n', 'milvus-quota', '--hard=pods=1'])
    const since = Date.now()
    const r = await runner.main(inputs({ namespace: 'milvus-quota', 'release-name': 'quota', timeout: '10m' }))
    const lag = await sinceFirstEvent('milvus-quota', 'FailedCreate', since)
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The cluster refused the Milvus release quota: .*FailedCreate: .*exceeded quota: tiny/)
    expect(r.stdout).toMatch(/A ResourceQuota in the namespace forbids the pods/)
    expect(lag).toBeLessThan(MIN)
    await runner.post(r.state)
    await cluster.helm(['uninstall', 'quota', '-n', 'milvus-quota', '--wait'])
    await cluster.kubectl(['delete', 'namespace', 'milvus-quota', '--wait=false'])
  }, 10 * MIN)

  it('a PersistentVolumeClaim no StorageClass will bind: fails within a minute, naming the claim', async () => {
    const values = 'etcd:\n  persistence:\n    storageClass: no-such-class\n'
    const since = Date.now()
    const r = await runner.main(inputs({ namespace: 'milvus-pvc', 'release-name': 'pvc', values, timeout: '10m' }))
    const lag = await sinceFirstEvent('milvus-pvc', 'ProvisioningFailed', since)
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The cluster refused the Milvus release pvc: PersistentVolumeClaim milvus-pvc\/\S+: ProvisioningFailed: .*no-such-class/)
    expect(r.stdout).toMatch(/Nothing will bind this PersistentVolumeClaim/)
    expect(lag).toBeLessThan(MIN)
    await runner.post(r.state)
    await cluster.helm(['uninstall', 'pvc', '-n', 'milvus-pvc', '--wait'])
    await cluster.kubectl(['delete', 'namespace', 'milvus-pvc', '--wait=false'])
  }, 10 * MIN)

  it('an image tag the registry does not have: fails within a minute of the first failed pull, naming the image', async () => {
    const values = 'image:\n  all:\n    tag: does-not-exist\n'
    const since = Date.now()
    const r = await runner.main(inputs({ namespace: 'milvus-image', 'release-name': 'image', values, timeout: '10m' }))
    const lag = await sinceFirstEvent('milvus-image', 'Failed', since)
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The cluster refused the Milvus release image: Pod milvus-image\/image-milvus-standalone-\S+: (ErrImagePull|ImagePullBackOff): container standalone: .*milvusdb\/milvus:does-not-exist.*not found/)
    expect(r.stdout).toMatch(/The registry says this image does not exist or may not be pulled/)
    expect(lag).toBeLessThan(MIN)
    await runner.post(r.state)
    await cluster.helm(['uninstall', 'image', '-n', 'milvus-image', '--wait'])
    await cluster.kubectl(['delete', 'namespace', 'milvus-image', '--wait=false'])
  }, 10 * MIN)

  it('a container crash-looping while etcd and MinIO are Ready: fails within a minute of the first crash, naming the restarts', async () => {
    const values = 'annotations:\n  local-cluster.milvus-monitoring-action/crash-loop: "true"\n'
    const since = Date.now()
    const r = await runner.main(inputs({ namespace: 'milvus-crash', 'release-name': 'crash', values, timeout: '10m' }))
    const lag = await sinceFirstEvent('milvus-crash', 'BackOff', since)
    expect(r.code).not.toBe(0)
    expect(r.stdout).toMatch(/::error::The cluster refused the Milvus release crash: Pod milvus-crash\/crash-milvus-standalone-\S+: CrashLoopBackOff: container standalone: back-off \d+s restarting failed container=standalone .*\(\d+ restarts, 2 of them with every other pod of the release Ready\)/)
    expect(r.stdout).toMatch(/kubectl logs --previous/)
    expect(lag).toBeLessThan(MIN)
    await runner.post(r.state)
    await cluster.helm(['uninstall', 'crash', '-n', 'milvus-crash', '--wait'])
    await cluster.kubectl(['delete', 'namespace', 'milvus-crash', '--wait=false'])
  }, 10 * MIN)

  // The operator race (upstream prometheus-operator PR #8313), reproduced at will: the local
  // cluster holds back the operator's namespace watch events, so the namespaces stay unknown to
  // it while their ServiceMonitors arrive, and it drops them.
  const operatorDrops = (namespace: string) =>
    readFileSync(join(cluster.logDir, 'prometheus-operator.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('get namespace to enqueue Prometheus instances failed') && line.includes(namespace)).length

  it('a run whose ServiceMonitor the operator drops: touched once unless something else brings it back, the run ends with the target up', async () => {
    const namespace = `milvus-race-${Date.now().toString(36)}`
    cluster.holdNamespaceEvents(true)
    let released = false
    const release = async () => {
      // Until the chart's ServiceMonitor exists and the operator has dropped it, then let the namespace through.
      await expect.poll(() => operatorDrops(namespace) > 0, { timeout: 5 * MIN, interval: 500 }).toBe(true)
      cluster.holdNamespaceEvents(false)
      released = true
    }
    try {
      // Without the action's PrometheusRule, whose arrival would make the operator reconcile anyway;
      // first, while no ServiceMonitor of an earlier test is being deleted (that would too).
      const [r] = await Promise.all([runner.main(inputs({ namespace, 'release-name': 'race', 'alert-rules': 'false', timeout: '8m' })), release()])
      expect(released).toBe(true)
      expect(r.code, failed(r)).toBe(0)
      expect(r.outputs['target-health']).toBe('up')
      // Healed by the touch, or by a reconcile another change made the operator do meanwhile
      // (it then lists every ServiceMonitor, the dropped one too).
      const touched = r.stdout.includes(`has not put ServiceMonitor ${namespace}/race-milvus-standalone`)
      if (touched) expect(r.stdout).toContain(`prometheus-operator took ServiceMonitor ${namespace}/race-milvus-standalone after the touch`)
      console.log(`operator race in a run: the ServiceMonitor was dropped; ${touched ? 'the touch' : 'another reconcile'} brought it back`)
      await runner.post(r.state)
    } finally {
      cluster.holdNamespaceEvents(false)
    }
    await cluster.helm(['uninstall', 'race', '-n', namespace, '--wait'])
    await cluster.kubectl(['delete', 'namespace', namespace, '--wait=false'])
  }, 10 * MIN)

  it('ServiceMonitors the operator dropped (their namespaces unknown to it): each touched once and in Prometheus\' configuration', async () => {
    const names = Array.from({ length: 3 }, (_, i) => `race-${Date.now().toString(36)}-${i}`)
    const manifest = names
      .map(
        (ns) =>
          `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n---\n` +
          `apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: sm, namespace: ${ns}}\n` +
          `spec: {selector: {matchLabels: {app: none}}, endpoints: [{port: metrics, interval: 30s}]}`,
      )
      .join('\n---\n')
    const file = join(mkdtempSync(join(tmpdir(), 'race-')), 'race.yaml')
    writeFileSync(file, manifest)
    cluster.holdNamespaceEvents(true)
    try {
      await cluster.kubectl(['apply', '-f', file])
      await expect.poll(() => names.every((ns) => operatorDrops(ns) > 0), { timeout: 30_000, interval: 500 }).toBe(true)
    } finally {
      cluster.holdNamespaceEvents(false)
    }
    const entry = join(import.meta.dirname, 'support', 'scrape-job-entry.ts')
    const results = await Promise.all(names.map(async (ns) => {
      const out = await cluster.run(process.execPath, [entry, ns, 'sm', '15000'])
      return JSON.parse(out.trim().split('\n').at(-1)!) as { result?: string; error?: string }
    }))
    // 'recovered' by the touch, or 'present' when another change made the operator reconcile
    // Prometheus meanwhile (it then lists every ServiceMonitor, the dropped ones too).
    console.log(`operator race: ${results.filter((x) => x.result === 'recovered').length} of ${names.length} dropped ServiceMonitors recovered by the touch`)
    expect(results.map((x) => x.error ?? x.result).every((x) => x === 'present' || x === 'recovered'), JSON.stringify(results)).toBe(true)
    await cluster.kubectl(['delete', 'namespace', ...names, '--wait=false'])
  }, 5 * MIN)

  it('a ServiceMonitor the operator rejects: the scrape-config check fails naming it, without waiting out the budget', async () => {
    const ns = `sm-rejected-${Date.now().toString(36)}`
    const file = join(mkdtempSync(join(tmpdir(), 'rejected-')), 'sm.yaml')
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n---\n` +
        `apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: bad, namespace: ${ns}}\n` +
        `spec: {selector: {matchLabels: {app: none}}, endpoints: [{port: metrics, interval: 5s, scrapeTimeout: 10s}]}\n`,
    )
    await cluster.kubectl(['apply', '-f', file])
    const started = Date.now()
    const out = await cluster.run(process.execPath, [join(import.meta.dirname, 'support', 'scrape-job-entry.ts'), ns, 'bad', '5000'])
    const answer = JSON.parse(out.trim().split('\n').at(-1)!) as { result?: string; error?: string }
    expect(answer.error).toMatch(new RegExp(`prometheus-operator (rejected|has not put) ServiceMonitor ${ns}/bad`))
    expect(out).toMatch(/Touching the ServiceMonitor once/)
    expect(Date.now() - started).toBeLessThan(MIN)
    await cluster.kubectl(['delete', 'namespace', ns, '--wait=false'])
  }, 5 * MIN)

  it("the runner timeline: one pull at a time per node, each image once; Ready at the readiness probe's delay; Milvus only after its etcd and MinIO", async () => {
    const id = Date.now().toString(36)
    const ns = `timeline-${id}`
    const image = (n: string) => `example.invalid/timeline-${id}-${n}:1`
    const probe = (delay: number, period: number) => `{tcpSocket: {port: 9091}, initialDelaySeconds: ${delay}, periodSeconds: ${period}}`
    const podYaml = (name: string, img: string, o: { labels?: string; readiness?: string; liveness?: string } = {}) =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${ns}, labels: {${o.labels ?? ''}}, annotations: {local-cluster.milvus-monitoring-action/timeline: runner}}\n` +
      `spec: {containers: [{name: c, image: "${img}"${o.readiness ? `, readinessProbe: ${o.readiness}` : ''}${o.liveness ? `, livenessProbe: ${o.liveness}` : ''}}]}`
    const file = join(mkdtempSync(join(tmpdir(), 'timeline-')), 'pods.yaml')
    writeFileSync(
      file,
      [
        `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}`,
        podYaml('a', image('a'), { readiness: probe(3, 2) }),
        podYaml('b', image('b')),
        podYaml('c', image('a')),
        podYaml('rel-etcd-0', image('etcd'), { readiness: probe(2, 1) }),
        podYaml('rel-minio-0', image('minio')),
        podYaml('rel-milvus-standalone-0', image('milvus'), {
          labels: 'app.kubernetes.io/name: milvus, app.kubernetes.io/instance: rel, component: standalone',
          readiness: probe(1, 2),
          liveness: probe(30, 30),
        }),
      ].join('\n---\n'),
    )
    await cluster.kubectl(['apply', '-f', file])
    type P = { metadata: { name: string; annotations: Record<string, string> }; status: { conditions?: Array<{ type: string; status: string; lastTransitionTime: string }>; containerStatuses?: Array<{ state: { running?: { startedAt: string } } }> } }
    const pods = async () => (await cluster.kubectlJson<{ items: P[] }>(['get', 'pods', '-n', ns])).items
    await expect.poll(async () => (await pods()).every((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')), { timeout: 2 * MIN, interval: 1000 }).toBe(true)
    const byName = new Map((await pods()).map((p) => [p.metadata.name, p]))
    const at = (name: string, key: 'started-at' | 'ready-at') => Date.parse(byName.get(name)!.metadata.annotations[`local-cluster.milvus-monitoring-action/${key}`]!)
    const started = (name: string) => Date.parse(byName.get(name)!.status.containerStatuses![0]!.state.running!.startedAt)
    const ready = (name: string) => Date.parse(byName.get(name)!.status.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime)
    // kwok kept the planned times (the API keeps seconds).
    for (const name of byName.keys()) {
      expect(Math.abs(started(name) - at(name, 'started-at')), `${name} started`).toBeLessThanOrEqual(1500)
      expect(Math.abs(ready(name) - at(name, 'ready-at')), `${name} ready`).toBeLessThanOrEqual(1500)
    }
    // One pull at a time: the five images' pulls end at least a pull apart.
    const pull = pullSeconds(image('a')) * 1000
    const ends = ['a', 'b', 'rel-etcd-0', 'rel-minio-0', 'rel-milvus-standalone-0'].map((n) => at(n, 'started-at')).sort((x, y) => x - y)
    for (let i = 1; i < ends.length; i++) expect(ends[i]! - ends[i - 1]!).toBeGreaterThanOrEqual(pull - 1)
    // The same image is pulled once: c starts with a.
    expect(at('c', 'started-at')).toBe(at('a', 'started-at'))
    // Ready at the readiness probe's initialDelaySeconds; without a probe, when it runs.
    expect(at('a', 'ready-at') - at('a', 'started-at')).toBe(3000)
    expect(at('b', 'ready-at')).toBe(at('b', 'started-at'))
    // Milvus: healthy MILVUS_STARTUP_S after it runs and etcd and MinIO are Ready, Ready at its
    // next readiness probe (every 2 s). The API keeps the dependencies' Ready times to the second.
    const healthyFrom = Math.max(ready('rel-etcd-0'), ready('rel-minio-0'), at('rel-milvus-standalone-0', 'started-at'))
    expect(at('rel-milvus-standalone-0', 'ready-at')).toBeGreaterThanOrEqual(healthyFrom + MILVUS_STARTUP_S * 1000)
    expect(at('rel-milvus-standalone-0', 'ready-at')).toBeLessThanOrEqual(healthyFrom + 1000 + (MILVUS_STARTUP_S + 2) * 1000)
    await cluster.kubectl(['delete', 'namespace', ns, '--wait=false'])
  }, 5 * MIN)

  // Last: it takes the action's kube-prometheus away to build its pre-state.
  it('cleanup true with monitoring CRDs, another team\'s ServiceMonitor and monitoring/keep-me there before: all still there after, what the run created gone', async () => {
    const manifests = await kubePrometheusManifests()
    // The pre-state: no kube-prometheus of the action's, the CRDs another team applied.
    await cluster.kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=300s', '-f', manifests])
    await cluster.kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=300s', '-f', join(manifests, 'setup')])
    // Nothing of an earlier attempt: the release and its namespace must be this run's.
    await cluster.helm(['uninstall', 'tidy', '-n', 'milvus-cleanup', '--ignore-not-found', '--wait'])
    await cluster.kubectl(['delete', 'namespace', 'milvus-cleanup', '--ignore-not-found', '--wait=true', '--timeout=120s'])
    for (const f of readdirSync(join(manifests, 'setup')).filter((x) => x.includes('CustomResourceDefinition'))) {
      await cluster.kubectl(['apply', '--server-side', '--field-manager=other-team', '-f', join(manifests, 'setup', f)])
    }
    const file = join(mkdtempSync(join(tmpdir(), 'pre-')), 'pre.yaml')
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n---\n' +
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep-me, namespace: monitoring}\ndata: {a: b}\n---\n' +
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\n' +
        'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: team-sm, namespace: other}\n' +
        'spec: {selector: {matchLabels: {app: team}}, endpoints: [{port: metrics}]}\n',
    )
    await cluster.kubectl(['apply', '-f', file])

    const since = Date.now()
    const r = await runner.main(inputs({ cleanup: 'true', namespace: 'milvus-cleanup', 'release-name': 'tidy' }))
    expect(r.code, failed(r)).toBe(0)
    // The pull order a node gets (it pulls in the order pods are bound to it): the operator before
    // Milvus, and Prometheus (created by the operator) before the rest of kube-prometheus.
    const bound = await scheduledSince(['monitoring', 'milvus-cleanup'], since)
    const at = (ns: string, prefix: string) => [...bound].filter(([k]) => k.startsWith(`${ns}/${prefix}`)).map(([, t]) => t)
    const [operator, milvus, prometheus] = [at('monitoring', 'prometheus-operator-'), at('milvus-cleanup', ''), at('monitoring', 'prometheus-k8s-')]
    const rest = ['grafana-', 'alertmanager-main-', 'kube-state-metrics-', 'blackbox-exporter-', 'prometheus-adapter-'].flatMap((p) => at('monitoring', p))
    expect([operator.length, milvus.length, prometheus.length, rest.length > 4], JSON.stringify([...bound])).toEqual([1, 3, 2, true])
    expect(Math.max(...operator)).toBeLessThan(Math.min(...milvus))
    expect(Math.max(...prometheus)).toBeLessThan(Math.min(...rest))
    expect(r.stdout).toMatch(/Left as they are \(they exist and belong to someone else; not applied over, never deleted\)/)
    expect(r.stdout).toMatch(/CustomResourceDefinition servicemonitors\.monitoring\.coreos\.com \(managed by other-team/)
    expect(r.stdout).toMatch(/Namespace monitoring \(managed by kubectl/)
    const post = await runner.post(r.state)
    expect(post.code, failed(post)).toBe(0)
    expect(post.stdout).not.toContain('::warning::')

    // What the run created is gone.
    expect(await cluster.helm(['list', '-A', '-f', '^tidy$', '-q'])).toBe('')
    await expect(cluster.kubectl(['get', 'namespace', 'milvus-cleanup'])).rejects.toThrow(/NotFound/)
    await expect(cluster.kubectl(['get', 'deployment', '-n', 'monitoring', 'prometheus-operator'])).rejects.toThrow(/NotFound/)
    await expect(cluster.kubectl(['get', 'prometheus', '-n', 'monitoring', 'k8s'])).rejects.toThrow(/NotFound/)
    await expect(cluster.kubectl(['get', 'clusterrole', 'prometheus-k8s'])).rejects.toThrow(/NotFound/)
    await expect(cluster.kubectl(['get', 'apiservice', 'v1beta1.metrics.k8s.io'])).rejects.toThrow(/NotFound/)
    // What was there before is still there, untouched by the action's field manager.
    const crds = (await cluster.kubectlJson<{ items: Array<{ metadata: { name: string; managedFields: Array<{ manager: string }> } }> }>(['get', 'crd', '--show-managed-fields'])).items.filter((c) =>
      c.metadata.name.endsWith('monitoring.coreos.com'),
    )
    expect(crds).toHaveLength(10)
    for (const c of crds) expect(c.metadata.managedFields.map((m) => m.manager)).not.toContain('milvus-monitoring-action')
    expect(await cluster.kubectl(['get', 'servicemonitor', '-n', 'other', 'team-sm', '-o', 'name'])).toContain('team-sm')
    expect(await cluster.kubectl(['get', 'configmap', '-n', 'monitoring', 'keep-me', '-o', 'name'])).toContain('keep-me')
    expect(await cluster.kubectl(['get', 'namespace', 'monitoring', '-o', 'name'])).toContain('namespace/monitoring')
    await cluster.kubectl(['delete', 'namespace', 'other', '--wait=false'])
  }, 15 * MIN)

  /** `<namespace>/<pod>` → when the scheduler bound it (its Scheduled Event's eventTime, µs precision, ms epoch), for pods bound since `since`. */
  async function scheduledSince(namespaces: string[], since: number): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    for (const ns of namespaces) {
      const events = (await cluster.kubectlJson<{ items: Array<{ eventTime?: string; involvedObject: { name: string } }> }>(['get', 'events', '-n', ns, '--field-selector', 'reason=Scheduled'])).items
      for (const e of events) {
        const t = e.eventTime ? Date.parse(e.eventTime) : NaN
        if (t >= since) out.set(`${ns}/${e.involvedObject.name}`, Math.min(t, out.get(`${ns}/${e.involvedObject.name}`) ?? Infinity))
      }
    }
    return out
  }

  /** kube-prometheus' manifests/, from the local cluster's mirror of the release archive. */
  async function kubePrometheusManifests(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'kp-'))
    await cluster.run('sh', ['-c', `curl -fsSL "$0" | tar xz -C "$1"`, cluster.env.LOCAL_CLUSTER_KUBE_PROMETHEUS_URL!, dir])
    return join(dir, readdirSync(dir)[0]!, 'manifests')
  }

  /** Kills (SIGKILL) the helm process upgrading `release`, found by its exact arguments. */
  function killHelm(release: string): void {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let args: string[]
      try {
        args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      } catch {
        continue
      }
      if (args[0]?.endsWith('/helm') && args[1] === 'upgrade' && args[2] === '--install' && args[3] === release) process.kill(Number(pid), 'SIGKILL')
    }
  }

  /** What a re-run must not change: the CRDs' and Prometheus' specs, the ServiceMonitor, the RBAC. */
  async function snapshot() {
    const gen = async (args: string[]) =>
      (await cluster.kubectlJson(args)).items.map((i) => `${i.metadata.name}@${i.metadata.generation ?? i.metadata.resourceVersion}`).sort()
    return {
      crds: await gen(['get', 'crd']),
      prometheus: await gen(['get', 'prometheus', '-n', 'monitoring']),
      serviceMonitors: await gen(['get', 'servicemonitor', '-n', 'milvus']),
      rbac: (await managedRoles('milvus')).map((i) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort(),
    }
  }
})
