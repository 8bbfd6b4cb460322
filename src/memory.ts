// The action's own memory. It is a short, I/O-bound process on a runner it shares with the
// cluster, and two of V8's defaults set most of its peak RSS (BENCHMARKS.md, "Memory"):
// - V8 grows the young generation to 2 x 32 MB under the bursts of parsing a run has (YAML,
//   JSON of watch events) and keeps it; held at its initial 2 MB, it is scavenged more often,
//   which costs an I/O-bound process nothing measurable;
// - every socket read of a download leaves a 64 KiB buffer for the collector, and V8 collects
//   them only once some 64 MB are pending: kubectl alone is 57 MB. The allocator keeps that peak
//   after the collection, so the process would carry it for the rest of the run. The same holds,
//   smaller, for the ownership record's manifests and answers: both collect as they go.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let collect: (() => void) | undefined

/** Keeps V8's young generation at its initial size (`--semi-space-growth-factor=1`), from this call on. */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1')
}

/**
 * Resolves or rejects as `work` does; until it settles, runs a full garbage collection every
 * `everyMs` ms (default 50; a few ms each on the action's heap), and one more at the end.
 * For downloads and other bursts of garbage, which would otherwise pile up (see the header).
 */
export async function collectingGarbage<T>(work: Promise<T>, everyMs = 50): Promise<T> {
  if (!collect) {
    try {
      setFlagsFromString('--expose-gc') // takes effect in new contexts: the collector's handle comes from one
      collect = runInNewContext('gc') as () => void
    } catch {
      collect = () => undefined // a Node that no longer allows it: more memory, never a failed run
    }
  }
  const timer = setInterval(collect, everyMs)
  timer.unref()
  try {
    return await work
  } finally {
    clearInterval(timer)
    collect()
  }
}
