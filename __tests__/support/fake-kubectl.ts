// Mimics `kubectl [--kubeconfig K] port-forward --namespace N --address A RESOURCE L:P` for tests:
// listens on A:L, prints "Forwarding from A:L -> P" and proxies each connection to the local
// backend that FAKE_KUBECTL_BACKENDS ({"<P>": <port>}) names for P. Every start is appended to
// FAKE_KUBECTL_LOG as a JSON line ({pid, args}). SIGUSR1 makes it exit as kubectl does when its
// pod goes away.
import { appendFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'

const args = process.argv.slice(2)
appendFileSync(process.env.FAKE_KUBECTL_LOG as string, `${JSON.stringify({ pid: process.pid, args })}\n`)

const flag = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const address = flag('--address') ?? 'localhost'
const mapping = args.at(-1) as string
const [local, remote] = mapping.split(':').map(Number) as [number, number]
const backends = JSON.parse(process.env.FAKE_KUBECTL_BACKENDS ?? '{}') as Record<string, number>
const backend = backends[String(remote)]
if (args[0] === '--kubeconfig' ? args[2] !== 'port-forward' : args[0] !== 'port-forward') {
  process.stderr.write(`fake kubectl: unsupported command ${args.join(' ')}\n`)
  process.exit(2)
}

const server = createServer((client) => {
  if (backend === undefined) return client.destroy()
  const upstream = connect({ host: '127.0.0.1', port: backend })
  client.pipe(upstream).pipe(client)
  client.on('error', () => upstream.destroy())
  upstream.on('error', () => client.destroy())
})
server.on('error', (e) => {
  process.stderr.write(`error: unable to listen on port ${local}: ${e.message}\n`)
  process.exit(1)
})
server.listen(local, address, () => process.stdout.write(`Forwarding from ${address}:${local} -> ${remote}\n`))

process.on('SIGUSR1', () => {
  process.stderr.write('error: lost connection to pod\n')
  process.exit(1)
})
