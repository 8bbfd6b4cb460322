import { describe, expect, it } from 'vitest'
import { mixinPermissions, rulesNamespaceOf } from '../../src/mixin/access.ts'
import type { StackRun } from '../../src/context.ts'
import { ruleSelectorProblem } from '../../src/mixin/alert-rules.ts'
import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import type { LabelSelector } from '../../src/types.ts'
import { describePermission } from '../../src/preflight.ts'

const asked = (what: { rules: boolean; drill: boolean }, rules: string, am?: string) =>
  mixinPermissions(what, rules, am).map(describePermission)

describe('mixinPermissions', () => {
  it('rules alone: create where the Prometheus reads them, nothing of the Alertmanager', () => {
    expect(asked({ rules: true, drill: false }, 'monitoring', 'monitoring')).toEqual([
      'create prometheusrules.monitoring.coreos.com in namespace monitoring',
    ])
  })

  it('nothing without rules or drill', () => {
    expect(asked({ rules: false, drill: false }, 'team', 'monitoring')).toEqual([])
  })

  it("the drill: its rule created and deleted, and in the Alertmanager's namespace what the silence and the replicas take", () => {
    expect(asked({ rules: false, drill: true }, 'team', 'alerting')).toEqual([
      'create prometheusrules.monitoring.coreos.com in namespace team',
      'delete prometheusrules.monitoring.coreos.com in namespace team',
      'get services in namespace alerting',
      'create services/proxy in namespace alerting',
      'get services/proxy in namespace alerting',
      'delete services/proxy in namespace alerting',
      'list endpointslices.discovery.k8s.io in namespace alerting',
      'create pods/proxy in namespace alerting',
      'get pods/proxy in namespace alerting',
    ])
  })

  it('every permission is one the Role of docs/permissions.md for the drill grants', async () => {
    const { readFileSync } = await import('node:fs')
    const { parse } = await import('yaml')
    const doc = readFileSync(new URL('../../docs/permissions.md', import.meta.url), 'utf8')
    const section = doc.slice(doc.indexOf('\n## The alert fire drill\n'))
    const role = parse(/```yaml\n([\s\S]*?)---/.exec(section)![1]!) as {
      rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>
    }
    const drill = mixinPermissions({ rules: false, drill: true }, 'team', 'monitoring').filter((p) => p.namespace === 'monitoring')
    // The reader Role of a namespace admin grants `get services`; the drill's Role adds the rest.
    for (const p of drill.filter((x) => x.resource !== 'services' || x.subresource)) {
      const resource = p.subresource ? `${p.resource}/${p.subresource}` : p.resource
      expect(
        role.rules.some((r) => r.apiGroups.includes(p.group) && r.resources.includes(resource) && r.verbs.includes(p.verb)),
        describePermission(p),
      ).toBe(true)
    }
  })
})

describe('ruleSelectorProblem', () => {
  const stack = (ruleSelector: LabelSelector | null, ruleLabels: Record<string, string> = {}) => ({
    ...KUBE_PROMETHEUS_STACK,
    namespace: 'kps',
    name: 'kps',
    ruleSelector,
    ruleLabels,
  })

  it('none for a selector the labels the action copies meet', () => {
    expect(ruleSelectorProblem(KUBE_PROMETHEUS_STACK)).toBeUndefined()
    expect(ruleSelectorProblem(stack({ matchLabels: { release: 'kps' } }, { release: 'kps' }))).toBeUndefined()
    expect(ruleSelectorProblem(stack({}))).toBeUndefined()
  })

  it('an unset ruleSelector selects no PrometheusRule: named, with the fix', () => {
    expect(ruleSelectorProblem(stack(null))).toMatch(
      /^Prometheus kps\/kps has no spec.ruleSelector, so prometheus-operator gives it no PrometheusRule .*set alert-rules: false and alert-drill: false$/,
    )
  })

  it("a selector that excludes the action's own labels: named with the selector", () => {
    const excluding = {
      matchExpressions: [{ key: 'app.kubernetes.io/managed-by', operator: 'NotIn', values: ['milvus-monitoring-action'] }],
    }
    expect(ruleSelectorProblem(stack(excluding))).toMatch(
      /selects PrometheusRules labelled app.kubernetes.io\/managed-by notin \(milvus-monitoring-action\)/,
    )
  })
})

describe('rulesNamespaceOf, before the release namespace exists', () => {
  const byLabel = { matchLabels: { 'app.kubernetes.io/managed-by': 'milvus-monitoring-action' } }
  const run = (ns: unknown, installMilvus = true) =>
    ({
      kube: { find: async () => ns },
      inputs: { namespace: 'team', installMilvus },
      stack: { ...KUBE_PROMETHEUS_STACK, namespace: 'kps', name: 'kps', ruleNamespaceSelector: byLabel },
    }) as unknown as StackRun

  it('judges a namespace this run will create by the labels it creates it with', async () => {
    expect(await rulesNamespaceOf(run(undefined))).toBe('team')
  })

  it('judges one that is there by its own labels', async () => {
    await expect(rulesNamespaceOf(run({ metadata: { name: 'team', labels: {} } }))).rejects.toThrow(
      /reads PrometheusRules only in namespaces labelled app.kubernetes.io\/managed-by=milvus-monitoring-action, and namespace team is not/,
    )
  })
})
