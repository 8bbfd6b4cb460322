// After the post step's cleanup, without waiting: nothing the action installed is left (so the
// cleanup must have waited for it to go). kubectl on PATH, pointed at the cluster.
//   NAMESPACES   the namespaces the run created, which must be gone (milvus monitoring)
//   SCOPE        all (the default): no Helm release anywhere; namespaces: none in NAMESPACES
//                (a cluster other releases share)
//   FORWARDS     the processes that count as port-forwards, an extended regex over command lines
//                (kubectl port-forward and the action's supervisor, whoever started them; a
//                machine that runs other jobs narrows it to this job's supervisor)
import { execFileSync } from 'node:child_process'

const namespaces = (process.env.NAMESPACES || 'milvus monitoring').split(/\s+/).filter(Boolean)
const scope = process.env.SCOPE || 'all'
const kubectl = (...args) => execFileSync('kubectl', args, { encoding: 'utf8' }).trim()
const problems = []
for (const ns of namespaces) {
  try {
    const phase = kubectl('get', 'namespace', ns, '-o', 'jsonpath={.status.phase}')
    problems.push(`namespace ${ns} still exists (${phase})`)
  } catch (err) {
    if (!String(err.stderr).includes('NotFound')) throw err
  }
}
const releases =
  scope === 'namespaces'
    ? namespaces
        .map((ns) => kubectl('get', 'secrets', '-n', ns, '-l', 'owner=helm', '-o', 'name'))
        .filter(Boolean)
        .join('\n')
    : kubectl('get', 'secrets', '-A', '-l', 'owner=helm', '-o', 'name')
const leftovers = {
  'Helm releases': releases,
  'kube-prometheus cluster objects': kubectl(
    'get',
    'clusterroles,clusterrolebindings',
    '-l',
    'app.kubernetes.io/part-of=kube-prometheus',
    '-o',
    'name',
  ),
  'prometheus-operator CRDs': kubectl('get', 'crd', '-o', 'name')
    .split('\n')
    .filter((n) => n.endsWith('.monitoring.coreos.com'))
    .join('\n'),
}
for (const [what, names] of Object.entries(leftovers)) {
  if (names) problems.push(`${what} left behind:\n${names}`)
}
try {
  const forwards = execFileSync('pgrep', ['-af', '--', process.env.FORWARDS || ' port-forward |--port-forward-supervisor'], {
    encoding: 'utf8',
  })
  problems.push(`port-forwards still running:\n${forwards}`)
} catch {
  // pgrep exits 1 when nothing matches
}
if (problems.length > 0) {
  for (const p of problems) console.log(`::error::${p.replaceAll('\n', '%0A')}`)
  process.exitCode = 1
} else {
  console.log('cleanup removed everything the action installed')
}
