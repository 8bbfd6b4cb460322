// Stands in for the bundled action entry point in tests: re-executed by startForwards as the supervisor.
import { isSupervisorInvocation, runSupervisor } from '../../src/expose/supervisor.ts'

if (isSupervisorInvocation(process.argv)) await runSupervisor(process.argv[3] as string)
