// Entry of dist/main: the action's main step, or the port-forward supervisor it re-executes.
import { isSupervisorInvocation, runSupervisor } from './port-forward.ts'

if (isSupervisorInvocation(process.argv)) {
  await runSupervisor(process.argv[3] ?? '')
} else {
  const { run } = await import('./main.ts')
  await run()
  // Work started in parallel with a failed phase (a download's retries) must not hold the step.
  process.exit()
}
