// The two V8 settings of src/memory.ts, each measured in a child process of its own (the
// settings are process-wide) against the same work without it.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { collectingGarbage } from '../src/memory.ts'

const MEMORY = join(import.meta.dirname, '..', 'src', 'memory.ts')
const MB = 1 << 20

/** Runs `body` in a fresh Node with src/memory.ts imported as `m`; its stdout, parsed as JSON. */
function inChild(body: string): unknown {
  const script = `import * as m from ${JSON.stringify(MEMORY)}\nimport v8 from 'node:v8'\n${body}`
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }))
}

describe('keepYoungGenerationSmall', () => {
  const burst = (small: boolean) =>
    inChild(`
      if (${small}) m.keepYoungGenerationSmall()
      let keep = []
      for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: 'x' + i }); if (keep.length > 1000) keep = [] }
      console.log(JSON.stringify(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))
    `) as number

  it('a burst of short-lived objects leaves the young generation at its initial size, where V8 would grow it', () => {
    expect(burst(true)).toBeLessThanOrEqual(4 * MB)
    expect(burst(false)).toBeGreaterThanOrEqual(16 * MB)
  })
})

describe('collectingGarbage', () => {
  it('resolves and rejects as the work does', async () => {
    await expect(collectingGarbage(Promise.resolve(42), 10)).resolves.toBe(42)
    await expect(collectingGarbage(Promise.reject(new Error('no')), 10)).rejects.toThrow('no')
  })

  // A download as tool-cache makes it: 57 MB (kubectl's size) at about 100 MB/s over a loopback
  // socket, piped to a file; each socket read is a fresh buffer, garbage once written.
  const download = (collecting: boolean) =>
    inChild(`
      const http = await import('node:http')
      const { createWriteStream } = await import('node:fs')
      const { pipeline } = await import('node:stream/promises')
      const chunk = Buffer.alloc(1 << 20, 1)
      const server = http.createServer((_, res) => {
        let sent = 0
        const more = () => { if (sent++ === 57) return res.end(); res.write(chunk); setTimeout(more, 10) }
        more()
      })
      await new Promise((r) => server.listen(0, '127.0.0.1', r))
      let max = 0
      const sample = setInterval(() => { max = Math.max(max, process.memoryUsage().arrayBuffers) }, 5)
      const work = new Promise((resolve, reject) => http.get('http://127.0.0.1:' + server.address().port, (res) => pipeline(res, createWriteStream('/dev/null')).then(resolve, reject)).on('error', reject))
      await (${collecting} ? m.collectingGarbage(work, 50) : work)
      clearInterval(sample)
      server.close()
      console.log(JSON.stringify(max))
    `) as number

  it("a download's buffers are collected as it goes, where V8 lets tens of MB pile up", () => {
    const [collected, left] = [download(true), download(false)]
    expect(left).toBeGreaterThan(30 * MB)
    expect(collected).toBeLessThan(left / 2)
  })
})
