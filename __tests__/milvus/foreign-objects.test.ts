import { describe, expect, it } from 'vitest'
import { foreignObjectProblem, ownedByRelease, ownerOf } from '../../src/milvus/foreign-objects.ts'

const helmOf = (release: string, namespace = 'milvus') => ({
  name: 'r-milvus',
  labels: { 'app.kubernetes.io/managed-by': 'Helm' },
  annotations: { 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': namespace },
})

describe('ownedByRelease', () => {
  it('is true only for the release of that name in that namespace, managed by Helm', () => {
    expect(ownedByRelease(helmOf('r'), 'r', 'milvus')).toBe(true)
    expect(ownedByRelease(helmOf('other'), 'r', 'milvus')).toBe(false)
    expect(ownedByRelease(helmOf('r', 'elsewhere'), 'r', 'milvus')).toBe(false)
    expect(ownedByRelease({ name: 'r-milvus' }, 'r', 'milvus')).toBe(false)
  })
})

describe('ownerOf', () => {
  it.each([
    [helmOf('other', 'team'), 'Helm release team/other'],
    [{ name: 'x', ownerReferences: [{ kind: 'Milvus', name: 'm', controller: true }] }, 'Milvus m (its owner reference)'],
    [{ name: 'x', labels: { 'app.kubernetes.io/managed-by': 'argocd' } }, 'argocd (its app.kubernetes.io/managed-by label)'],
    [{ name: 'x', managedFields: [{ manager: 'kubectl-create' }, { manager: 'kubectl-create' }] }, 'no release; written by kubectl-create'],
    [{ name: 'x' }, 'no release'],
  ])('%#: %s', (m, owner) => expect(ownerOf(m)).toBe(owner))
})

describe('foreignObjectProblem', () => {
  it('names the object, its owner and the three ways on', () => {
    const p = foreignObjectProblem('ConfigMap', 'milvus', { name: 'r-milvus', managedFields: [{ manager: 'kubectl-create' }] }, 'r')
    expect(p).toMatch(/^ConfigMap milvus\/r-milvus exists and is not release r's \(owner: no release; written by kubectl-create\)/)
    expect(p).toMatch(/invalid ownership metadata/)
    expect(p).toMatch(/another release-name/)
    expect(p).toMatch(/kubectl delete configmaps r-milvus -n milvus/)
    expect(p).toMatch(/meta\.helm\.sh\/release-name=r meta\.helm\.sh\/release-namespace=milvus/)
  })
})
