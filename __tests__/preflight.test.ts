import { describe, expect, it } from 'vitest'
import { parseInputs } from '../src/inputs.ts'
import { describePermission, neededPermissions, type NamespaceState } from '../src/preflight.ts'
import { prometheusSource } from '../src/prometheus/index.ts'

const inputs = (given: Record<string, string>) =>
  parseInputs(
    (name) => given[name] ?? '',
    () => undefined,
  )

const needed = (given: Record<string, string>, namespace: NamespaceState = 'exists') => {
  const i = inputs({ namespace: 'team', ...given })
  return neededPermissions(i, prometheusSource(i), namespace).map(describePermission)
}

const NAMED = { 'install-kube-prometheus': 'false', prometheus: 'monitoring/k8s', 'prometheus-rbac': 'false' }

describe('neededPermissions', () => {
  it('a namespace admin with a named Prometheus: nothing cluster-wide, the Prometheus read in its namespace alone', () => {
    const all = needed(NAMED)
    expect(all.filter((p) => p.endsWith('(cluster-wide)'))).toEqual([])
    expect(all.filter((p) => !p.endsWith('in namespace team'))).toEqual([
      'get prometheuses.monitoring.coreos.com in namespace monitoring',
      'list prometheuses.monitoring.coreos.com in namespace monitoring',
      'watch prometheuses.monitoring.coreos.com in namespace monitoring',
      'list services in namespace monitoring',
      'list pods in namespace monitoring',
      'get namespaces in namespace monitoring',
      'get pods/proxy in namespace monitoring',
      'get services/proxy in namespace monitoring',
      'create pods/portforward in namespace monitoring',
    ])
    expect(all).not.toContain('create roles.rbac.authorization.k8s.io in namespace team')
  })

  it('creating the namespace is asked only when it is not there (or not readable)', () => {
    expect(needed(NAMED, 'exists')).not.toContain('create namespaces (cluster-wide)')
    expect(needed(NAMED, 'missing')).toContain('create namespaces (cluster-wide)')
    expect(needed(NAMED, 'unknown')).toContain('create namespaces (cluster-wide)')
  })

  it('an unnamed Prometheus is looked for cluster-wide; prometheus-rbac adds the Role', () => {
    expect(needed({ 'install-kube-prometheus': 'false' })).toEqual(
      expect.arrayContaining([
        'list prometheuses.monitoring.coreos.com (cluster-wide)',
        'create roles.rbac.authorization.k8s.io in namespace team',
      ]),
    )
  })

  it('expose none asks no port-forward; kube-prometheus asks for its cluster-wide objects', () => {
    expect(needed({ ...NAMED, expose: 'none' }).filter((p) => p.includes('portforward'))).toEqual([])
    expect(needed({})).toEqual(
      expect.arrayContaining([
        'create customresourcedefinitions.apiextensions.k8s.io (cluster-wide)',
        'create clusterroles.rbac.authorization.k8s.io (cluster-wide)',
      ]),
    )
  })

  it('asks nothing of the alert rules or the drill: where they go is known only from the Prometheus (preflightStack)', () => {
    const all = needed({ ...NAMED, 'alert-drill': 'true' })
    expect(all.filter((p) => p.includes('prometheusrules') || p.includes('services/proxy in namespace team'))).toEqual([])
  })
})
