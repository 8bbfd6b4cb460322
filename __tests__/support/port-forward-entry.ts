// Stands in for the bundled action entry point in tests: re-executed by startForwards as the supervisor.
import { isSupervisorInvocation, runSupervisor } from '../../src/phases/port-forward.ts'

if (isSupervisorInvocation(process.argv)) await runSupervisor(process.argv[3] as string)
