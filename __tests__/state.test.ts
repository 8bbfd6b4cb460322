import { afterEach, describe, expect, it } from 'vitest'
import { firstRevisionSecret, loadRunState, StateRecorder, withCreated, type CreatedObject } from '../src/state.ts'
import { createFailures, parseCreated } from '../src/cluster/kubectl.ts'

const role = (uid: string): CreatedObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  namespace: 'ns',
  name: 'prometheus-k8s-milvus-discovery',
  uid,
  path: '/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/prometheus-k8s-milvus-discovery',
  part: 'namespace',
})
const ns: CreatedObject = { apiVersion: 'v1', kind: 'Namespace', name: 'ns', uid: 'u-ns', path: '/api/v1/namespaces/ns', part: 'namespace' }

describe('what the run state records as created', () => {
  const saved = { ...process.env }
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  })

  it('adds each object with its UID; the same object created again replaces the entry (its new UID)', () => {
    expect(withCreated(undefined, ns)).toEqual([ns])
    expect(withCreated([ns, role('u-1')], role('u-2'))).toEqual([ns, role('u-2')])
  })

  it('saves each record for the post step the moment it is made', () => {
    // core.saveState writes to GITHUB_STATE; read back as the post step would (STATE_run).
    const recorder = new StateRecorder({ release: 'r', namespace: 'ns', cleanup: true })
    const saves: string[] = []
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((c: string) => (saves.push(String(c)), true)) as typeof process.stdout.write
    try {
      recorder.recordCreated(ns, role('u-1'))
      recorder.recordRelease({ secret: firstRevisionSecret('r'), uid: 'u-secret' })
    } finally {
      process.stdout.write = write
    }
    expect(recorder.state.created).toEqual([ns, role('u-1')])
    expect(recorder.state.createdRelease).toEqual({ secret: 'sh.helm.release.v1.r.v1', uid: 'u-secret' })
    // Without GITHUB_STATE, @actions/core saves state with a workflow command on stdout: one per record (a batch is one).
    const states = saves.filter((s) => s.includes('save-state'))
    expect(states).toHaveLength(2)
    process.env.STATE_run = JSON.stringify(recorder.state)
    expect(loadRunState()?.created?.[0]?.uid).toBe('u-ns')
  })
})

describe("kubectl create's answer", () => {
  it('reads the objects created, one line each (jsonpath), a cluster-scoped one without namespace', () => {
    expect(
      parseCreated(
        'apiextensions.k8s.io/v1\tCustomResourceDefinition\t\talertmanagers.monitoring.coreos.com\tu-1\n' +
          'apps/v1\tDeployment\tmonitoring\tprometheus-operator\tu-2\n\n',
      ),
    ).toEqual([
      { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'alertmanagers.monitoring.coreos.com', uid: 'u-1' },
      { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'monitoring', name: 'prometheus-operator', uid: 'u-2' },
    ])
  })

  it('an object that exists is not a failure; anything else is', () => {
    expect(
      createFailures(
        'Warning: unknown field "spec.x"\n' +
          'Error from server (AlreadyExists): error when creating "/m/a.yaml": deployments.apps "prometheus-operator" already exists\n' +
          'Error from server (Forbidden): error when creating "/m/b.yaml": roles is forbidden\n',
      ),
    ).toEqual(['Error from server (Forbidden): error when creating "/m/b.yaml": roles is forbidden'])
  })
})
