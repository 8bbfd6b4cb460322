// Runs the tests' forward proxy as its own process (inside the local cluster's network
// namespace, where the action's runner is): `node http-proxy-entry.ts <host> <logFile>`.
// Prints its URL on the first line, then appends each request it serves to logFile.
import { appendFileSync } from 'node:fs'
import { startHttpProxy } from './http-proxy.ts'

const [host, logFile] = process.argv.slice(2)
const proxy = await startHttpProxy(host)
const push = proxy.log.push.bind(proxy.log)
proxy.log.push = (...lines: string[]) => {
  for (const l of lines) appendFileSync(logFile!, `${l}\n`)
  return push(...lines)
}
console.log(proxy.url)
process.on('SIGTERM', () => void proxy.close().then(() => process.exit(0)))
