// PromQL assertions for nightly jobs: each a query and a success condition in the shape of Argo
// Rollouts' Prometheus analysis, with its meaning: `count` measurements `interval` apart, of
// which `failureLimit` (default 0) may fail; or `within` for "keep trying until it holds, for
// this long". Evaluated after the Milvus target is up, all in parallel, each paced on the scrape
// interval, through the same Prometheus request as the target wait.
import { setTimeout as delay } from 'node:timers/promises'
import { isMap, isScalar, parseDocument, type Document } from 'yaml'
import { formatDuration, parseDuration } from '../budget.ts'
import { queryPath, type PrometheusRequest } from '../prometheus/api.ts'
import type { Comparison, Condition, Assertion, AssertionVerdict } from '../types.ts'
export type { Comparison, Condition, Assertion, AssertionVerdict }

const OP = '(==|!=|>=|<=|>|<)'
const NUM = '([-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|NaN|[-+]?Inf)'
const LEN = new RegExp(`^len\\(\\s*result\\s*\\)\\s*${OP}\\s*${NUM}$`)
const INDEX = new RegExp(`^result\\[\\s*(\\d+)\\s*\\]\\s*${OP}\\s*${NUM}$`)
const EVERY = new RegExp(`^(all|any)\\(\\s*result\\s*,\\s*\\{?\\s*#\\s*${OP}\\s*${NUM}\\s*\\}?\\s*\\)$`)

function number(s: string): number {
  if (s === 'NaN') return NaN
  if (/^[-+]?Inf$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity
  return Number(s)
}

/** Parses a successCondition (grammar at Condition); throws an Error naming the accepted forms. */
export function parseCondition(raw: string): Condition {
  const s = raw.trim()
  let m = LEN.exec(s)
  if (m) return { kind: 'len', op: m[1] as Comparison, value: number(m[2]!) }
  m = INDEX.exec(s)
  if (m) return { kind: 'index', index: Number(m[1]), op: m[2] as Comparison, value: number(m[3]!) }
  m = EVERY.exec(s)
  if (m) return { kind: m[1] as 'all' | 'any', op: m[2] as Comparison, value: number(m[3]!) }
  throw new Error(
    `successCondition ${JSON.stringify(raw)} is not understood; use 'len(result) > 0', 'result[0] >= 1', ` +
      `'all(result, # == 1)' or 'any(result, # > 0)' with one of == != > >= < <= and a number`,
  )
}

export function compare(a: number, op: Comparison, b: number): boolean {
  switch (op) {
    case '==':
      return a === b
    case '!=':
      return a !== b
    case '>':
      return a > b
    case '>=':
      return a >= b
    case '<':
      return a < b
    case '<=':
      return a <= b
  }
}

/** Whether `values` (one number per series, in the answer's order) satisfy `c`. */
export function holds(c: Condition, values: number[]): boolean {
  switch (c.kind) {
    case 'len':
      return compare(values.length, c.op, c.value)
    case 'index': {
      const v = values[c.index]
      return v !== undefined && compare(v, c.op, c.value)
    }
    case 'all':
      return values.length > 0 && values.every((v) => compare(v, c.op, c.value))
    case 'any':
      return values.some((v) => compare(v, c.op, c.value))
  }
}

/**
 * The sample values of an /api/v1/query answer: one per series of a vector, the value of a
 * scalar; throws for an error answer (with Prometheus' error) or a matrix/string result.
 */
export function resultValues(body: unknown): number[] {
  const b = (body ?? {}) as { status?: string; error?: string; errorType?: string; data?: { resultType?: string; result?: unknown } }
  if (b.status !== 'success') throw new Error(`Prometheus answered ${[b.errorType, b.error].filter(Boolean).join(': ') || 'no API answer'}`)
  const { resultType, result } = b.data ?? {}
  if (resultType === 'scalar') return [Number((result as [number, string])[1])]
  if (resultType === 'vector') return (result as Array<{ value: [number, string] }>).map((s) => Number(s.value[1]))
  throw new Error(`the query returns a ${resultType ?? 'missing'} result; assertions need an instant vector or a scalar`)
}

/** `${namespace}`, `${release}` and `${pool}` replaced; any other `${...}` is left as written. */
export function fillPlaceholders(query: string, p: { namespace: string; release: string; pool: string }): string {
  return query.replace(/\$\{(namespace|release|pool)\}/g, (_, k: 'namespace' | 'release' | 'pool') => p[k])
}

const KEYS = new Set(['name', 'query', 'successCondition', 'interval', 'count', 'failureLimit', 'within'])

/** `text` as a single-quoted YAML scalar. */
function singleQuoted(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/**
 * When item `i`'s successCondition was cut by a YAML comment (`all(result, # == 1)` unquoted
 * reads as `all(result,` and a comment), the problem naming it with the quoted form; else
 * undefined.
 */
function cutByComment(doc: Document, raw: string, i: number, at: string): string | undefined {
  const seq = doc.contents as { items?: unknown[] } | null
  const item = seq?.items?.[i]
  if (!isMap(item)) return undefined
  const node = item.get('successCondition', true)
  if (!isScalar(node) || node.comment === undefined || !node.range) return undefined
  const end = raw.indexOf('\n', node.range[0])
  const written = raw.slice(node.range[0], end === -1 ? undefined : end).trim()
  return (
    `${at}: successCondition ${JSON.stringify(String(node.value))} was cut by a YAML comment: an unquoted ' #' starts one, so ` +
    `${JSON.stringify(written.slice(String(node.value).length).trim())} never arrived. Quote the condition: successCondition: ${singleQuoted(written)}`
  )
}

/** A whole number >= `min`, as YAML gives it (a number, or digits in a string as Argo accepts). */
function wholeNumber(v: unknown, min: number): number | undefined {
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v
  return typeof n === 'number' && Number.isInteger(n) && n >= min ? n : undefined
}

/**
 * Parses the `assertions` input: a YAML list of {name?, query, successCondition, interval?,
 * count?, failureLimit? | within?}. Returns the assertions and one problem line per bad item
 * (empty when all are good); never throws. Durations are Go durations ('30s', '2m').
 */
export function parseAssertions(raw: string): { assertions: Assertion[]; problems: string[] } {
  if (raw.trim() === '') return { assertions: [], problems: [] }
  const doc = parseDocument(raw)
  if (doc.errors[0]) return { assertions: [], problems: [`assertions: the YAML does not parse: ${doc.errors[0].message.split('\n')[0]}`] }
  const list = doc.toJS() as unknown
  if (!Array.isArray(list))
    return {
      assertions: [],
      problems: [
        "assertions: expected a YAML list of {query, successCondition} items (e.g. '- query: up\\n  successCondition: result[0] == 1')",
      ],
    }
  const assertions: Assertion[] = []
  const problems: string[] = []
  list.forEach((item: unknown, i) => {
    const at = `assertions[${i}]`
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      return void problems.push(`${at}: expected a mapping with query and successCondition`)
    const o = item as Record<string, unknown>
    const unknown = Object.keys(o).filter((k) => !KEYS.has(k))
    if (unknown.length) problems.push(`${at}: unknown key(s) ${unknown.join(', ')}; accepted: ${[...KEYS].join(', ')}`)
    if (typeof o.query !== 'string' || o.query.trim() === '') return void problems.push(`${at}: query is missing`)
    if (typeof o.successCondition !== 'string') return void problems.push(`${at}: successCondition is missing (e.g. 'result[0] >= 1')`)
    let condition: Condition
    try {
      condition = parseCondition(o.successCondition)
    } catch (e) {
      return void problems.push(cutByComment(doc, raw, i, at) ?? `${at}: ${(e as Error).message}`)
    }
    const a: Assertion = {
      name: typeof o.name === 'string' && o.name !== '' ? o.name : o.query.trim(),
      query: o.query.trim(),
      successCondition: o.successCondition.trim(),
      condition,
    }
    const duration = (key: 'interval' | 'within'): number | undefined => {
      if (o[key] === undefined) return undefined
      try {
        const ms = parseDuration(String(o[key]))
        if (ms > 0) return ms
      } catch {
        // reported below
      }
      problems.push(`${at}: ${key} ${JSON.stringify(o[key])} is not a duration above zero such as '30s' or '2m'`)
      return undefined
    }
    a.intervalMs = duration('interval')
    a.withinMs = duration('within')
    if (o.count !== undefined) {
      a.count = wholeNumber(o.count, 1)
      if (a.count === undefined) problems.push(`${at}: count must be a whole number of measurements, at least 1`)
    }
    if (o.failureLimit !== undefined) {
      a.failureLimit = wholeNumber(o.failureLimit, 0)
      if (a.failureLimit === undefined) problems.push(`${at}: failureLimit must be a whole number of measurements that may fail, 0 or more`)
    }
    if (o.within !== undefined && (o.count !== undefined || o.failureLimit !== undefined)) {
      problems.push(
        `${at}: give either count (with interval and failureLimit: that many measurements, at most failureLimit failing) or within (keep trying until it holds), not both`,
      )
    } else if (a.withinMs === undefined && a.failureLimit !== undefined && a.failureLimit >= (a.count ?? 1)) {
      problems.push(
        `${at}: failureLimit ${a.failureLimit} lets all ${a.count ?? 1} measurement${(a.count ?? 1) === 1 ? '' : 's'} fail, so the assertion could never fail; ` +
          `set count (the number of measurements) above failureLimit, or use within to keep trying until it holds`,
      )
    }
    if (o.interval !== undefined && o.count === undefined && o.within === undefined) {
      problems.push(
        `${at}: interval needs count (that many measurements, interval apart) or within (keep trying for that long); without either there is one measurement`,
      )
    }
    assertions.push(a)
  })
  return { assertions, problems }
}

/** What an assertion expects, for the summary: the condition, and over how many measurements. */
export function expectedText(a: Assertion): string {
  if (a.withinMs !== undefined) return `${a.successCondition} within ${formatDuration(a.withinMs)}`
  const count = a.count ?? 1
  const limit = a.failureLimit ?? 0
  if (count === 1) return a.successCondition
  return limit === 0
    ? `${a.successCondition} in each of ${count} measurements`
    : `${a.successCondition} in ${count} measurements, at most ${limit} failing`
}

function showValues(values: number[]): string {
  return `[${values.map((v) => (Number.isNaN(v) ? 'NaN' : String(v))).join(', ')}]`
}

export interface EvaluateOptions {
  request: PrometheusRequest
  placeholders: { namespace: string; release: string; pool: string }
  /** The Milvus target's scrape interval, ms: the default pace between tries. */
  scrapeIntervalMs: number
  signal: AbortSignal
  requestTimeoutMs?: number
}

/**
 * Evaluates one assertion. With `within`: measures until the condition holds or the time is up.
 * Otherwise as Argo Rollouts' analysis: `count` measurements (1 by default), of which
 * `failureLimit` (0 by default) may fail; it stops as soon as the verdict cannot change (one
 * failure too many, or enough held that the rest cannot fail it). Measurements are `interval`
 * (default: the scrape interval) apart; a query Prometheus answers with an error is a failed
 * measurement. Never rejects for a failed query or a condition that does not hold: the verdict
 * says so. Rejects only on abort.
 */
export async function evaluateAssertion(a: Assertion, o: EvaluateOptions): Promise<AssertionVerdict> {
  const query = fillPlaceholders(a.query, o.placeholders)
  const interval = a.intervalMs ?? o.scrapeIntervalMs
  const deadline = a.withinMs !== undefined ? Date.now() + a.withinMs : undefined
  const count = deadline === undefined ? (a.count ?? 1) : Infinity
  const limit = deadline === undefined ? (a.failureLimit ?? 0) : Infinity
  const verdict: AssertionVerdict = {
    name: a.name,
    query,
    expected: expectedText(a),
    lastValue: '',
    held: false,
    measurements: 0,
    failures: 0,
  }
  for (;;) {
    verdict.measurements++
    let held = false
    try {
      const answer = await requestRetried(
        () => o.request(queryPath(query), AbortSignal.any([o.signal, AbortSignal.timeout(o.requestTimeoutMs ?? 10_000)])),
        o.signal,
      ).catch(errorAnswer)
      const values = resultValues(answer)
      verdict.lastValue = showValues(values)
      held = holds(a.condition, values)
    } catch (e) {
      o.signal.throwIfAborted()
      verdict.lastValue = `error: ${(e as Error).message}`
    }
    if (!held) verdict.failures++
    if (deadline !== undefined) {
      // within: the first measurement that holds decides.
      verdict.held = held
      if (held || Date.now() + interval > deadline) return verdict
    } else {
      if (verdict.failures > limit) return { ...verdict, held: false }
      if (verdict.failures + (count - verdict.measurements) <= limit) return { ...verdict, held: true }
    }
    await delay(interval, undefined, { signal: o.signal })
  }
}

/**
 * `fn` retried while it rejects (no answer: a Prometheus replica restarting behind the service
 * proxy answers 503), at most `tries` times 1 s apart: such a failure says nothing about the
 * assertion. A Prometheus answer, error or not, is returned as it is.
 */
export async function requestRetried<T>(fn: () => Promise<T>, signal: AbortSignal, tries = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn()
    } catch (e) {
      signal.throwIfAborted()
      const status = (e as { status?: unknown }).status
      if (i >= tries || (typeof status === 'number' && status >= 400 && status < 500)) throw e
      await delay(1000, undefined, { signal })
    }
  }
}

/**
 * Prometheus' own error answer carried by a rejected request (its 4xx/5xx body, as ApiError's
 * `body` holds it), so its `error` is what gets shown; rethrows anything else.
 */
export function errorAnswer(e: unknown): unknown {
  const body = (e as { body?: { status?: unknown } }).body
  if (body && typeof body === 'object' && body.status === 'error') return body
  throw e
}

/** Evaluates every assertion in parallel (see evaluateAssertion); verdicts in the input's order. */
export function evaluateAssertions(assertions: Assertion[], o: EvaluateOptions): Promise<AssertionVerdict[]> {
  return Promise.all(assertions.map((a) => evaluateAssertion(a, o)))
}

/** How the measurements of a verdict went, e.g. '2 of 3 measurements failed'. */
export function measured(v: AssertionVerdict): string {
  return `${v.failures} of ${v.measurements} measurement${v.measurements === 1 ? '' : 's'} failed`
}

/** Thrown after the summary is written when some assertion did not hold; lists every one. */
export class AssertionsFailed extends Error {
  constructor(failed: AssertionVerdict[]) {
    super(
      `${failed.length} PromQL assertion${failed.length === 1 ? '' : 's'} did not hold:\n` +
        failed.map((v) => `  - ${v.name}: expected ${v.expected}, ${measured(v)}, last value ${v.lastValue}`).join('\n'),
    )
    this.name = 'AssertionsFailed'
  }
}

/** Throws AssertionsFailed listing every verdict that did not hold; returns otherwise. */
export function requireAssertions(verdicts: AssertionVerdict[] | undefined): void {
  const failed = (verdicts ?? []).filter((v) => !v.held)
  if (failed.length > 0) throw new AssertionsFailed(failed)
}
