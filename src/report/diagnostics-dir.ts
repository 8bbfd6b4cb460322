// The diagnostics folder: the cluster's story as plain files under RUNNER_TEMP, for
// actions/upload-artifact. Written on failure, and on success with `diagnostics: always`.
// Secrets never reach a file: Helm values are masked under secret-looking keys and wherever a
// value the user marked secret appears, Secrets are never read except the operator's generated
// configuration, whose credentials are dropped.
import * as core from '@actions/core'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { tmpdir } from 'node:os'
import { gunzipSync } from 'node:zlib'
import YAML from 'yaml'
import type { Kubectl } from '../cluster/kubectl.ts'
import type { Helm } from '../cluster/helm.ts'
import { hasCluster, hasStack, type Run } from '../context.ts'
import type { Inputs, PrometheusStack } from '../types.ts'
import { redact } from './summary.ts'
import { CONFIG_FILES, SECRET_KEY, parseConfigFile, secretValues } from '../milvus/helm-release.ts'
import { prometheusRequest } from '../prometheus/stack.ts'
import { collectPods, logFile, type PodReport } from './pods.ts'

export const MASK = '***'

/**
 * A copy of `value` with every leaf under a secret-looking key (at any depth) replaced by MASK,
 * the `value` of an env entry whose `name` looks secret too ({name: DB_PASSWORD, value: ...}), and
 * every string leaf containing one of `secrets` masked where it appears. Milvus' configuration
 * files (`extraConfigFiles`, YAML texts) are read and masked by key the same way.
 */
export function maskSecrets(value: unknown, secrets: string[] = [], underSecret = false): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, secrets, underSecret))
  if (value !== null && typeof value === 'object') {
    const named = 'name' in value && typeof value.name === 'string' && SECRET_KEY.test(value.name)
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        const secret = underSecret || SECRET_KEY.test(k) || (named && k === 'value')
        if (k === CONFIG_FILES && !secret && v !== null && typeof v === 'object' && !Array.isArray(v)) {
          return [k, Object.fromEntries(Object.entries(v).map(([file, text]) => [file, maskConfigFile(text, secrets)]))]
        }
        return [k, maskSecrets(v, secrets, secret)]
      }),
    )
  }
  // A switch (`authorizationEnabled: true`) or a short number (`tokenTtl: 300`) is no credential, and tells.
  if (underSecret && ((typeof value === 'string' && value !== '') || (typeof value === 'number' && String(value).length >= 6))) return MASK
  if (typeof value === 'string') return maskText(value, secrets)
  return value
}

// A configuration file kept as written (its comments too) unless a key in it looks secret.
function maskConfigFile(text: unknown, secrets: string[]): unknown {
  if (typeof text !== 'string') return maskSecrets(text, secrets)
  const parsed = parseConfigFile(text)
  if (!parsed) return maskText(text, secrets)
  const masked = maskSecrets(parsed, secrets)
  return JSON.stringify(masked) === JSON.stringify(parsed) ? text : YAML.stringify(masked)
}

/**
 * `kubectl describe` text with the values of secret-looking variables in its `Environment:`
 * listings masked (a reference, `<set to the key ...>`, is kept: it names no value), and each of
 * `secrets` masked wherever it appears.
 */
export function maskDescribe(text: string, secrets: string[]): string {
  const out: string[] = []
  let envIndent = -1 // the indentation of the `Environment:` line we are under, or -1
  let masking = -1 // the indentation of the secret variable whose continuation lines follow, or -1
  for (const line of text.split('\n')) {
    const indent = line.length - line.trimStart().length
    if (envIndent >= 0 && line.trim() !== '' && indent <= envIndent) envIndent = masking = -1
    if (envIndent < 0) {
      if (/^\s*Environment:\s*$/.test(line)) envIndent = indent
      out.push(line)
      continue
    }
    const variable = /^(\s+)([^\s:]+):(\s+)(.*)$/.exec(line)
    if (variable && (masking < 0 || indent <= masking)) {
      const [, lead, name, gap, val] = variable as unknown as [string, string, string, string, string]
      const secret = SECRET_KEY.test(name) && !val.startsWith('<set to the key ')
      masking = secret ? indent : -1
      out.push(secret && val !== '' ? `${lead}${name}:${gap}${MASK}` : line)
    } else if (masking >= 0 && indent > masking) {
      out.push(`${' '.repeat(indent)}${MASK}`)
    } else {
      out.push(line)
    }
  }
  return maskText(out.join('\n'), secrets)
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
  /** The pods and logs already collected for the log; collected here when absent. */
  pods?: PodReport
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
 * logs/index.txt and logs/<ns>/<pod>/<container>[.previous].log (see pods.ts), helm-status.txt,
 * helm-values.yaml, prometheus-targets.json, prometheus-rules.json,
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
    mkdirSync(dirname(join(dir, name)), { recursive: true })
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
    jobs.push(write(`describe-pods-${ns}.txt`, async () => maskDescribe(await kc(['describe', 'pods', '-n', ns]), secrets)))
    jobs.push(write(`events-${ns}.txt`, () => kc(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp'])))
  }
  jobs.push(
    (async () => {
      const pods = d.pods ?? (await collectPods(kubectl, inputs, d.stack))
      // A pod not ready elsewhere (an operator in a namespace of its own) is described on its own.
      const elsewhere = pods.pods.filter((p) => !p.ready && !namespaces.includes(p.namespace))
      await Promise.all([
        ...elsewhere.map((p) =>
          write(`describe-pod-${p.namespace}-${p.name}.txt`, async () =>
            maskDescribe(await kc(['describe', 'pod', '-n', p.namespace, p.name]), secrets),
          ),
        ),
        write('logs/index.txt', async () => podIndex(pods)),
        ...pods.logs.map((log) => write(logFile(log), async () => log.text)),
      ])
    })(),
  )
  if (d.helm) {
    const helm = d.helm
    jobs.push(write('helm-status.txt', async () => (await helm.status(inputs.releaseName, inputs.namespace)).stdout))
    jobs.push(
      write('helm-values.yaml', async () => {
        const r = await helm.run(['get', 'values', inputs.releaseName, '-n', inputs.namespace, '--all', '-o', 'json'], {
          allowFailure: true,
        })
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
        const r = await kubectl.run(
          ['get', 'secret', '-n', namespace, `prometheus-${name}`, '-o', 'jsonpath={.data.prometheus\\.yaml\\.gz}'],
          { allowFailure: true },
        )
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

/** logs/index.txt: each pod collected, whether it is ready and why not, its log files; then what was not looked for. */
export function podIndex(report: PodReport): string {
  const lines = ['The pods of the release, its Prometheus and prometheus-operator, and their logs in this folder.', '']
  for (const pod of report.pods) {
    lines.push(`${pod.role} pod ${pod.namespace}/${pod.name}: ${pod.ready ? 'ready' : `NOT READY (${pod.phase}): ${pod.reason}`}`)
    for (const c of pod.containers) {
      const files = report.logs.filter((l) => l.pod === pod && l.container === c.name).map(logFile)
      const state = [
        c.init ? 'init container' : 'container',
        ...(c.restarts > 0 ? [`${c.restarts} restarts, last ${c.lastEnd}`] : []),
        ...(c.waiting ? [`waiting: ${c.waiting}`] : []),
      ]
      lines.push(`  ${c.name} (${state.join(', ')}): ${files.join(', ') || 'no log file'}`)
    }
  }
  if (report.pods.length === 0) lines.push('No pod found.')
  if (report.notes.length > 0) lines.push('', ...report.notes)
  return `${lines.join('\n')}\n`
}

/**
 * The run's diagnostics folder from what the run got to (nothing before kubectl is installed):
 * its path, or undefined. Never rejects: a failure to write is a warning.
 */
export async function saveDiagnostics(run: Run, pods?: PodReport): Promise<string | undefined> {
  if (!hasCluster(run)) return undefined
  const stack = hasStack(run) ? run.stack : undefined
  try {
    return await writeDiagnostics({
      kubectl: run.kubectl,
      helm: run.helm,
      inputs: run.inputs,
      secrets: secretValues(run.inputs.values),
      ...(pods ? { pods } : {}),
      ...(stack
        ? {
            stack,
            prometheusGet: (path: string) => prometheusRequest(run.kube, stack, { timeoutMs: 10_000 })(path, AbortSignal.timeout(15_000)),
          }
        : {}),
    })
  } catch (e) {
    core.warning(`Could not write the diagnostics folder: ${(e as Error).message}`)
    return undefined
  }
}
