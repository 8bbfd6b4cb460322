import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import YAML from 'yaml'
import { layout } from '../../local-cluster/layout.ts'
import {
  groupsState,
  milvusPrometheusRule,
  milvusRuleGroups,
  RULE_INTERVAL,
  promDuration,
  readRuleFiles,
  rejectionEvents,
} from '../../src/mixin/alert-rules.ts'
import { ruleNamespace } from '../../src/mixin/alert-rules.ts'
import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import type { LabelSelector, PrometheusStack } from '../../src/types.ts'
import { labelsForSelector } from '../../src/prometheus/existing.ts'

const PROMTOOL = join(layout().binDir, 'promtool')

describe('the Milvus rules, with promtool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'))
  const rules = join(dir, 'milvus-alerts.yaml')
  writeFileSync(rules, YAML.stringify({ groups: milvusRuleGroups('milvus', 'my-release') }))

  it('promtool is built (bash local-cluster/build.sh promtool)', () => {
    expect(existsSync(PROMTOOL), `${PROMTOOL} is missing: run bash local-cluster/build.sh promtool`).toBe(true)
  })

  it.runIf(existsSync(PROMTOOL))('pass promtool check rules', () => {
    expect(execFileSync(PROMTOOL, ['check', 'rules', rules], { encoding: 'utf8' })).toMatch(/SUCCESS: 6 rules found/)
  })

  it.runIf(existsSync(PROMTOOL))('pass every promtool unit test, one or more per rule', () => {
    const tests = YAML.parse(readFileSync(join(import.meta.dirname, '..', 'rules', 'milvus-alerts.promtool.yaml'), 'utf8')) as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string }> }>
    }
    const tested = new Set(tests.tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)))
    expect([...tested].sort()).toEqual(
      milvusRuleGroups('milvus', 'my-release')[0]!
        .rules.map((r) => r.alert)
        .sort(),
    )
    const testFile = join(dir, 'milvus-alerts.test.yaml')
    writeFileSync(testFile, YAML.stringify({ rule_files: [rules], ...tests }))
    expect(execFileSync(PROMTOOL, ['test', 'rules', testFile], { encoding: 'utf8' })).toMatch(/SUCCESS/)
  })
})

describe('milvusRuleGroups', () => {
  it("tests MilvusRequestFailures on each of Milvus' status schemes", () => {
    const tests = YAML.parse(readFileSync(join(import.meta.dirname, '..', 'rules', 'milvus-alerts.promtool.yaml'), 'utf8')) as {
      tests: Array<{ input_series: Array<{ series: string }>; alert_rule_test: Array<{ alertname: string }> }>
    }
    const series = tests.tests
      .filter((t) => t.alert_rule_test.some((a) => a.alertname === 'MilvusRequestFailures'))
      .flatMap((t) => t.input_series.map((s) => s.series))
    for (const label of [
      'status="fail"}',
      'status="fail_input"',
      'status="fail_system"',
      'status="cancel"',
      'cause="user"',
      'cause="system"',
      'cause="cancel"',
    ]) {
      expect(
        series.some((s) => s.includes(label)),
        label,
      ).toBe(true)
    }
  })

  it('evaluates every scrape interval, not at the global 30 s', () => {
    expect(milvusRuleGroups('ns-a', 'rel-b').map((g) => g.interval)).toEqual([RULE_INTERVAL])
    expect(RULE_INTERVAL).toBe('10s')
  })

  it('scopes every expression to the release', () => {
    for (const r of milvusRuleGroups('ns-a', 'rel-b')[0]!.rules) {
      expect(r.expr, r.alert).toContain('namespace="ns-a", app_kubernetes_io_instance="rel-b"')
    }
  })

  it.each([
    [undefined, ['1m', '5m', '5m', '5m', '0s', '5m']],
    ['0s', Array(6).fill('0s')],
  ])('for override %s', (override, want) => {
    expect(milvusRuleGroups('m', 'r', override)[0]!.rules.map((r) => r.for)).toEqual(want)
  })
})

describe('labels and durations', () => {
  it.each([
    [{}, {}],
    [undefined, {}],
    [{ matchLabels: { role: 'alert-rules', team: 'db' } }, { role: 'alert-rules', team: 'db' }],
    [
      { matchLabels: { release: 'kps' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db', 'web'] }] },
      { release: 'kps', tier: 'db' },
    ],
  ])('a ruleSelector %j: the rule labels of the stack', (selector, want) => {
    expect(labelsForSelector(selector)).toEqual(want)
  })

  it('labels the PrometheusRule for the ruleSelector', () => {
    const obj = milvusPrometheusRule('milvus', 'milvus', 'my-release', { team: 'db' })
    expect(obj.metadata).toMatchObject({
      name: 'my-release-milvus-alerts',
      namespace: 'milvus',
      labels: { team: 'db', 'app.kubernetes.io/managed-by': 'milvus-monitoring-action' },
    })
  })

  it("in the Prometheus' own namespace: named for the release's namespace too, and selecting the release's namespace", () => {
    const [a, b] = ['ci-a', 'ci-b'].map((ns) => milvusPrometheusRule('monitoring', ns, 'my-release', {}))
    expect([a!.metadata.name, b!.metadata.name]).toEqual(['ci-a-my-release-milvus-alerts', 'ci-b-my-release-milvus-alerts'])
    expect(a!.metadata.namespace).toBe('monitoring')
    const groups = (a!.spec as { groups: Array<{ name: string; rules: Array<{ expr: string }> }> }).groups
    expect(groups[0]!.name).toBe('milvus-ci-a-my-release')
    for (const r of groups[0]!.rules) {
      expect(r.expr).toContain('namespace="ci-a"')
      expect(r.expr).not.toContain('namespace="monitoring"')
    }
  })

  it.each([
    [0, '0s'],
    [90_000, '90s'],
    [1500, '1500ms'],
  ])('promDuration(%d) = %s', (ms, want) => {
    expect(promDuration(ms)).toBe(want)
  })
})

describe('groupsState', () => {
  const obj = milvusPrometheusRule('milvus', 'milvus', 'rel', {})
  const file = '/etc/prometheus/rules/prometheus-k8s-rulefiles-0/milvus-rel-milvus-alerts-1234.yaml'
  const group = (health: string[], name = 'milvus-milvus-rel', f = file) => ({
    name,
    file: f,
    rules: health.map((h, i) => ({ name: `r${i}`, health: h, lastError: h === 'err' ? 'boom' : '' })),
  })
  it.each<[string, unknown[], string]>([
    ['no groups', [], 'missing'],
    ['the same group name from another file', [group(['ok'], 'milvus-milvus-rel', '/x/other-rel-milvus-alerts-1.yaml')], 'missing'],
    ['loaded, not evaluated', [group(['ok', 'unknown'])], 'pending'],
    ['a failing rule', [group(['ok', 'err'])], 'error'],
    ['healthy', [group(['ok', 'ok'])], 'ok'],
  ])('%s: %s', (_, groups, want) => {
    expect(groupsState(groups as never, obj).state).toBe(want)
  })
})

describe('rejectionEvents', () => {
  const ev = (type: string, kind: string, name: string, at: string) => ({
    metadata: { name: 'e' },
    type,
    reason: 'InvalidConfiguration',
    message: `PrometheusRule ${name} was rejected`,
    involvedObject: { kind, name },
    eventTime: at,
  })
  it.each<[string, unknown, number]>([
    ['a recent warning on the rule', ev('Warning', 'PrometheusRule', 'r', '2026-01-01T00:01:00Z'), 1],
    ['an older one', ev('Warning', 'PrometheusRule', 'r', '2025-12-31T23:00:00Z'), 0],
    ['a Normal event', ev('Normal', 'PrometheusRule', 'r', '2026-01-01T00:01:00Z'), 0],
    ['another kind', ev('Warning', 'ServiceMonitor', 'r', '2026-01-01T00:01:00Z'), 0],
    ['another rule', ev('Warning', 'PrometheusRule', 'x', '2026-01-01T00:01:00Z'), 0],
  ])('%s', (_, e, n) => {
    expect(rejectionEvents([e as never], 'r', Date.parse('2026-01-01T00:00:00Z'))).toHaveLength(n)
  })
})

describe('readRuleFiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'user-rules-'))
  const write = (name: string, text: string) => {
    const p = join(dir, name)
    writeFileSync(p, text)
    return p
  }
  it('reads every document, defaulting the namespace', () => {
    const p = write(
      'ok.yaml',
      'apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: a}\nspec: {groups: []}\n---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: b, namespace: other}\nspec: {groups: []}\n',
    )
    expect(readRuleFiles([p], 'milvus').map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['milvus/a', 'other/b'])
  })
  it.each([
    ['not-a-rule.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n', /document 1 of .* is not a PrometheusRule/],
    ['bad.yaml', 'a: [\n', /does not parse/],
  ])('%s', (name, text, err) => {
    expect(() => readRuleFiles([write(name, text)], 'milvus')).toThrow(err)
  })
})

describe('where the rules go', () => {
  const stack = (ruleNamespaceSelector: LabelSelector | null): PrometheusStack => ({
    ...KUBE_PROMETHEUS_STACK,
    namespace: 'kps',
    name: 'kps',
    ruleNamespaceSelector,
  })
  it("every namespace ({}): the release's", () => {
    expect(ruleNamespace(stack({}), 'milvus', {})).toBe('milvus')
  })
  it("an unset selector: the operator reads only the Prometheus' own namespace, so the rules go there", () => {
    expect(ruleNamespace(stack(null), 'milvus', {})).toBe('kps')
  })
  it('a selector the namespace meets (by label, or by its name label)', () => {
    expect(ruleNamespace(stack({ matchLabels: { team: 'db' } }), 'milvus', { team: 'db' })).toBe('milvus')
    expect(
      ruleNamespace(
        stack({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['milvus'] }] }),
        'milvus',
        undefined,
      ),
    ).toBe('milvus')
  })
  it('a selector the namespace does not meet: refused, naming the selector and the fix', () => {
    expect(() => ruleNamespace(stack({ matchLabels: { monitoring: 'on' } }), 'milvus', { team: 'db' })).toThrow(
      /Prometheus kps\/kps reads PrometheusRules only in namespaces labelled monitoring=on, and namespace milvus is not: label it/,
    )
  })
})
