// Runs the scrape-config phase (ensureScrapeJob) on its own, inside the local cluster's network
// namespace where its API server lives: `node scrape-job-entry.ts <namespace> <servicemonitor> <graceMs>`.
// Prints the log lines, then one JSON line: {"result": "present" | "recovered"} or {"error": "..."}.
import { Kube } from '../../src/cluster/kube.ts'
import { ensureScrapeJob } from '../../src/scrape/operator-config.ts'

const [namespace, name, graceMs] = process.argv.slice(2)
try {
  const kube = await Kube.load()
  const result = await ensureScrapeJob({
    kube,
    prometheus: { namespace: 'monitoring', name: 'k8s' },
    monitor: { kind: 'ServiceMonitor', namespace: namespace!, name: name! },
    scrapePool: `serviceMonitor/${namespace}/${name}/0`,
    signal: AbortSignal.timeout(180_000),
    graceMs: Number(graceMs),
  })
  console.log(JSON.stringify({ result }))
} catch (e) {
  console.log(JSON.stringify({ error: (e as Error).message }))
}
