import { describe, expect, it } from 'vitest'
import {
  AssertionsFailed,
  evaluateAssertion,
  expectedText,
  fillPlaceholders,
  holds,
  parseAssertions,
  parseCondition,
  requireAssertions,
  resultValues,
  type Condition,
} from '../../src/mixin/assertions.ts'

describe('parseCondition', () => {
  it.each<[string, Condition]>([
    ['len(result) > 0', { kind: 'len', op: '>', value: 0 }],
    ['len( result )==3', { kind: 'len', op: '==', value: 3 }],
    ['result[0] >= 1', { kind: 'index', index: 0, op: '>=', value: 1 }],
    ['result[2] != 0.5', { kind: 'index', index: 2, op: '!=', value: 0.5 }],
    ['all(result, # == 1)', { kind: 'all', op: '==', value: 1 }],
    ['all(result, {# < 100})', { kind: 'all', op: '<', value: 100 }],
    ['any(result, # <= -1e3)', { kind: 'any', op: '<=', value: -1000 }],
    ['result[0] < +Inf', { kind: 'index', index: 0, op: '<', value: Infinity }],
  ])('%s', (raw, want) => {
    expect(parseCondition(raw)).toEqual(want)
  })

  it.each(['result > 1', 'len(result)', 'result[0] = 1', 'all(result, # == "v2")', 'result[-1] == 1', ''])(
    'refuses %j, naming the accepted forms',
    (raw) => {
      expect(() => parseCondition(raw)).toThrow(/len\(result\) > 0.*result\[0\] >= 1.*all\(result, # == 1\)/)
    },
  )
})

describe('holds', () => {
  it.each<[string, number[], boolean]>([
    ['len(result) > 0', [], false],
    ['len(result) > 0', [0], true],
    ['result[0] >= 1', [1], true],
    ['result[0] >= 1', [0.5], false],
    ['result[1] == 1', [1], false], // a missing series fails
    ['all(result, # == 1)', [1, 1, 1], true],
    ['all(result, # == 1)', [1, 0], false],
    ['all(result, # == 1)', [], false], // "every series" of nothing is not evidence
    ['any(result, # > 0)', [0, 2], true],
    ['any(result, # > 0)', [], false],
    ['result[0] == 0', [NaN], false],
  ])('%s over %j: %s', (cond, values, want) => {
    expect(holds(parseCondition(cond), values)).toBe(want)
  })
})

describe('resultValues', () => {
  it.each<[string, unknown, number[]]>([
    [
      'a vector',
      {
        status: 'success',
        data: {
          resultType: 'vector',
          result: [
            { metric: {}, value: [1, '1'] },
            { metric: {}, value: [1, '0.25'] },
          ],
        },
      },
      [1, 0.25],
    ],
    ['an empty vector', { status: 'success', data: { resultType: 'vector', result: [] } }, []],
    ['a scalar', { status: 'success', data: { resultType: 'scalar', result: [1, '3'] } }, [3]],
    ['NaN', { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, 'NaN'] }] } }, [NaN]],
  ])('%s', (_, body, want) => {
    expect(resultValues(body)).toEqual(want)
  })

  it.each<[string, unknown, RegExp]>([
    ['an error answer', { status: 'error', errorType: 'bad_data', error: 'parse error' }, /bad_data: parse error/],
    ['a matrix', { status: 'success', data: { resultType: 'matrix', result: [] } }, /matrix result/],
    ['nothing', undefined, /no API answer/],
  ])('throws for %s', (_, body, err) => {
    expect(() => resultValues(body)).toThrow(err)
  })
})

describe('fillPlaceholders', () => {
  it.each([
    ['up{namespace="${namespace}"}', 'up{namespace="milvus"}'],
    [
      'x{app_kubernetes_io_instance="${release}", job=~"${pool}"}',
      'x{app_kubernetes_io_instance="rel", job=~"serviceMonitor/milvus/sm/0"}',
    ],
    ['${other} stays', '${other} stays'],
  ])('%s', (q, want) => {
    expect(fillPlaceholders(q, { namespace: 'milvus', release: 'rel', pool: 'serviceMonitor/milvus/sm/0' })).toBe(want)
  })
})

describe('parseAssertions', () => {
  it('reads names, conditions and durations', () => {
    const { assertions, problems } = parseAssertions(
      '- name: every component up\n  query: min(up{namespace="${namespace}"})\n  successCondition: result[0] == 1\n  within: 2m\n' +
        '- query: count(milvus_build_info)\n  successCondition: len(result) > 0\n  interval: 10s\n  count: 3\n',
    )
    expect(problems).toEqual([])
    expect(assertions.map((a) => [a.name, a.withinMs, a.intervalMs, a.count])).toEqual([
      ['every component up', 120_000, undefined, undefined],
      ['count(milvus_build_info)', undefined, 10_000, 3],
    ])
  })

  it.each<[string, RegExp]>([
    ['query: up', /expected a YAML list/],
    ['- successCondition: result[0] == 1', /assertions\[0\]: query is missing/],
    ['- query: up', /assertions\[0\]: successCondition is missing/],
    ['- query: up\n  successCondition: result == 1', /assertions\[0\]: successCondition "result == 1" is not understood/],
    ['- query: up\n  successCondition: len(result) > 0\n  within: soon', /within "soon" is not a duration/],
    ['- query: up\n  successCondition: len(result) > 0\n  count: 0', /count must be a whole number/],
    ['- query: up\n  successCondition: len(result) > 0\n  count: 2\n  within: 1m', /either count .* or within/],
    ['- query: up\n  successCondition: len(result) > 0\n  failureLimit: 1\n  within: 1m', /either count .* or within/],
    ['- query: up\n  successCondition: len(result) > 0\n  count: 3\n  failureLimit: -1', /failureLimit must be a whole number/],
    [
      '- query: up\n  successCondition: len(result) > 0\n  count: 3\n  failureLimit: 3',
      /failureLimit 3 lets all 3 measurements fail, so the assertion could never fail; set count/,
    ],
    ['- query: up\n  successCondition: len(result) > 0\n  interval: 5m\n  failureLimit: 3', /failureLimit 3 lets all 1 measurement fail/],
    ['- query: up\n  successCondition: len(result) > 0\n  interval: 30s', /interval needs count .* or within/],
    ['- query: up\n  successCondition: len(result) > 0\n  timeout: 1m', /unknown key\(s\) timeout/],
    ['- [', /does not parse/],
  ])('%j: %s', (raw, problem) => {
    expect(parseAssertions(raw).problems.join('\n')).toMatch(problem)
  })

  it("takes Argo Rollouts' count and failureLimit, numbers or digit strings", () => {
    const { assertions, problems } = parseAssertions(
      '- query: up\n  successCondition: result[0] == 1\n  interval: 30s\n  count: "5"\n  failureLimit: 2\n',
    )
    expect(problems).toEqual([])
    expect(assertions[0]).toMatchObject({ intervalMs: 30_000, count: 5, failureLimit: 2 })
  })

  it('names a condition cut by a YAML comment, with the quoted form to use', () => {
    const { problems } = parseAssertions(
      '- name: all up\n  query: up\n  successCondition: all(result, # == 1)\n  within: 2m\n- query: up\n  successCondition: any(result, # > 0)',
    )
    expect(problems).toEqual([
      `assertions[0]: successCondition "all(result," was cut by a YAML comment: an unquoted ' #' starts one, so "# == 1)" never arrived. ` +
        `Quote the condition: successCondition: 'all(result, # == 1)'`,
      `assertions[1]: successCondition "any(result," was cut by a YAML comment: an unquoted ' #' starts one, so "# > 0)" never arrived. ` +
        `Quote the condition: successCondition: 'any(result, # > 0)'`,
    ])
  })

  it('accepts the quoted forms, braces, and a comment after a whole condition', () => {
    const { assertions, problems } = parseAssertions(
      '- query: up\n  successCondition: \'all(result, # == 1)\'\n- query: up\n  successCondition: "any(result, # > 0)"\n' +
        '- query: up\n  successCondition: all(result, {# > 0})\n- query: up\n  successCondition: result[0] == 1 # the first series\n',
    )
    expect(problems).toEqual([])
    expect(assertions.map((a) => a.condition.kind)).toEqual(['all', 'any', 'all', 'index'])
  })

  it.each<[string, string]>([
    ['', 'result[0] == 1'],
    ['  count: 1\n', 'result[0] == 1'],
    ['  count: 3\n', 'result[0] == 1 in each of 3 measurements'],
    ['  count: 3\n  failureLimit: 1\n', 'result[0] == 1 in 3 measurements, at most 1 failing'],
    ['  within: 90s\n', 'result[0] == 1 within 1m 30s'],
  ])('expected text for %j: %s', (extra, want) => {
    expect(expectedText(parseAssertions(`- query: up\n  successCondition: result[0] == 1\n${extra}`).assertions[0]!)).toBe(want)
  })

  it('is empty for an empty input', () => {
    expect(parseAssertions('  ')).toEqual({ assertions: [], problems: [] })
  })
})

describe('evaluateAssertion', () => {
  const vector = (...v: number[]) => ({
    status: 'success',
    data: { resultType: 'vector', result: v.map((x) => ({ metric: {}, value: [0, String(x)] })) },
  })
  const opts = (answers: unknown[]) => {
    const sent: string[] = []
    return {
      sent,
      o: {
        request: async (p: string) => {
          sent.push(decodeURIComponent(p))
          return answers.length > 1 ? answers.shift() : answers[0]
        },
        placeholders: { namespace: 'ns', release: 'rel', pool: 'pool' },
        scrapeIntervalMs: 5,
        signal: new AbortController().signal,
      },
    }
  }
  const one = (yaml: string) => parseAssertions(yaml).assertions[0]!

  it('one measurement by default, the query sent with placeholders filled', async () => {
    const { sent, o } = opts([vector(0)])
    const v = await evaluateAssertion(one('- query: up{namespace="${namespace}"}\n  successCondition: result[0] == 1'), o)
    expect(v).toMatchObject({ held: false, measurements: 1, failures: 1, lastValue: '[0]', expected: 'result[0] == 1' })
    expect(sent).toEqual(['/api/v1/query?query=up{namespace="ns"}'])
  })

  it('within: keeps trying until it holds', async () => {
    const { o } = opts([vector(0), vector(0), vector(1)])
    const v = await evaluateAssertion(one('- query: up\n  successCondition: result[0] == 1\n  within: 5s'), o)
    expect(v).toMatchObject({ held: true, measurements: 3, failures: 2, lastValue: '[1]', expected: 'result[0] == 1 within 5s' })
  })

  it('within: does not hold when the time is up first', async () => {
    const { o } = opts([vector(0)])
    const v = await evaluateAssertion(one('- query: up\n  successCondition: result[0] == 1\n  within: 50ms\n  interval: 10ms'), o)
    expect(v.held).toBe(false)
    expect(v.measurements).toBeGreaterThan(1)
    expect(v.failures).toBe(v.measurements)
  })

  it('count: every one of count measurements must hold (failureLimit 0)', async () => {
    const { sent, o } = opts([vector(1), vector(1), vector(1)])
    const v = await evaluateAssertion(one('- query: up\n  successCondition: result[0] == 1\n  count: 3\n  interval: 1ms'), o)
    expect(v).toMatchObject({ held: true, measurements: 3, failures: 0 })
    expect(sent).toHaveLength(3)
  })

  it('count: one failed measurement fails it at once, though a later one would hold', async () => {
    const { sent, o } = opts([vector(1), vector(0), vector(1)])
    const v = await evaluateAssertion(one('- query: up\n  successCondition: result[0] == 1\n  count: 3\n  interval: 1ms'), o)
    expect(v).toMatchObject({ held: false, measurements: 2, failures: 1, lastValue: '[0]' })
    expect(sent).toHaveLength(2)
  })

  it('failureLimit: that many measurements may fail', async () => {
    const { o } = opts([vector(0), vector(1), vector(0), vector(1)])
    const v = await evaluateAssertion(
      one('- query: up\n  successCondition: result[0] == 1\n  count: 4\n  failureLimit: 2\n  interval: 1ms'),
      o,
    )
    expect(v).toMatchObject({ held: true, measurements: 4, failures: 2 })
  })

  it('failureLimit: one failure more fails it, without the remaining measurements', async () => {
    const { sent, o } = opts([vector(0), vector(0), vector(1)])
    const v = await evaluateAssertion(
      one('- query: up\n  successCondition: result[0] == 1\n  count: 5\n  failureLimit: 1\n  interval: 1ms'),
      o,
    )
    expect(v).toMatchObject({ held: false, measurements: 2, failures: 2 })
    expect(sent).toHaveLength(2)
  })

  it('failureLimit count-1: the first measurement that holds decides', async () => {
    const { sent, o } = opts([vector(0), vector(1), vector(0)])
    const v = await evaluateAssertion(
      one('- query: up\n  successCondition: result[0] == 1\n  count: 3\n  failureLimit: 2\n  interval: 1ms'),
      o,
    )
    expect(v).toMatchObject({ held: true, measurements: 2, failures: 1 })
    expect(sent).toHaveLength(2)
  })

  it('a query error is a failed measurement, not a rejection', async () => {
    const { o } = opts([{ status: 'error', errorType: 'bad_data', error: '1:3: parse error' }])
    const v = await evaluateAssertion(one('- query: up{\n  successCondition: len(result) > 0'), o)
    expect(v).toMatchObject({ held: false, failures: 1, lastValue: 'error: Prometheus answered bad_data: 1:3: parse error' })
  })
})

describe('requireAssertions', () => {
  it('lists every assertion that did not hold', () => {
    const v = (name: string, held: boolean) => ({
      name,
      query: name,
      expected: 'result[0] == 1',
      lastValue: '[0]',
      held,
      measurements: 1,
      failures: held ? 0 : 1,
    })
    expect(() => requireAssertions([v('a', true)])).not.toThrow()
    expect(() => requireAssertions([v('a', false), v('b', true), v('c', false)])).toThrow(AssertionsFailed)
    expect(() => requireAssertions([v('a', false), v('c', false)])).toThrow(
      /2 PromQL assertions did not hold:\n {2}- a: expected result\[0\] == 1, 1 of 1 measurement failed, last value \[0\]\n {2}- c:/,
    )
  })
})
