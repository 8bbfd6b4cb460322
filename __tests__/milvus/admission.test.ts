import { describe, expect, it } from 'vitest'
import {
  admissionTargets,
  collectionPath,
  deadWebhookProblems,
  dryRunRefusal,
  resourceOf,
  webhookIntercepts,
  type AdmissionTarget,
  type WebhookSpec,
} from '../../src/milvus/admission.ts'

const rule: AdmissionTarget = {
  what: 'the alert rules',
  group: 'monitoring.coreos.com',
  resource: 'prometheusrules',
  labels: { release: 'kps' },
}
const pods: AdmissionTarget = { what: 'the pods of Deployment r', group: '', resource: 'pods', labels: { app: 'milvus' } }
const hook = (over: Partial<WebhookSpec> = {}): WebhookSpec => ({
  name: 'prometheusrulemutate.monitoring.coreos.com',
  clientConfig: { service: { namespace: 'gone', name: 'kps-operator' } },
  rules: [{ apiGroups: ['monitoring.coreos.com'], resources: ['prometheusrules'], operations: ['CREATE', 'UPDATE'] }],
  ...over,
})

describe('resourceOf', () => {
  it.each([
    ['Deployment', 'deployments'],
    ['NetworkPolicy', 'networkpolicies'],
    ['PodDisruptionBudget', 'poddisruptionbudgets'],
    ['Ingress', 'ingresses'],
    ['ConfigMap', 'configmaps'],
    ['ServiceMonitor', 'servicemonitors'],
  ])('%s is served as %s', (kind, resource) => expect(resourceOf(kind)).toBe(resource))

  it('builds the collection path of core and grouped kinds', () => {
    expect(collectionPath('v1', 'ConfigMap', 'ns')).toBe('/api/v1/namespaces/ns/configmaps')
    expect(collectionPath('apps/v1', 'StatefulSet', 'ns')).toBe('/apis/apps/v1/namespaces/ns/statefulsets')
  })
})

describe('admissionTargets', () => {
  it('adds the pods of each workload with its template labels', () => {
    const t = admissionTargets([
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { metadata: { labels: { a: 'b' } } } } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } },
    ])
    expect(t.map((x) => `${x.group}/${x.resource}`)).toEqual(['apps/deployments', '/pods', '/configmaps'])
    expect(t[1]!.labels).toEqual({ a: 'b' })
  })
})

describe('webhookIntercepts', () => {
  it.each([
    ['its group and resource on CREATE', hook(), rule, true],
    ['another resource', hook(), pods, false],
    ['UPDATE only', hook({ rules: [{ apiGroups: ['*'], resources: ['*'], operations: ['UPDATE'] }] }), rule, false],
    ['wildcards', hook({ rules: [{ apiGroups: ['*'], resources: ['*'], operations: ['*'] }] }), pods, true],
    ['a subresource rule', hook({ rules: [{ apiGroups: [''], resources: ['pods/status'], operations: ['CREATE'] }] }), pods, false],
    ['a namespaceSelector the namespace fails', hook({ namespaceSelector: { matchLabels: { team: 'x' } } }), rule, false],
    ['a namespaceSelector the namespace meets', hook({ namespaceSelector: { matchLabels: { team: 'ml' } } }), rule, true],
    ['an objectSelector the object fails', hook({ objectSelector: { matchLabels: { release: 'other' } } }), rule, false],
  ])('%s', (_, w, t, expected) => expect(webhookIntercepts(w, t, { team: 'ml' })).toBe(expected))
})

describe('deadWebhookProblems', () => {
  const conf = (w: WebhookSpec) => [{ kind: 'MutatingWebhookConfiguration' as const, name: 'kps-admission', webhooks: [w] }]

  it('names the configuration, the webhook, what it intercepts, its Service and the fix', () => {
    const [p, ...rest] = deadWebhookProblems(conf(hook()), [rule, pods], {}, () => 'missing')
    expect(rest).toEqual([])
    expect(p).toMatch(/^MutatingWebhookConfiguration kps-admission, webhook "prometheusrulemutate.monitoring.coreos.com"/)
    expect(p).toMatch(/the alert rules/)
    expect(p).toMatch(/its Service gone\/kps-operator does not exist/)
    expect(p).toMatch(/kubectl delete mutatingwebhookconfiguration kps-admission/)
  })

  it('says when the Service has no ready endpoint', () => {
    expect(deadWebhookProblems(conf(hook()), [rule], {}, () => 'no endpoint')[0]).toMatch(/has no ready endpoint/)
  })

  it.each([
    ['a Service that answers', hook(), () => 'ok' as const],
    ['failurePolicy Ignore', hook({ failurePolicy: 'Ignore' }), () => 'missing' as const],
    ['a URL webhook', hook({ clientConfig: { url: 'https://x' } }), () => 'missing' as const],
  ])('%s is no problem', (_, w, state) => expect(deadWebhookProblems(conf(w), [rule], {}, state)).toEqual([]))
})

describe('dryRunRefusal', () => {
  it.each([
    ['a webhook denial', 'admission webhook "deny.example.com" denied the request: no', /webhook "deny.example.com" refuses it/],
    [
      'a webhook that does not answer',
      'Internal error occurred: failed calling webhook "x.example.com": service "gone/svc" not found',
      /"x.example.com" does not answer/,
    ],
    [
      'a ValidatingAdmissionPolicy',
      "configmaps \"c\" is forbidden: ValidatingAdmissionPolicy 'no-cm' with binding 'no-cm-b' denied request: nope",
      /ValidatingAdmissionPolicy no-cm \(binding no-cm-b\)/,
    ],
    ['a LimitRange minimum', 'pods "p" is forbidden: minimum cpu usage per Container is 2, but request is 100m', /LimitRange/],
    ['a LimitRange maximum', 'pods "p" is forbidden: maximum memory usage per Container is 64Mi, but limit is 1Gi', /LimitRange/],
    ['a quota', 'pods "p" is forbidden: exceeded quota: q, requested: pods=1', /ResourceQuota/],
    ['Pod Security', 'pods "p" is forbidden: violates PodSecurity "restricted:latest": ...', /Pod Security/],
  ])('%s is named with the fix', (_, message, fix) => {
    const r = dryRunRefusal('Pod of Deployment d', message)
    expect(r).toMatch(/^Pod of Deployment d: /)
    expect(r).toMatch(fix)
  })

  it.each([
    ['a webhook that cannot dry-run', 'admission webhook "x" does not support dry run'],
    [
      'a ServiceAccount the release creates',
      'pods "p" is forbidden: error looking up service account ns/sa: serviceaccount "sa" not found',
    ],
    ['a conflict', 'Operation cannot be fulfilled: the object has been modified'],
  ])('%s is not a refusal', (_, message) => expect(dryRunRefusal('x', message)).toBeUndefined())
})
