import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import YAML from 'yaml'
import type { KubeObject } from '../../src/cluster/kube.ts'
import {
  compareVersions,
  fieldManagers,
  filteredManifests,
  identityOf,
  inFirstWave,
  listIdentities,
  isOperatorImage,
  manifestObjects,
  otherStackError,
  otherStacks,
  planApply,
  refKey,
  tooOldError,
  type Existing,
  type ManifestObject,
} from '../../src/prometheus/ownership.ts'

const crd = (name: string, version = '0.92.0'): ManifestObject => ({
  file: `/m/setup/${name}.yaml`,
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  name,
  operatorVersion: version,
})
const ns: ManifestObject = { file: '/m/setup/namespace.yaml', apiVersion: 'v1', kind: 'Namespace', name: 'monitoring' }
const api: ManifestObject = {
  file: '/m/apiService.yaml',
  apiVersion: 'apiregistration.k8s.io/v1',
  kind: 'APIService',
  name: 'v1beta1.metrics.k8s.io',
}
const sa: ManifestObject = { file: '/m/sa.yaml', apiVersion: 'v1', kind: 'ServiceAccount', name: 'prometheus-k8s', namespace: 'monitoring' }

describe('planApply', () => {
  const cases: Array<[string, ManifestObject[], Record<string, Existing>, { create: string[]; foreign: string[]; tooOld: string[] }]> = [
    [
      'a bare cluster: everything is created',
      [crd('a'), ns, sa],
      {},
      { create: ['a', 'monitoring', 'prometheus-k8s'], foreign: [], tooOld: [] },
    ],
    [
      'an earlier run of the action: its own, neither created nor foreign',
      [crd('a'), ns],
      {
        [refKey(crd('a'))]: { managers: ['milvus-monitoring-action'], operatorVersion: '0.92.0' },
        [refKey(ns)]: { managers: ['milvus-monitoring-action', 'kube-controller-manager'] },
      },
      { create: [], foreign: [], tooOld: [] },
    ],
    [
      'CRDs of the same version another tool applied: left alone',
      [crd('a'), sa],
      { [refKey(crd('a'))]: { managers: ['helm'], operatorVersion: '0.92.0' } },
      { create: ['prometheus-k8s'], foreign: ['a'], tooOld: [] },
    ],
    [
      'newer CRDs of another tool: left alone, not too old',
      [crd('a')],
      { [refKey(crd('a'))]: { managers: ['helm'], operatorVersion: '0.93.1' } },
      { create: [], foreign: ['a'], tooOld: [] },
    ],
    [
      'older CRDs of another tool: too old',
      [crd('a')],
      { [refKey(crd('a'))]: { managers: ['helm'], operatorVersion: '0.85.0' } },
      { create: [], foreign: ['a'], tooOld: ['a'] },
    ],
    [
      'foreign CRDs without a version annotation: too old (unknown)',
      [crd('a')],
      { [refKey(crd('a'))]: { managers: ['kubectl'] } },
      { create: [], foreign: ['a'], tooOld: ['a'] },
    ],
    [
      "metrics-server's APIService and a namespace someone created: left alone",
      [api, ns],
      { [refKey(api)]: { managers: ['kubectl-client-side-apply'] }, [refKey(ns)]: { managers: ['kubectl-create'] } },
      { create: [], foreign: ['v1beta1.metrics.k8s.io', 'monitoring'], tooOld: [] },
    ],
  ]
  it.each(cases)('%s', (_name, objects, existing, want) => {
    const plan = planApply(objects, new Map(Object.entries(existing)))
    expect({
      create: plan.create.map((r) => r.name),
      foreign: plan.foreign.map((r) => r.name),
      tooOld: plan.tooOld.map((t) => t.ref.name),
    }).toEqual(want)
  })

  it("says which CRDs are too old, their version, the release's and their managers", () => {
    const plan = planApply(
      [crd('servicemonitors.monitoring.coreos.com')],
      new Map([[refKey(crd('servicemonitors.monitoring.coreos.com')), { managers: ['helm'], operatorVersion: '0.85.0' }]]),
    )
    expect(tooOldError('v0.18.0', plan.tooOld).message).toContain(
      'CustomResourceDefinition servicemonitors.monitoring.coreos.com: operator.prometheus.io/version 0.85.0, the release needs 0.92.0 (managed by helm)',
    )
  })
})

describe('field managers and versions', () => {
  it.each([
    [{}, []],
    [
      { metadata: { managedFields: [{ manager: 'helm' }, { manager: 'kube-controller-manager' }, { manager: 'helm' }] } },
      ['helm', 'kube-controller-manager'],
    ],
    [{ metadata: { managedFields: [{}] } }, []],
  ])('fieldManagers(%j) = %j', (obj, want) => expect(fieldManagers(obj)).toEqual(want))

  it.each([
    ['0.92.0', '0.92.0', 0],
    ['0.85.1', '0.92.0', -1],
    ['v0.100.0', '0.92.0', 1],
    ['0.92', '0.92.0', 0],
  ])('compareVersions(%s, %s) has sign %i', (a, b, sign) => expect(Math.sign(compareVersions(a, b))).toBe(sign))

  it.each([
    ['quay.io/prometheus-operator/prometheus-operator:v0.92.0', true],
    ['ghcr.io/mirror/prometheus-operator@sha256:abc', true],
    ['prometheus-operator', true],
    ['localhost:5000/prometheus-operator:v1', true],
    ['quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0', false],
    ['quay.io/prometheus/prometheus:v3.12.0', false],
  ])('isOperatorImage(%s) = %s', (image, want) => expect(isOperatorImage(image)).toBe(want))
})

describe('otherStacks', () => {
  const deployment = (ns: string, name: string, image: string, managers: string[] = ['kubectl']): KubeObject => ({
    metadata: { name, namespace: ns, managedFields: managers.map((manager) => ({ manager })) } as never,
    spec: { template: { spec: { containers: [{ image: 'quay.io/brancz/kube-rbac-proxy:v0.22.0' }, { image }] } } },
  })
  const prometheus = (ns: string, name: string, managers: string[]): KubeObject => ({
    metadata: { name, namespace: ns, managedFields: managers.map((manager) => ({ manager })) } as never,
  })
  const op = 'quay.io/prometheus-operator/prometheus-operator:v0.85.0'

  it.each<[string, KubeObject[], KubeObject[], string[]]>([
    ['a bare cluster', [], [], []],
    [
      "the action's own stack from an earlier run",
      [deployment('monitoring', 'prometheus-operator', op, ['milvus-monitoring-action'])],
      [prometheus('monitoring', 'k8s', ['milvus-monitoring-action'])],
      [],
    ],
    [
      'a second operator in another namespace',
      [deployment('other-ops', 'team-operator', op)],
      [],
      [`Deployment other-ops/team-operator (image ${op})`],
    ],
    [
      'kube-prometheus-stack',
      [deployment('kps', 'kps-operator', op, ['helm'])],
      [prometheus('kps', 'kps-prometheus', ['helm'])],
      [`Deployment kps/kps-operator (image ${op})`, 'Prometheus kps/kps-prometheus'],
    ],
    ['unrelated Deployments', [deployment('apps', 'web', 'nginx:1.27')], [], []],
  ])('%s', (_n, deployments, prometheuses, want) => expect(otherStacks(deployments, prometheuses).map((o) => o.what)).toEqual(want))

  it('names the input that uses the stack found instead', () => {
    const found = otherStacks([deployment('kps', 'kps-operator', op, ['helm'])], [prometheus('kps', 'kps-prometheus', ['helm'])])
    expect(otherStackError(found).message).toMatch(
      /nothing was changed\. Use that stack instead with install-kube-prometheus: false \(prometheus: kps\/kps-prometheus\)/,
    )
  })
})

describe('identityOf: the identity of a one-object file, parsed alone', () => {
  it.each<[string, string, Record<string, unknown> | undefined]>([
    [
      'apiVersion, kind, metadata; the spec left out',
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels:\n    app.kubernetes.io/name: grafana\nspec:\n  ports:\n  - port: 3000\n',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', labels: { 'app.kubernetes.io/name': 'grafana' } } },
    ],
    [
      'a leading ---, metadata after the spec, comments',
      '---\n# generated\nspec:\n  x: 1\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: b\n',
      { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'b' } },
    ],
    [
      'a compact sequence and a block scalar inside the kept blocks',
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n  finalizers:\n  - x\nstringData:\n  k: |\n    kind: Fake\n',
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'c', finalizers: ['x'] } },
    ],
    ['two documents: parse it whole', 'kind: A\n---\nkind: B\n', undefined],
    ['a flow mapping: parse it whole', '{apiVersion: v1, kind: Namespace, metadata: {name: d}}\n', undefined],
    ['a top-level sequence: parse it whole', '- a\n- b\n', undefined],
    [
      'a byte-order mark and CRLF line ends',
      '\uFEFFapiVersion: v1\r\nkind: ServiceAccount\r\nmetadata:\r\n  name: e\r\n',
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'e' } },
    ],
    [
      'an alias to an anchor in a block left out: parse it whole',
      'spec: &s\n  app: x\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\n  labels: *s\n',
      undefined,
    ],
  ])('%s', (_n, text, want) => expect(identityOf(text)).toEqual(want))

  it.each<[string, string, Array<Record<string, unknown>> | undefined]>([
    [
      'items at the left edge, their data left out',
      'apiVersion: v1\nitems:\n- apiVersion: v1\n  data:\n    a.json: |-\n      {"kind": "x"}\n  kind: ConfigMap\n  metadata:\n    name: one\n\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: two\nkind: ConfigMapList\n',
      [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'two' } },
      ],
    ],
    [
      'items indented under the key',
      'kind: RoleList\nitems:\n  - apiVersion: v1\n    kind: Role\n    metadata:\n      name: r\n',
      [{ apiVersion: 'v1', kind: 'Role', metadata: { name: 'r' } }],
    ],
    ['a flow sequence: not read', 'kind: RoleList\nitems: [{kind: Role}]\n', undefined],
  ])('listIdentities: %s', (_n, text, want) => expect(listIdentities(text)).toEqual(want))
})

describe('manifest objects and the filtered copy', () => {
  function tree(): { dir: string; setupDir: string } {
    const dir = mkdtempSync(join(tmpdir(), 'own-manifests-'))
    const setupDir = join(dir, 'setup')
    mkdirSync(setupDir)
    // A CRD larger than the scan threshold, read by the line scan.
    writeFileSync(
      join(setupDir, '0servicemonitorCustomResourceDefinition.yaml'),
      `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n    controller-gen.kubebuilder.io/version: v0.19.0\n    operator.prometheus.io/version: 0.92.0\n  name: servicemonitors.monitoring.coreos.com\nspec:\n  group: monitoring.coreos.com\n  description: "${'x'.repeat(300_000)}"\n`,
    )
    writeFileSync(join(setupDir, 'namespace.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n')
    writeFileSync(
      join(dir, 'prometheus-serviceAccount.yaml'),
      'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  labels:\n    app.kubernetes.io/name: prometheus\n  name: prometheus-k8s\n  namespace: monitoring\n',
    )
    writeFileSync(
      join(dir, 'grafana-serviceAccount.yaml'),
      'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  labels:\n    app.kubernetes.io/name: grafana\n  name: grafana\n  namespace: monitoring\n',
    )
    // A List whose items belong to two components (kube-prometheus has none; a fork may).
    writeFileSync(
      join(dir, 'prometheus-roleSpecificNamespaces.yaml'),
      YAML.stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleList',
        items: ['default', 'kube-system', 'monitoring'].map((n) => ({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: {
            name: 'prometheus-k8s',
            namespace: n,
            labels: { 'app.kubernetes.io/name': n === 'default' ? 'grafana' : 'prometheus' },
          },
        })),
      }),
    )
    return { dir, setupDir }
  }

  it('reads every object: the CRD by line scan with its version, List files item by item', () => {
    const t = tree()
    const objects = [...manifestObjects(t.setupDir), ...manifestObjects(t.dir)]
    expect(
      objects.map(
        (o) =>
          `${o.kind} ${o.namespace ?? ''}/${o.name}${o.operatorVersion ? ` ${o.operatorVersion}` : ''}${o.item === undefined ? '' : ` #${o.item}`}`,
      ),
    ).toEqual([
      'CustomResourceDefinition /servicemonitors.monitoring.coreos.com 0.92.0',
      'Namespace /monitoring',
      'ServiceAccount monitoring/grafana',
      'Role default/prometheus-k8s #0',
      'Role kube-system/prometheus-k8s #1',
      'Role monitoring/prometheus-k8s #2',
      'ServiceAccount monitoring/prometheus-k8s',
    ])
    expect(objects.map((o) => o.app ?? '-')).toEqual(['-', '-', 'grafana', 'grafana', 'prometheus', 'prometheus', 'prometheus'])
  })

  it('copies the manifests without the skipped objects: whole files left out, List items removed', () => {
    const t = tree()
    const objects = [...manifestObjects(t.setupDir), ...manifestObjects(t.dir)]
    const skip = new Set(
      objects.filter((o) => o.kind === 'CustomResourceDefinition' || (o.kind === 'Role' && o.namespace === 'kube-system')).map(refKey),
    )
    const out = filteredManifests(objects, skip, t)
    expect(readdirSync(out.setupDir)).toEqual(['namespace.yaml'])
    // The operator's and Prometheus' objects in the first wave, the rest after; a List split item by item.
    expect(readdirSync(out.firstDir).sort()).toEqual(['prometheus-roleSpecificNamespaces.yaml', 'prometheus-serviceAccount.yaml'])
    expect(
      readdirSync(out.dir)
        .filter((f) => f !== 'setup')
        .sort(),
    ).toEqual(['grafana-serviceAccount.yaml', 'prometheus-roleSpecificNamespaces.yaml'])
    const items = (d: string) =>
      (
        YAML.parse(readFileSync(join(d, 'prometheus-roleSpecificNamespaces.yaml'), 'utf8')) as {
          items: Array<{ metadata: { namespace: string } }>
        }
      ).items.map((i) => i.metadata.namespace)
    expect(items(out.firstDir)).toEqual(['monitoring'])
    expect(items(out.dir)).toEqual(['default'])
  })

  it('a file of several documents split between the waves and thinned: each side written with its own documents', () => {
    const t = tree()
    writeFileSync(
      join(t.dir, 'mixed.yaml'),
      ['prometheus-operator', 'grafana', 'prometheus-operator']
        .map(
          (app, i) =>
            `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-${i}\n  namespace: monitoring\n  labels:\n    app.kubernetes.io/name: ${app}\n`,
        )
        .join('---\n'),
    )
    const objects = [...manifestObjects(t.setupDir), ...manifestObjects(t.dir)]
    expect(objects.filter((o) => o.file.endsWith('mixed.yaml')).map((o) => `${o.name}@${o.doc}`)).toEqual(['sa-0@0', 'sa-1@1', 'sa-2@2'])
    const out = filteredManifests(objects, new Set([refKey(objects.find((o) => o.name === 'sa-2')!)]), t)
    const names = (d: string) =>
      YAML.parseAllDocuments(readFileSync(join(d, 'mixed.yaml'), 'utf8')).map(
        (x) => (x.toJS() as { metadata: { name: string } }).metadata.name,
      )
    expect(names(out.firstDir)).toEqual(['sa-0'])
    expect(names(out.dir)).toEqual(['sa-1'])
  })

  it.runIf(process.env.MILVUS_ACTION_FIXTURES).each(['0.16.0', '0.17.0'])('reads every file of the real v%s release', (version) => {
    const dir = mkdtempSync(join(tmpdir(), 'own-kp-'))
    execFileSync('tar', [
      'xzf',
      join(process.env.MILVUS_ACTION_FIXTURES!, 'kube-prometheus', `kube-prometheus-${version}.tar.gz`),
      '-C',
      dir,
    ])
    const manifests = join(dir, readdirSync(dir)[0]!, 'manifests')
    const objects = [...manifestObjects(join(manifests, 'setup')), ...manifestObjects(manifests)]
    const files = new Set(objects.map((o) => o.file.slice(o.file.lastIndexOf('/') + 1)))
    expect(readdirSync(manifests).filter((f) => f.endsWith('.yaml') && !files.has(f))).toEqual([])
  })

  it.runIf(process.env.MILVUS_ACTION_FIXTURES)(
    'reads the real v0.18.0 release: 10 CRDs at operator version 0.92.0, the metrics APIService',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'own-kp-'))
      execFileSync('tar', ['xzf', join(process.env.MILVUS_ACTION_FIXTURES!, 'kube-prometheus', 'kube-prometheus-0.18.0.tar.gz'), '-C', dir])
      const manifests = join(dir, readdirSync(dir)[0]!, 'manifests')
      const setup = manifestObjects(join(manifests, 'setup'))
      expect(setup.filter((o) => o.kind === 'CustomResourceDefinition' && o.operatorVersion === '0.92.0')).toHaveLength(10)
      expect(manifestObjects(manifests).map((o) => `${o.kind}/${o.name}`)).toContain('APIService/v1beta1.metrics.k8s.io')
      // The identity parsed alone is the full parse's, file by file.
      for (const f of readdirSync(manifests).filter((x) => x.endsWith('.yaml'))) {
        const text = readFileSync(join(manifests, f), 'utf8')
        if (text.length > 256 * 1024) continue
        const full = YAML.parse(text) as Record<string, unknown>
        expect(identityOf(text), f).toEqual({ apiVersion: full.apiVersion, kind: full.kind, metadata: full.metadata })
      }
      const objects = manifestObjects(manifests)
      // Grafana's dashboards (one 1 MB ConfigMapList) item by item, and copied to the rest.
      const dashboards = objects.filter((o) => o.file.endsWith('grafana-dashboardDefinitions.yaml'))
      expect(dashboards).toHaveLength(33)
      expect(
        dashboards.every(
          (o) => o.kind === 'ConfigMap' && o.namespace === 'monitoring' && o.app === 'grafana' && o.name.startsWith('grafana-dashboard-'),
        ),
      ).toBe(true)
      const copy = filteredManifests([...setup, ...objects], new Set(), { dir: manifests, setupDir: join(manifests, 'setup') })
      expect(readdirSync(copy.dir).filter((f) => f.endsWith('.yaml')).length + readdirSync(copy.firstDir).length).toBe(
        readdirSync(manifests).filter((f) => f.endsWith('.yaml')).length,
      )
      expect(readFileSync(join(copy.dir, 'grafana-dashboardDefinitions.yaml'))).toEqual(
        readFileSync(join(manifests, 'grafana-dashboardDefinitions.yaml')),
      )
      // The first wave: every object of the operator's and Prometheus' files and nothing else.
      const files = (pick: (o: ManifestObject) => boolean) =>
        [...new Set(objects.filter(pick).map((o) => o.file.slice(o.file.lastIndexOf('/') + 1)))].sort()
      const first = files(inFirstWave)
      expect(first).toEqual(
        readdirSync(manifests)
          .filter((f) => /^(prometheus|prometheusOperator)-/.test(f))
          .sort(),
      )
      expect(first).toContain('prometheusOperator-deployment.yaml')
      expect(first).toContain('prometheus-prometheus.yaml')
      expect(files((o) => !inFirstWave(o)).filter((f) => first.includes(f))).toEqual([])
    },
  )
})
