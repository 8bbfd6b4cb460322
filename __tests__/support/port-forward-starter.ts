// A short-lived process that starts forwards and exits, as the action's main step does.
// argv[2]: JSON of StartOptions. Prints the result as JSON on stdout.
import { startForwards, type StartOptions } from '../../src/expose/supervisor.ts'

const opts = JSON.parse(process.argv[2] as string) as StartOptions
const started = await startForwards(opts)
process.stdout.write(JSON.stringify(started))
