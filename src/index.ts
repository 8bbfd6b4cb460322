// Entry of dist/main: the action's main step, or the port-forward supervisor it re-executes.
import { isSupervisorInvocation, runSupervisor } from './expose/supervisor.ts'

if (isSupervisorInvocation(process.argv)) {
  await runSupervisor(process.argv[3] ?? '')
} else {
  // Said before the bulk of the bundle loads, so the log shows at once that the step started.
  process.stdout.write('milvus-monitoring-action: deploying kube-prometheus and Milvus, then waiting for the Milvus scrape target\n')
  const { run } = await import('./main.ts')
  await run()
  // Work started in parallel with a failed phase (a download's retries) must not hold the step.
  process.exit()
}
