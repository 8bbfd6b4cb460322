// `npm run demo`: the local cluster, then the action on it with default inputs, its outputs
// and its job summary. Needs root (the cluster's network namespace).
import { localCluster, mirrorInputs } from './client.ts'
import { makeRunner } from './runner.ts'
import { printResult } from '../scripts/local-action.ts'

const cluster = await localCluster()
const runner = makeRunner({ wrap: cluster.wrap, env: { KUBECONFIG: cluster.env.KUBECONFIG! } })
const r = await runner.main(
  {
    // The cluster's loopback mirrors stand in for dl.k8s.io, get.helm.sh, GitHub and the Milvus Helm repository.
    ...mirrorInputs(cluster.env),
  },
  { onStdout: (c) => process.stdout.write(c) },
)
printResult(r)
if (r.code === 0) {
  const targets = await cluster.get(
    `${r.outputs['prometheus-url']}/api/v1/targets?state=active&scrapePool=${encodeURIComponent(r.outputs['scrape-pool']!)}`,
  )
  process.stdout.write(`\n== Prometheus' own answer for ${r.outputs['scrape-pool']}\n${targets.body.slice(0, 2000)}\n`)
}
await runner.post(r.state)
process.stdout.write(`\nThe cluster keeps running: npm run cluster -- exec -- kubectl get pods -A\nStop it with: npm run cluster -- down\n`)
process.exit(r.code)
