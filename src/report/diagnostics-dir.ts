// The diagnostics folder: the cluster's story as plain files under RUNNER_TEMP, for
// actions/upload-artifact. Written on failure, and on success with `diagnostics: always`.
// Secrets never reach a file: Helm values are masked under secret-looking keys and wherever a
// value the user marked secret appears, Secrets are never read except the operator's generated
// configuration, whose credentials are dropped.
import * as core from '@actions/core'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { gunzipSync } from 'node:zlib'
import YAML from 'yaml'
import type { Kubectl } from '../cluster/kubectl.ts'
import type { Helm } from '../cluster/helm.ts'
import { hasCluster, hasStack, type Run } from '../context.ts'
import type { Inputs, PrometheusStack } from '../types.ts'
import { redact } from './summary.ts'
import { SECRET_KEY, secretValues } from '../milvus/helm-release.ts'
import { prometheusRequest } from '../prometheus/stack.ts'

export const MASK = '***'

/** Keys whose values are credentials, in Helm values and Prometheus configuration alike. */

/**
 * A copy of `value` with every leaf under a secret-looking key (at any depth) replaced by
 * MASK, and every string leaf containing one of `secrets` masked where it appears.
 */
export function maskSecrets(value: unknown, secrets: string[] = [], underSecret = false): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, secrets, underSecret))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, secrets, underSecret || SECRET_KEY.test(k))]))
  }
  if (underSecret && value !== null && value !== undefined && value !== '') return MASK
  if (typeof value === 'string') return maskText(value, secrets)
  return value
}

/** `text` with each of `secrets` (non-empty) replaced by MASK, then redact()ed (URL credentials, tokens). */
export function maskText(text: string, secrets: string[]): string {
  let out = text
  for (const s of secrets) if (s.length > 0) out = out.split(s).join(MASK)
  return redact(out)
}

export interface DiagnosticsInput {
  kubectl: Kubectl
  helm?: Helm
  inputs: Inputs
  /** Values the run masked (the user's secret values). */
  secrets: string[]
  /** The run's Prometheus, once resolved: its namespace and generated configuration are collected. */
  stack?: PrometheusStack
  /** GET through the API server's service proxy to Prometheus, for targets and rules. */
  prometheusGet?: (pathAndQuery: string) => Promise<unknown>
}

/** A new folder under RUNNER_TEMP (else the OS temp folder): its path. */
export function diagnosticsFolder(now = new Date()): string {
  const dir = join(process.env.RUNNER_TEMP ?? tmpdir(), `milvus-diagnostics-${now.toISOString().replace(/[:.]/g, '-')}`)
  mkdirSync(dir, { recursive: true })
  return dir
}

/**
 * Writes the files (each collected on its own: one that cannot be read says why inside it) and
 * returns the folder. Files: pods-<ns>.txt, describe-pods-<ns>.txt, events-<ns>.txt,
 * helm-status.txt, helm-values.yaml, prometheus-targets.json, prometheus-rules.json,
 * operator-prometheus-config.yaml, servicemonitors.yaml, prometheusrules.yaml.
 */
export async function writeDiagnostics(d: DiagnosticsInput, dir = diagnosticsFolder()): Promise<string> {
  const { kubectl, inputs, secrets } = d
  const write = async (name: string, fn: () => Promise<string>) => {
    let text: string
    try {
      text = await fn()
    } catch (e) {
      text = `could not collect: ${(e as Error).message}\n`
    }
    writeFileSync(join(dir, name), maskText(text, secrets))
  }
  const kc = async (args: string[]) => {
    const r = await kubectl.run(args, { allowFailure: true })
    return r.stdout + r.stderr
  }
  const namespaces = [...new Set([inputs.namespace, ...(d.stack ? [d.stack.namespace] : [])])]
  const jobs: Array<Promise<void>> = []
  for (const ns of namespaces) {
    jobs.push(write(`pods-${ns}.txt`, () => kc(['get', 'pods', '-n', ns, '-o', 'wide'])))
    jobs.push(write(`describe-pods-${ns}.txt`, () => kc(['describe', 'pods', '-n', ns])))
    jobs.push(write(`events-${ns}.txt`, () => kc(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp'])))
  }
  if (d.helm) {
    const helm = d.helm
    jobs.push(write('helm-status.txt', async () => (await helm.status(inputs.releaseName, inputs.namespace)).stdout))
    jobs.push(
      write('helm-values.yaml', async () => {
        const r = await helm.run(['get', 'values', inputs.releaseName, '-n', inputs.namespace, '--all', '-o', 'json'], { allowFailure: true })
        if (r.exitCode !== 0) return r.stderr
        return YAML.stringify(maskSecrets(JSON.parse(r.stdout), secrets))
      }),
    )
  }
  if (d.prometheusGet) {
    const get = d.prometheusGet
    jobs.push(write('prometheus-targets.json', async () => JSON.stringify(await get('/api/v1/targets?state=any'), null, 2)))
    jobs.push(write('prometheus-rules.json', async () => JSON.stringify(await get('/api/v1/rules'), null, 2)))
  }
  if (d.stack) {
    const { namespace, name } = d.stack
    jobs.push(
      write('operator-prometheus-config.yaml', async () => {
        const r = await kubectl.run(['get', 'secret', '-n', namespace, `prometheus-${name}`, '-o', 'jsonpath={.data.prometheus\\.yaml\\.gz}'], { allowFailure: true })
        if (r.exitCode !== 0) return r.stderr
        const config = YAML.parse(gunzipSync(Buffer.from(r.stdout, 'base64')).toString('utf8')) as unknown
        return YAML.stringify(maskSecrets(config, secrets))
      }),
    )
  }
  jobs.push(write('servicemonitors.yaml', () => kc(['get', 'servicemonitors', '-n', inputs.namespace, '-o', 'yaml'])))
  jobs.push(write('prometheusrules.yaml', () => kc(['get', 'prometheusrules', '-n', inputs.namespace, '-o', 'yaml'])))
  await Promise.all(jobs)
  core.info(`Diagnostics written to ${dir} (upload it with actions/upload-artifact)`)
  return dir
}

/**
 * The run's diagnostics folder from what the run got to (nothing before kubectl is installed):
 * its path, or undefined. Never rejects: a failure to write is a warning.
 */
export async function saveDiagnostics(run: Run): Promise<string | undefined> {
  if (!hasCluster(run)) return undefined
  const stack = hasStack(run) ? run.stack : undefined
  try {
    return await writeDiagnostics({
      kubectl: run.kubectl,
      helm: run.helm,
      inputs: run.inputs,
      secrets: secretValues(run.inputs.values),
      ...(stack ? { stack, prometheusGet: (path: string) => prometheusRequest(run.kube, stack, { timeoutMs: 10_000 })(path, AbortSignal.timeout(15_000)) } : {}),
    })
  } catch (e) {
    core.warning(`Could not write the diagnostics folder: ${(e as Error).message}`)
    return undefined
  }
}
