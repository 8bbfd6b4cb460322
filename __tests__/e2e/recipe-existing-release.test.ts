// The README's second long-lived recipe, as written there: a Milvus someone else installed, a
// release of the chart installed with the local helm before the run, with the team's own values
// (an extra env var among them). The action verifies it as it is with the recipe's inputs
// (install-milvus: false), and refuses to upgrade it with the default install-milvus: true, in
// seconds and before any change; also when an operation of theirs left it pending.
import { writeFileSync } from 'node:fs'
import { gunzipSync, gzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localCluster, mirrorInputs, type LocalCluster } from '../../local-cluster/client.ts'
import { makeRunner, type Runner, type StepResult } from '../../local-cluster/runner.ts'
import { recipeInputs } from '../support/readme.ts'

const E2E = process.env.MILVUS_ACTION_E2E !== '0'
const MIN = 60_000
const RECIPE = recipeInputs('existing-release')
const NS = RECIPE.namespace!
const RELEASE = RECIPE['release-name']!
// The team's values: the chart's, CI-sized for the local cluster, with one extra env var of their own.
const TEAM_VALUES = {
  cluster: { enabled: false },
  etcd: { replicaCount: 1 },
  minio: { mode: 'standalone' },
  pulsarv3: { enabled: false },
  metrics: { serviceMonitor: { enabled: true } },
  standalone: { extraEnv: [{ name: 'TEAM_SETTING', value: 'kept' }] },
}

let cluster: LocalCluster
let runner: Runner

function failed(r: StepResult): string {
  const errors = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('::error::'))
    .join('\n')
  return `exit ${r.code}\n--- errors\n${errors}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}`
}

async function revisions(): Promise<Array<{ revision: number; status: string }>> {
  return JSON.parse(await cluster.helm(['history', RELEASE, '-n', NS, '-o', 'json'])) as Array<{ revision: number; status: string }>
}

async function teamValues(): Promise<unknown> {
  return JSON.parse(await cluster.helm(['get', 'values', RELEASE, '-n', NS, '-o', 'json']))
}

async function serviceMonitor(): Promise<{ metadata: { resourceVersion: string; labels: Record<string, string> } }> {
  return cluster.kubectlJson(['get', 'servicemonitor', '-n', NS, `${RELEASE}-milvus-standalone`])
}

async function actionObjects(kinds: string): Promise<string[]> {
  const list = await cluster.kubectlJson<{ items: Array<{ kind: string; metadata: { name: string } }> }>([
    'get',
    kinds,
    '-n',
    NS,
    '-l',
    'app.kubernetes.io/managed-by=milvus-monitoring-action',
  ])
  return list.items.map((o) => `${o.kind}/${o.metadata.name}`)
}

/**
 * Sets the status Helm records in the release's last revision (its Secret: the release JSON,
 * gzipped and base64-encoded, and the `status` label), as an operation interrupted there leaves
 * it; returns what puts the revision back as it was.
 */
async function recordStatus(status: string): Promise<() => Promise<void>> {
  const last = (await revisions()).at(-1)!.revision
  const name = `sh.helm.release.v1.${RELEASE}.v${last}`
  const secret = await cluster.kubectlJson<{ data: { release: string }; metadata: { labels: Record<string, string> } }>([
    'get',
    'secret',
    '-n',
    NS,
    name,
  ])
  const release = JSON.parse(gunzipSync(Buffer.from(Buffer.from(secret.data.release, 'base64').toString(), 'base64')).toString()) as {
    info: { status: string }
  }
  const patch = async (data: string, label: string) => {
    const file = join(tmpdir(), `${name}.patch.json`)
    writeFileSync(file, JSON.stringify({ data: { release: data }, metadata: { labels: { status: label } } }))
    await cluster.kubectl(['patch', 'secret', '-n', NS, name, '--type', 'merge', '--patch-file', file])
  }
  const was = { data: secret.data.release, label: secret.metadata.labels['status']! }
  release.info.status = status
  await patch(Buffer.from(gzipSync(JSON.stringify(release)).toString('base64')).toString('base64'), status)
  return () => patch(was.data, was.label)
}

describe.runIf(E2E)("recipe: someone else's Milvus release", () => {
  beforeAll(async () => {
    cluster = await localCluster()
    runner = makeRunner({ wrap: cluster.wrap, env: { KUBECONFIG: cluster.env.KUBECONFIG! } })
    if ((await cluster.helm(['list', '-n', NS, '-q', '-f', `^${RELEASE}$`]).catch(() => '')).trim() === '') {
      const file = join(tmpdir(), `${RELEASE}-values.json`)
      writeFileSync(file, JSON.stringify(TEAM_VALUES))
      await cluster.helm([
        'install',
        RELEASE,
        'milvus',
        '--repo',
        cluster.env.LOCAL_CLUSTER_HELM_REPO_URL!,
        '--version',
        '5.0.19',
        '-n',
        NS,
        '--create-namespace',
        '-f',
        file,
        '--wait',
        '--timeout',
        '10m',
      ])
    }
  }, 30 * MIN)

  // The team's release was this file's to make: it goes with its namespace at the end.
  afterAll(async () => {
    await cluster.helm(['uninstall', RELEASE, '-n', NS, '--ignore-not-found', '--wait'])
    await cluster.kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false'])
  }, 5 * MIN)

  it(
    'install-milvus: false verifies it as it is: target up, nothing of the release changed, nothing of it cleaned up',
    async () => {
      const [historyBefore, valuesBefore, smBefore] = await Promise.all([revisions(), teamValues(), serviceMonitor()])
      // The recipe as written, and cleanup: true (which must not remove the release either).
      const r = await runner.main({ ...mirrorInputs(cluster.env), timeout: '6m', ...RECIPE, cleanup: 'true' })
      expect(r.code, failed(r)).toBe(0)
      console.log(`install-milvus: false, target up after ${Math.round(r.ms / 1000)} s`)
      expect(r.outputs['service-monitor']).toBe(`${NS}/${RELEASE}-milvus-standalone`)
      expect(r.outputs['scrape-pool']).toBe(`serviceMonitor/${NS}/${RELEASE}-milvus-standalone/0`)
      expect(r.outputs['target-health']).toBe('up')
      expect(r.stdout).toMatch(/install-milvus is false: nothing installed or upgraded/)
      expect(r.stdout).not.toMatch(/helm upgrade --install/)

      // The release as it was: the same revision, the team's values, its ServiceMonitor untouched.
      expect(await revisions()).toEqual(historyBefore)
      expect(await teamValues()).toEqual(valuesBefore)
      const sm = await serviceMonitor()
      expect(sm.metadata.resourceVersion).toBe(smBefore.metadata.resourceVersion)
      expect(Object.keys(sm.metadata.labels)).not.toContain('milvus-monitoring-action/reconcile')

      // What the run added (the discovery RBAC kube-prometheus lacks here) is all the post step removes.
      const post = await runner.post(r.state)
      expect(post.code, failed(post)).toBe(0)
      expect(post.stdout).not.toContain('::warning::')
      expect(await actionObjects('role,rolebinding')).toEqual([])
      expect(await revisions()).toEqual(historyBefore)
      expect(await cluster.kubectl(['get', 'namespace', NS, '-o', 'name'])).toContain(NS)
      expect(
        (await cluster.kubectl(['get', 'pvc,deployment', '-n', NS, '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name'])).trim(),
      ).not.toBe('')
    },
    10 * MIN,
  )

  it(
    'install-milvus: true refuses it in seconds, before any change, naming it and the ways on',
    async () => {
      const historyBefore = await revisions()
      const started = Date.now()
      let refusedAt: number | undefined
      const r = await runner.main(
        { ...mirrorInputs(cluster.env), timeout: '6m', 'release-name': RELEASE, namespace: NS, expose: 'none' },
        { onStdout: (c) => void (c.includes('was not installed by this action') && (refusedAt ??= Date.now())) },
      )
      expect(r.code).not.toBe(0)
      expect(refusedAt, failed(r)).toBeDefined()
      const seconds = (refusedAt! - started) / 1000
      console.log(`someone else's release refused ${seconds.toFixed(1)} s after the start`)
      expect(seconds).toBeLessThan(30)
      expect(r.stdout).toMatch(
        new RegExp(
          `::error::Helm release ${NS}/${RELEASE} \\(chart milvus-5\\.0\\.19, app version [^;]+; revision ${historyBefore.at(-1)!.revision}, deployed\\) was not installed by this action`,
        ),
      )
      expect(r.stdout).toMatch(/set install-milvus: false.*another release-name/)
      expect(await revisions()).toEqual(historyBefore)
      // Before any change: no hold taken, no Role added in the release's namespace.
      expect(await actionObjects('role,rolebinding,lease')).toEqual([])
      // The post step releases whatever the run holds elsewhere (the stack).
      expect((await runner.post(r.state)).code).toBe(0)
    },
    10 * MIN,
  )

  it(
    'left pending-upgrade by an operation of theirs: refused in seconds, before any change, naming the helm command that recovers it',
    async () => {
      const restore = await recordStatus('pending-upgrade')
      try {
        const historyBefore = await revisions()
        expect(historyBefore.at(-1)!.status).toBe('pending-upgrade')
        // What the action has here already (the rules an install-milvus: false run leaves with the
        // release), with their resourceVersions: a refused run changes none and adds none.
        const actionObjectVersions = async () =>
          (
            await cluster.kubectl([
              'get',
              'role,rolebinding,lease,prometheusrule',
              '-n',
              NS,
              '-l',
              'app.kubernetes.io/managed-by=milvus-monitoring-action',
              '-o',
              'jsonpath={range .items[*]}{.kind}/{.metadata.name}@{.metadata.resourceVersion} {end}',
            ])
          ).trim()
        const actionsBefore = await actionObjectVersions()
        const started = Date.now()
        let refusedAt: number | undefined
        const r = await runner.main(
          { ...mirrorInputs(cluster.env), timeout: '6m', 'release-name': RELEASE, namespace: NS, expose: 'none' },
          { onStdout: (c) => void (c.includes('left by an operation that did not finish') && (refusedAt ??= Date.now())) },
        )
        expect(r.code).not.toBe(0)
        expect(refusedAt, failed(r)).toBeDefined()
        const seconds = (refusedAt! - started) / 1000
        console.log(`someone else's pending release refused ${seconds.toFixed(1)} s after the start`)
        expect(seconds).toBeLessThan(30)
        expect(r.stdout).toMatch(
          new RegExp(
            `::error::Helm release ${NS}/${RELEASE} is pending-upgrade \\(revision \\d+\\), left by an operation that did not finish`,
          ),
        )
        expect(r.stdout).toMatch(new RegExp(`Nothing was changed\\. Recover it with helm rollback ${RELEASE} -n ${NS}`))
        // Before any change: no rollback or uninstall of theirs, no hold, no Role, no rules applied.
        expect(await revisions()).toEqual(historyBefore)
        expect(await actionObjectVersions()).toBe(actionsBefore)
        expect((await runner.post(r.state)).code).toBe(0)
      } finally {
        await restore()
      }
    },
    10 * MIN,
  )
})
