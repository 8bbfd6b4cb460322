// Mimics `kubectl [--kubeconfig K] port-forward --namespace N --address A RESOURCE L:P` for tests:
// listens on A:L, prints "Forwarding from A:L -> P" and proxies each connection to the local
// backend that FAKE_KUBECTL_BACKENDS ({"<P>": <port>}) names for P. Every start is appended to
// FAKE_KUBECTL_LOG as a JSON line ({pid, args, at: epoch ms}).
//
// What upstream kubectl does when things go wrong, on demand:
// - backend 0 for P: the pod is not running; exits at once with kubectl's message;
// - SIGUSR1: exits with "lost connection to pod", as kubectl does when its pod goes away;
// - SIGUSR2: keeps running with its port open but forwards nothing more (connections are
//   accepted and held), silently;
// - SIGHUP: the same, after printing a forwarding error on stderr as kubectl 1.31+ logs it
//   (kubectl issues #686, #1368, #1620);
// - SIGWINCH: prints the error kubectl logs when a local client went away early, and keeps working;
// - SIGSTOP (not handled here): frozen; the kernel still completes TCP handshakes on its port.
import { appendFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'

const args = process.argv.slice(2)
appendFileSync(process.env.FAKE_KUBECTL_LOG as string, `${JSON.stringify({ pid: process.pid, args, at: Date.now() })}\n`)

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
if (backend === 0) {
  process.stderr.write('error: unable to forward port because pod is not running. Current status=Pending\n')
  process.exit(1)
}

let dead = false
const held: Socket[] = []
const server = createServer((client) => {
  if (dead) {
    held.push(client.on('error', () => undefined))
    return
  }
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

const klog = (message: string) => {
  const t = new Date()
  const mmdd = `${String(t.getMonth() + 1).padStart(2, '0')}${String(t.getDate()).padStart(2, '0')}`
  process.stderr.write(`E${mmdd} ${t.toISOString().slice(11, 23)}000 ${String(process.pid).padStart(7)} portforward.go:424] ${message}\n`)
}

process.on('SIGUSR1', () => {
  process.stderr.write('error: lost connection to pod\n')
  process.exit(1)
})
process.on('SIGUSR2', () => {
  dead = true
})
process.on('SIGHUP', () => {
  dead = true
  klog(
    `"Unhandled Error" err="an error occurred forwarding ${local} -> ${remote}: error forwarding port ${remote} to pod 0f3c, uid : failed to find sandbox \\"0f3c\\" in store: not found"`,
  )
})
process.on('SIGWINCH', () => {
  klog(
    `"Unhandled Error" err="error copying from remote stream to local connection: readfrom tcp4 127.0.0.1:${local}->127.0.0.1:50000: write tcp4 127.0.0.1:${local}->127.0.0.1:50000: write: broken pipe"`,
  )
})
