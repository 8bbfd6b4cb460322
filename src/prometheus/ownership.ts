// Who owns what the action is about to apply. Before any change the action reads which of
// kube-prometheus' objects already exist and which field managers (metadata.managedFields) own
// them: what exists and carries none of the action's field manager belongs to someone else and
// is neither applied over nor ever deleted; what does not exist is what this run creates, and the
// post step deletes exactly that. A prometheus-operator the cluster already runs (other than the
// one an earlier run of this action installed) stops the default install before any change.
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import YAML from 'yaml'
import { pool } from '../cluster/pool.ts'
import { ApiError, type Kube, type KubeObject } from '../cluster/kube.ts'
import { FIELD_MANAGER } from '../marks.ts'
import type { ObjectRef } from '../types.ts'
export type { ObjectRef }

/** An object of a manifest file; `doc` is its document's index in a file of several, `item` its index in a `kind: *List`. */
export interface ManifestObject extends ObjectRef {
  file: string
  doc?: number
  item?: number
  /** metadata.annotations['operator.prometheus.io/version'] of a CRD ('0.92.0'), when set. */
  operatorVersion?: string
  /** metadata.labels['app.kubernetes.io/name'] ('prometheus-operator'), when set: kube-prometheus names each component by it. */
  app?: string
}

/** An existing object: its field managers and its operator.prometheus.io/version annotation. */
export interface Existing {
  managers: string[]
  operatorVersion?: string
  /** Its API path when it is being deleted (a deletionTimestamp): another run's cleanup under way, say. */
  deleting?: string
}

export const refKey = (r: ObjectRef): string => `${r.kind}/${r.namespace ?? ''}/${r.name}`
export const describeRef = (r: ObjectRef): string => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`

const VERSION_ANNOTATION = 'operator.prometheus.io/version'
const APP_LABEL = 'app.kubernetes.io/name'

/**
 * The components whose objects are applied before the rest of manifests/ (see stackReady): the
 * operator and Prometheus, with their RBAC and Services. On a runner one node pulls one image at
 * a time, in the order pods arrive; applied with the rest, the operator's image queued behind
 * Grafana's and Milvus', and the Prometheus pods (created by the operator) behind everything.
 */
export const FIRST_APPS: ReadonlySet<string> = new Set(['prometheus-operator', 'prometheus'])

/** Whether an object of manifests/ belongs to the first wave (FIRST_APPS). */
export const inFirstWave = (o: ManifestObject): boolean => o.app !== undefined && FIRST_APPS.has(o.app)

/** Files above this size (the CRDs: megabytes of schema) are read by a line scan, not a YAML parse. */
const SCAN_BYTES = 256 * 1024
/** How much of a large file's head its identity is looked for in. */
const HEAD_BYTES = 64 * 1024

/** The first `bytes` of a file as UTF-8 (a character cut at the end is dropped with the last line). */
function readHead(file: string, bytes: number): string {
  const buffer = Buffer.alloc(bytes)
  const fd = openSync(file, 'r')
  try {
    const n = readSync(fd, buffer, 0, bytes, 0)
    const text = buffer.toString('utf8', 0, n)
    return text.slice(0, text.lastIndexOf('\n') + 1)
  } finally {
    closeSync(fd)
  }
}

function scanTopLevel(text: string, file: string): ManifestObject | undefined {
  const kind = /^kind:\s*["']?([^\s"']+)/m.exec(text)?.[1]
  const apiVersion = /^apiVersion:\s*["']?([^\s"']+)/m.exec(text)?.[1]
  const metadata = /^metadata:\s*\n((?:[ \t]+.*\n)*)/m.exec(text)?.[1] ?? ''
  const name = /^[ \t]{1,4}name:\s*["']?([^\s"']+)/m.exec(metadata)?.[1]
  const namespace = /^[ \t]{1,4}namespace:\s*["']?([^\s"']+)/m.exec(metadata)?.[1]
  const version = new RegExp(`^[ \\t]+${VERSION_ANNOTATION.replace(/[./]/g, '\\$&')}:\\s*["']?([^\\s"']+)`, 'm').exec(metadata)?.[1]
  if (!kind || !apiVersion || !name) return undefined
  return { file, apiVersion, kind, name, ...(namespace ? { namespace } : {}), ...(version ? { operatorVersion: version } : {}) }
}

function fromDoc(doc: Record<string, unknown>, file: string, at: { doc?: number; item?: number } = {}): ManifestObject | undefined {
  const meta = (doc.metadata ?? {}) as {
    name?: string
    namespace?: string
    annotations?: Record<string, string>
    labels?: Record<string, string>
  }
  if (typeof doc.kind !== 'string' || typeof doc.apiVersion !== 'string' || !meta.name) return undefined
  const version = meta.annotations?.[VERSION_ANNOTATION]
  const app = meta.labels?.[APP_LABEL]
  return {
    file,
    apiVersion: doc.apiVersion,
    kind: doc.kind,
    name: meta.name,
    ...(meta.namespace ? { namespace: meta.namespace } : {}),
    ...(at.doc === undefined ? {} : { doc: at.doc }),
    ...(at.item === undefined ? {} : { item: at.item }),
    ...(version ? { operatorVersion: version } : {}),
    ...(typeof app === 'string' ? { app } : {}),
  }
}

/** A `kind: *List` document with its `items`. */
function isList(d: Record<string, unknown>): d is Record<string, unknown> & { items: Array<Record<string, unknown>> } {
  return typeof d.kind === 'string' && d.kind.endsWith('List') && Array.isArray(d.items)
}

const IDENTITY_KEYS = new Set(['apiVersion', 'kind', 'metadata'])

/**
 * The top-level `apiVersion`, `kind` and `metadata` of a file holding one block-style YAML
 * document, parsed without the rest (a spec or the data of a ConfigMap can be most of the file,
 * and a YAML document tree costs many times its text in memory); undefined when the file is not
 * of that shape (several documents, a top-level sequence or flow mapping): parse it whole.
 */
export function identityOf(text: string): Record<string, unknown> | undefined {
  return identityOfLines(text.replace(/^\uFEFF/, '').split(/\r?\n/))
}

function identityOfLines(lines: string[]): Record<string, unknown> | undefined {
  if (lines[0]?.trimEnd() === '---') lines.shift()
  const kept: string[] = []
  let keep = false
  for (const line of lines) {
    if (/^[^\s#-]/.test(line) || /^-{3}(\s|$)/.test(line)) {
      const key = /^([A-Za-z][\w.-]*):(\s|$)/.exec(line)?.[1]
      if (key === undefined) return undefined
      keep = IDENTITY_KEYS.has(key)
    }
    if (keep) kept.push(line)
  }
  let doc: unknown
  try {
    doc = YAML.parse(kept.join('\n'))
  } catch {
    return undefined // e.g. an alias to an anchor in a block left out: parse the file whole
  }
  return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined
}

/**
 * The identity (see identityOf) of each item of a block-style `kind: *List` file, in order,
 * each parsed without its data: Grafana's dashboards are one such file, 33 ConfigMaps in 1 MB.
 * Undefined when the file is not of that shape (no top-level `items:` sequence in block style,
 * or an item identityOf cannot read).
 */
export function listIdentities(text: string): Array<Record<string, unknown>> | undefined {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  let i = lines.findIndex((l) => /^items:\s*$/.test(l))
  if (i < 0) return undefined
  for (i++; i < lines.length && /^\s*(#.*)?$/.test(lines[i]!); i++);
  const indent = /^( *)- /.exec(lines[i] ?? '')?.[1]
  if (indent === undefined) return undefined
  const body = indent + '  '
  const items: string[][] = []
  for (; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith(`${indent}- `)) items.push([line.slice(indent.length + 2)])
    else if (line.startsWith(body)) items.at(-1)!.push(line.slice(body.length))
    else if (/^\s*$/.test(line)) items.at(-1)!.push('')
    else break // the sequence ended: the next key of the List
  }
  const out: Array<Record<string, unknown>> = []
  for (const item of items) {
    const id = identityOfLines(item)
    if (!id) return undefined
    out.push(id)
  }
  return out
}

/**
 * Every object of the YAML files directly in `dir` (sorted by file name; `kind: *List` files
 * expanded item by item, each with its index). Large files (the CRDs) are read by a line scan of
 * their top-level kind, apiVersion and metadata. Throws on YAML that does not parse.
 */
export function manifestObjects(dir: string): ManifestObject[] {
  const out: ManifestObject[] = []
  const push = (o: ManifestObject | undefined) => o && out.push(o)
  for (const f of readdirSync(dir)
    .filter((x) => /\.ya?ml$/.test(x))
    .sort()) {
    const file = join(dir, f)
    if (statSync(file).size > SCAN_BYTES) {
      // The CRDs by a line scan of their head (their identity is at the top, then megabytes of schema).
      const head = scanTopLevel(readHead(file, HEAD_BYTES), file)
      if (head && !head.kind.endsWith('List')) {
        out.push(head)
        continue
      }
      // A large List (Grafana's dashboards) item by item, each by its identity.
      const text = readFileSync(file, 'utf8')
      const items = /^kind:\s*["']?\S*List["']?\s*$/m.test(text) ? listIdentities(text) : undefined
      const objects = items ? items.map((it, item) => fromDoc(it, file, { item })) : [scanTopLevel(text, file)]
      if (!objects.length || objects.some((o) => !o)) {
        throw new Error(`kube-prometheus manifest ${file}: its kind and name (or its items') could not be read; check kube-prometheus-url`)
      }
      objects.forEach(push)
      continue
    }
    // Most files are one object of which only the identity is wanted: parse just that.
    const text = readFileSync(file, 'utf8')
    const head = identityOf(text)
    const one = head && !String(head.kind).endsWith('List') ? fromDoc(head, file) : undefined
    if (one) {
      out.push(one)
      continue
    }
    const docs = YAML.parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown> | null)
    docs.forEach((d, i) => {
      if (!d) return
      const doc = docs.length > 1 ? i : undefined
      if (isList(d)) d.items.forEach((it, item) => push(fromDoc(it, file, { doc, item })))
      else push(fromDoc(d, file, { doc }))
    })
  }
  return out
}

/** The distinct field managers of an object's metadata.managedFields, in order. */
export function fieldManagers(obj: { metadata?: { managedFields?: Array<{ manager?: string }> } } | undefined): string[] {
  return [...new Set((obj?.metadata?.managedFields ?? []).map((m) => m.manager ?? '').filter((m) => m !== ''))]
}

/** Compares dotted versions ('0.92.0', 'v0.85.1') numerically: negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a
    .replace(/^v/, '')
    .split(/[.-]/)
    .map((x) => parseInt(x, 10) || 0)
  const pb = b
    .replace(/^v/, '')
    .split(/[.-]/)
    .map((x) => parseInt(x, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** What applying a manifest set would do, given what exists. */
export interface ApplyPlan {
  /** Objects that do not exist: this run creates them, and the post step may delete them. */
  create: ObjectRef[]
  /** Objects that exist without the action's field manager: someone else's, left as they are. */
  foreign: Array<ObjectRef & { managers: string[] }>
  /** Foreign CRDs older than the release needs: the run cannot use them. */
  tooOld: Array<{ ref: ObjectRef; have: string; want: string; managers: string[] }>
}

/**
 * Splits `objects` by `existing` (keyed by refKey; absent means the object does not exist):
 * not existing -> create; existing without FIELD_MANAGER among its managers -> foreign (and,
 * for a CRD whose operator.prometheus.io/version is below the manifest's, tooOld); existing with
 * it -> the action's own from an earlier run, applied again and in neither list.
 */
export function planApply(objects: ManifestObject[], existing: Map<string, Existing>): ApplyPlan {
  const plan: ApplyPlan = { create: [], foreign: [], tooOld: [] }
  for (const o of objects) {
    const ref: ObjectRef = { apiVersion: o.apiVersion, kind: o.kind, name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}) }
    const e = existing.get(refKey(o))
    if (!e) {
      plan.create.push(ref)
      continue
    }
    if (e.managers.includes(FIELD_MANAGER)) continue
    plan.foreign.push({ ...ref, managers: e.managers })
    if (
      o.kind === 'CustomResourceDefinition' &&
      o.operatorVersion &&
      (!e.operatorVersion || compareVersions(e.operatorVersion, o.operatorVersion) < 0)
    ) {
      plan.tooOld.push({ ref, have: e.operatorVersion ?? 'unknown', want: o.operatorVersion, managers: e.managers })
    }
  }
  return plan
}

/** A prometheus-operator or Prometheus the action did not install, as found on the cluster. */
export interface OtherStack {
  what: string // 'Deployment kps/kps-operator (image quay.io/prometheus-operator/prometheus-operator:v0.85.0)'
  prometheus?: string // 'ns/name' of a Prometheus resource
}

/** An image of prometheus-operator itself (any registry, tag or digest), not its config-reloader. */
export function isOperatorImage(image: string): boolean {
  const path = image.split('@')[0]!.replace(/:[^/:]+$/, '')
  return /(^|\/)prometheus-operator$/.test(path)
}

/**
 * What on the cluster is another Prometheus stack: Deployments (of `deployments`) with a
 * container running the operator image, and Prometheus resources (`prometheuses`), except those
 * whose managedFields carry FIELD_MANAGER (installed by an earlier run of this action).
 */
export function otherStacks(deployments: KubeObject[], prometheuses: KubeObject[]): OtherStack[] {
  const ours = (o: KubeObject) => fieldManagers(o as never).includes(FIELD_MANAGER)
  const out: OtherStack[] = []
  for (const d of deployments) {
    const containers = (d.spec?.template as { spec?: { containers?: Array<{ image?: string }> } } | undefined)?.spec?.containers ?? []
    const image = containers.map((c) => c.image ?? '').find(isOperatorImage)
    if (image && !ours(d)) out.push({ what: `Deployment ${d.metadata.namespace}/${d.metadata.name} (image ${image})` })
  }
  for (const p of prometheuses) {
    if (!ours(p))
      out.push({ what: `Prometheus ${p.metadata.namespace}/${p.metadata.name}`, prometheus: `${p.metadata.namespace}/${p.metadata.name}` })
  }
  return out
}

/** The error that stops a default install on a cluster with another stack (nothing changed yet). */
export function otherStackError(found: OtherStack[]): Error {
  const prometheuses = found.flatMap((f) => (f.prometheus ? [f.prometheus] : []))
  const use =
    prometheuses.length === 1
      ? `install-kube-prometheus: false (prometheus: ${prometheuses[0]})`
      : 'install-kube-prometheus: false with prometheus: <namespace>/<name>'
  return new Error(
    `The cluster already runs a Prometheus stack this action did not install:\n${found.map((f) => `  - ${f.what}`).join('\n')}\n` +
      `Installing kube-prometheus would run a second prometheus-operator over it; nothing was changed. Use that stack instead with ${use}.`,
  )
}

/** The error for foreign CRDs older than the release: naming each, its version and its managers. */
export function tooOldError(release: string, tooOld: ApplyPlan['tooOld']): Error {
  return new Error(
    `kube-prometheus ${release} needs newer monitoring CRDs than the cluster has, and they belong to someone else, so the action does not replace them:\n` +
      tooOld
        .map(
          (t) =>
            `  - ${describeRef(t.ref)}: operator.prometheus.io/version ${t.have}, the release needs ${t.want} (managed by ${t.managers.join(', ') || 'unknown'})`,
        )
        .join('\n') +
      `\nNothing was changed. Upgrade the CRDs with the stack that owns them, or use that stack with install-kube-prometheus: false.`,
  )
}

/** The API path of a kind's collection (`/apis/<group>/<version>[/namespaces/<ns>]/<plural>`), from API discovery. */
export class ResourcePaths {
  private readonly groups = new Map<string, Promise<Map<string, { plural: string; namespaced: boolean }>>>()
  private readonly kube: Pick<Kube, 'get'>
  constructor(kube: Pick<Kube, 'get'>) {
    this.kube = kube
  }

  /** The path of `ref` itself; undefined when the API server does not serve its kind (its CRD is absent). */
  async pathOf(ref: ObjectRef): Promise<string | undefined> {
    let kinds = this.groups.get(ref.apiVersion)
    if (!kinds) {
      const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`
      kinds = this.kube
        .get<{ resources: Array<{ name: string; kind: string; namespaced: boolean }> }>(base)
        .then(
          (r) =>
            new Map(r.resources.filter((x) => !x.name.includes('/')).map((x) => [x.kind, { plural: x.name, namespaced: x.namespaced }])),
        )
        .catch((e: unknown) => {
          if (e instanceof ApiError && e.status === 404) return new Map()
          throw e
        })
      this.groups.set(ref.apiVersion, kinds)
    }
    const r = (await kinds).get(ref.kind)
    if (!r) return undefined
    const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`
    return `${base}${r.namespaced && ref.namespace ? `/namespaces/${ref.namespace}` : ''}/${r.plural}/${ref.name}`
  }
}

/** Metadata only (PartialObjectMetadata): a CRD's schema is megabytes the record does not need. */
const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json'

/**
 * Which of `objects` exist, with their field managers: one metadata-only GET each (8 at a time),
 * keyed by refKey. A kind the API server does not serve yet (its CRD absent) means the object
 * does not exist. Throws ApiError for anything but 404.
 */
export async function readExisting(kube: Kube, objects: ObjectRef[]): Promise<Map<string, Existing>> {
  const paths = new ResourcePaths(kube)
  const found = new Map<string, Existing>()
  await pool(objects, 8, async (o) => {
    const path = await paths.pathOf(o)
    if (!path) return
    try {
      const m = await kube.request<KubeObject & { metadata: { annotations?: Record<string, string> } }>('GET', path, undefined, {
        accept: METADATA_ONLY,
      })
      const version = m.metadata.annotations?.[VERSION_ANNOTATION]
      found.set(refKey(o), {
        managers: fieldManagers(m as never),
        ...(version ? { operatorVersion: version } : {}),
        ...(m.metadata.deletionTimestamp ? { deleting: path } : {}),
      })
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e
    }
  })
  return found
}

/** Where filteredManifests wrote the objects to apply: manifests/setup, the first wave, the rest. */
export interface SplitManifests {
  setupDir: string
  /** The objects of manifests/ that inFirstWave selects. */
  firstDir: string
  /** The rest of manifests/. */
  dir: string
}

/**
 * Copies the manifests without the `skip`ped objects (refKey) into a new folder under
 * RUNNER_TEMP: manifests/setup to `setupDir`, the first wave of manifests/ (inFirstWave) to
 * `firstDir`, the rest to `dir`. Files wholly kept on one side are copied as they are; a file
 * split or thinned is written again with its kept documents (of a `kind: *List`, its kept
 * items). Throws when a file cannot be read or parsed.
 */
export function filteredManifests(objects: ManifestObject[], skip: Set<string>, dirs: { dir: string; setupDir: string }): SplitManifests {
  const root = mkdtempSync(join(process.env.RUNNER_TEMP ?? tmpdir(), 'kube-prometheus-'))
  const out = { dir: join(root, 'manifests'), setupDir: join(root, 'manifests', 'setup'), firstDir: join(root, 'first') }
  mkdirSync(out.setupDir, { recursive: true })
  mkdirSync(out.firstDir)
  const byFile = new Map<string, ManifestObject[]>()
  for (const o of objects) byFile.set(o.file, [...(byFile.get(o.file) ?? []), o])
  for (const [file, objs] of byFile) {
    const base = file.slice(file.lastIndexOf('/') + 1)
    const setup = file.startsWith(dirs.setupDir + '/')
    const kept = objs.filter((o) => !skip.has(refKey(o)))
    const sides: Array<[string, ManifestObject[]]> = setup
      ? [[out.setupDir, kept]]
      : [
          [out.firstDir, kept.filter(inFirstWave)],
          [out.dir, kept.filter((o) => !inFirstWave(o))],
        ]
    for (const [targetDir, side] of sides) {
      if (side.length === 0) continue
      const target = join(targetDir, base)
      if (side.length === objs.length) {
        copyFileSync(file, target)
        continue
      }
      // Written again with the kept documents, and of a List the kept items.
      const keep = new Set(side.map((o) => `${o.doc ?? 0}/${o.item ?? -1}`))
      const docs: string[] = []
      YAML.parseAllDocuments(readFileSync(file, 'utf8')).forEach((d, i) => {
        const js = d.toJS() as (Record<string, unknown> & { items?: unknown[] }) | null
        if (!js) return
        if (isList(js)) {
          const items = js.items.filter((_, item) => keep.has(`${i}/${item}`))
          if (items.length) docs.push(YAML.stringify({ ...js, items }))
        } else if (keep.has(`${i}/-1`)) docs.push(YAML.stringify(js))
      })
      writeFileSync(target, docs.join('---\n'))
    }
  }
  return out
}
