import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runTool, stopRunningTools } from '../../src/cluster/kubectl.ts'

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('tools still running when the main step ends', () => {
  it('are stopped: SIGTERM, then SIGKILL for one that ignores it; the call resolves once both exited', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tools-'))
    // A "helm" that prints its pid and ignores SIGTERM, as a tool stuck in a write can.
    const stubborn = join(dir, 'stubborn')
    writeFileSync(stubborn, '#!/bin/sh\ntrap \'\' TERM\necho $$ > "$1"\nwhile :; do sleep 0.1; done\n')
    chmodSync(stubborn, 0o755)
    const polite = join(dir, 'polite')
    writeFileSync(polite, '#!/bin/sh\necho $$ > "$1"\nexec sleep 60\n')
    chmodSync(polite, 0o755)
    const never = new AbortController().signal
    const runs = [
      runTool(stubborn, 'helm', [join(dir, 'a.pid')], { signal: never, allowFailure: true }),
      runTool(polite, 'kubectl', [join(dir, 'b.pid')], { signal: never, allowFailure: true }),
    ]
    const pidOf = async (f: string) => {
      for (let i = 0; i < 100 && !existsSync(f); i++) await new Promise((r) => setTimeout(r, 20))
      return Number(readFileSync(f, 'utf8'))
    }
    const pids = [await pidOf(join(dir, 'a.pid')), await pidOf(join(dir, 'b.pid'))]
    expect(pids.every(alive)).toBe(true)
    expect(await stopRunningTools(300)).toBe(2)
    expect(pids.filter(alive)).toEqual([])
    await Promise.all(runs)
    expect(await stopRunningTools(300)).toBe(0)
  })
})
