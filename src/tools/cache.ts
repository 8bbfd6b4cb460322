// Entries of the runner's tool cache, written so that several jobs on one runner host (which
// share RUNNER_TOOL_CACHE) can fill the same entry at once. @actions/tool-cache's cacheDir
// empties the entry's folder and copies into it in place: a second job doing the same removes
// the first one's files under it (`ENOENT ... chmod .../helm`). Here an entry is built in a
// private folder beside it and renamed into place, so it appears whole or not at all; the
// `.complete` marker tc.find looks for follows. The layout is tool-cache's, so tc.find reads it.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

function cacheRoot(): string {
  const dir = process.env['RUNNER_TOOL_CACHE']
  if (!dir) throw new Error('RUNNER_TOOL_CACHE is not set; it is set on every GitHub Actions runner')
  return dir
}

/** `<RUNNER_TOOL_CACHE>/<tool>/<version without a leading v>/<arch>`, as tc.find reads it. */
export function cacheEntryPath(tool: string, version: string, arch: string): string {
  return join(cacheRoot(), tool, version.trim().replace(/^[=v]+/, ''), arch)
}

/** A name beside `path` no other process picks. */
function besides(path: string, what: string): string {
  return `${path}.${what}-${process.pid}-${randomBytes(4).toString('hex')}`
}

/**
 * A folder inside the tool cache for building an entry of `tool` `version` (same filesystem as the
 * entry, so the final rename is atomic). `placeEntry` moves it into place; remove it on failure.
 */
export async function stageEntry(tool: string, version: string, arch: string): Promise<string> {
  const entry = cacheEntryPath(tool, version, arch)
  await mkdir(join(entry, '..'), { recursive: true })
  const stage = besides(entry, 'staging')
  await mkdir(stage)
  return stage
}

/** Copies a folder (e.g. from RUNNER_TEMP, maybe another filesystem) into a fresh stage. */
export async function stageCopy(source: string, tool: string, version: string, arch: string): Promise<string> {
  const stage = await stageEntry(tool, version, arch)
  try {
    await cp(source, stage, { recursive: true })
    return stage
  } catch (err) {
    await rm(stage, { recursive: true, force: true })
    throw err
  }
}

/**
 * Renames a complete `stage` into the entry's place and marks it complete. When the entry exists
 * already (another job placed the same files a moment earlier, or an earlier run left an entry),
 * `usable(entry)` decides: usable, it is kept and the stage dropped; not usable, it is moved aside
 * (atomic, so a reader sees the old entry or the new one, never a half) and the stage takes its
 * place. Returns the entry's path. The stage is gone afterwards either way.
 */
export async function placeEntry(
  stage: string,
  tool: string,
  version: string,
  arch: string,
  usable: (entry: string) => Promise<boolean>,
): Promise<string> {
  const entry = cacheEntryPath(tool, version, arch)
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await rename(stage, entry)
        break
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM') throw err
        if (await usable(entry)) break
        if (attempt >= 3)
          throw new Error(
            `Could not replace the tool cache entry ${entry}: another process keeps writing an entry that fails verification there`,
            { cause: err },
          )
        await evictEntry(entry)
      }
    }
    await writeFile(`${entry}.complete`, '')
    return entry
  } finally {
    await rm(stage, { recursive: true, force: true })
  }
}

/** Takes an entry out of the cache: its marker, then the folder moved aside and removed. */
export async function evictEntry(entry: string): Promise<void> {
  await rm(`${entry}.complete`, { force: true })
  if (!existsSync(entry)) return
  const aside = besides(entry, 'evicted')
  try {
    await rename(entry, aside)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return // another job evicted it first
    throw err
  }
  await rm(aside, { recursive: true, force: true })
}

/** Writes a small file whole: a reader sees the old content or the new one. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = besides(path, 'tmp')
  try {
    await writeFile(tmp, content)
    await rename(tmp, path)
  } finally {
    await rm(tmp, { force: true })
  }
}
