// Time to failure: for each case the cluster refuses, how long from the cause appearing (the
// first fatal Event, or the run's start for what is checked before any change) to the action's
// exit, against the 60 s target. Prints a table; asserts nothing.
//
//   node benchmarks/fail-fast.ts [--shared]
//
// Runs its own instance of the local cluster (network namespace milvus-action-failfast, state in
// /tmp/milvus-monitoring-action-failfast) unless --shared; it needs root (ip netns) and dist/ built.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { firstEventSince, localCluster, mirrorInputs, type LocalCluster } from '../local-cluster/client.ts'
import { makeRunner, ROOT } from '../local-cluster/runner.ts'

const TARGET_MS = 60_000
const { values: args } = parseArgs({ options: { shared: { type: 'boolean', default: false } } })
if (!args.shared) {
  process.env['LOCAL_CLUSTER_NETNS'] ??= 'milvus-action-failfast'
  process.env['LOCAL_CLUSTER_STATE'] ??= '/tmp/milvus-monitoring-action-failfast'
}
const sharedFixtures = join(ROOT, '..', 'shared', 'fixtures')
if (!process.env['MILVUS_ACTION_FIXTURES'] && existsSync(sharedFixtures)) process.env['MILVUS_ACTION_FIXTURES'] = sharedFixtures
if (!existsSync(join(ROOT, 'dist', 'main', 'index.js'))) throw new Error('dist/main/index.js is missing: run `npm run build` first')

const cluster: LocalCluster = await localCluster()
const runner = makeRunner({ wrap: cluster.wrap, env: { KUBECONFIG: cluster.env.KUBECONFIG! } })
const base = {
  ...mirrorInputs(cluster.env),
  timeout: '15m',
}

// The stack first, so each case measures its own failure, not kube-prometheus' install.
const warm = await runner.main(base)
if (warm.code !== 0) throw new Error(`the warm-up run failed:\n${warm.stdout.slice(-3000)}`)
await runner.post(warm.state)

interface Case {
  name: string
  namespace: string
  inputs: Record<string, string>
  before?: () => Promise<void>
  /** The Event that marks the cause; none: the cause is known at the start (checked before any change). */
  reason?: string
}
const cases: Case[] = [
  {
    name: 'ServiceMonitor interval 5s < scrapeTimeout 10s',
    namespace: 'ff-interval',
    inputs: { values: 'metrics: {serviceMonitor: {interval: 5s}}' },
  },
  {
    name: 'release name of 51 characters',
    namespace: 'ff-longname',
    inputs: { 'release-name': 'pr-1234-feature-add-hybrid-search-to-the-ingest-api' },
  },
  {
    name: 'PodSecurity restricted namespace',
    namespace: 'ff-psa',
    inputs: {},
    reason: 'FailedCreate',
    before: async () => {
      await cluster.kubectl(['create', 'namespace', 'ff-psa']).catch(() => '')
      await cluster.kubectl(['label', 'namespace', 'ff-psa', 'pod-security.kubernetes.io/enforce=restricted', '--overwrite'])
    },
  },
  {
    name: 'requests no node can hold (cpu 64)',
    namespace: 'ff-sched',
    inputs: { values: 'standalone: {resources: {requests: {cpu: "64"}}}' },
    reason: 'FailedScheduling',
  },
  {
    name: 'a ResourceQuota of 1 pod',
    namespace: 'ff-quota',
    inputs: {},
    reason: 'FailedCreate',
    before: async () => {
      await cluster.kubectl(['create', 'namespace', 'ff-quota']).catch(() => '')
      await cluster.kubectl(['create', 'quota', 'tiny', '-n', 'ff-quota', '--hard=pods=1']).catch(() => '')
    },
  },
  {
    name: 'a claim for a StorageClass that does not exist',
    namespace: 'ff-pvc',
    inputs: { values: 'etcd: {persistence: {storageClass: no-such-class}}' },
    reason: 'ProvisioningFailed',
  },
  {
    name: 'an image tag the registry does not have',
    namespace: 'ff-image',
    inputs: { values: 'image: {all: {tag: does-not-exist}}' },
    reason: 'Failed',
  },
  {
    name: 'Milvus crash-looping (etcd and MinIO Ready)',
    namespace: 'ff-crash',
    inputs: { values: 'annotations: {local-cluster.milvus-monitoring-action/crash-loop: "true"}' },
    reason: 'BackOff',
  },
]

const rows: string[] = []
for (const c of cases) {
  await c.before?.()
  const since = Date.now()
  const r = await runner.main({ ...base, namespace: c.namespace, 'release-name': c.inputs['release-name'] ?? 'ff', ...c.inputs })
  const exit = Date.now()
  await runner.post(r.state)
  const cause = c.reason ? await firstEventSince(cluster, c.namespace, c.reason, since) : since
  const lag = cause === undefined ? NaN : exit - cause
  const message = /::error::(.*)/.exec(r.stdout)?.[1]?.split('%0A')[0]?.slice(0, 100) ?? '(no error)'
  rows.push(
    `| ${c.name} | ${c.reason ?? 'run start'} | ${(lag / 1000).toFixed(1)} s | ${lag <= TARGET_MS ? 'met' : 'NOT met'} | exit ${r.code}: ${message} |`,
  )
  await cluster.helm(['uninstall', c.inputs['release-name'] ?? 'ff', '-n', c.namespace, '--ignore-not-found', '--wait']).catch(() => '')
  await cluster.kubectl(['delete', 'namespace', c.namespace, '--ignore-not-found', '--wait=false']).catch(() => '')
}

console.log(`\nTime from the cause to the action's exit (target: at most ${TARGET_MS / 1000} s)\n`)
console.log('| case | cause | time to failure | target | the error |')
console.log('| --- | --- | --- | --- | --- |')
for (const row of rows) console.log(row)
if (!args.shared)
  console.log(
    `\nThe cluster instance ${process.env['LOCAL_CLUSTER_NETNS']} is still running: node local-cluster/cluster.ts down (same LOCAL_CLUSTER_* variables) stops it.`,
  )
