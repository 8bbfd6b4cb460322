// The shape of src/: types.ts is a leaf, no import cycle (type imports counted), and no import
// climbs a layer. A new module goes in the folder of its subject; these tests say where that
// folder stands (docs/architecture.md).
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '..', 'src')

/** Layers from the bottom: a module may import its own folder and the layers below it. */
export const LAYERS: string[][] = [
  ['types.ts'],
  ['marks.ts', 'budget.ts', 'state.ts'],
  ['cluster', 'tools'],
  ['context.ts', 'holds.ts'],
  ['prometheus'],
  ['expose'],
  ['milvus'],
  ['scrape'],
  ['mixin'],
  ['report'],
  ['inputs.ts', 'preflight.ts', 'main.ts', 'cleanup.ts', 'index.ts', 'post.ts'],
]

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

/** Relative imports and re-exports of a module's text, `import type` included. */
export function importsOf(text: string): string[] {
  return [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/gm),
  ].map((m) => (m[1] ?? m[2])!)
}

function graph(): Map<string, string[]> {
  return new Map(
    files(SRC).map((f) => [relative(SRC, f), importsOf(readFileSync(f, 'utf8')).map((s) => relative(SRC, resolve(dirname(f), s)))]),
  )
}

/** The layer of a module: the index of the entry naming its folder or, at the top, its file. */
export function layerOf(module: string): number {
  const key = module.includes('/') ? module.split('/')[0]! : module
  return LAYERS.findIndex((l) => l.includes(key))
}

/** Every cycle's modules, found by a depth-first walk (one per strongly connected group is enough). */
export function cycles(g: Map<string, string[]>): string[][] {
  const found: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (m: string) => {
    state.set(m, 'open')
    stack.push(m)
    for (const n of g.get(m) ?? []) {
      if (state.get(n) === 'open') found.push(stack.slice(stack.indexOf(n)))
      else if (!state.has(n)) visit(n)
    }
    stack.pop()
    state.set(m, 'done')
  }
  for (const m of [...g.keys()].sort()) if (!state.has(m)) visit(m)
  return found
}

describe('the layers of src/', () => {
  const g = graph()

  it('every module sits in a layer', () => {
    expect([...g.keys()].filter((m) => layerOf(m) < 0)).toEqual([])
  })

  it('types.ts imports nothing', () => {
    expect(g.get('types.ts')).toEqual([])
  })

  it('has no import cycle, type imports counted', () => {
    expect(cycles(g)).toEqual([])
  })

  it('no import climbs a layer', () => {
    const climbs = [...g].flatMap(([m, deps]) => deps.filter((d) => layerOf(d) > layerOf(m)).map((d) => `${m} -> ${d}`))
    expect(climbs).toEqual([])
  })

  it('the checks themselves see a cycle, a climb and a type import', () => {
    expect(importsOf("import type { A } from './a.ts'\nexport { b } from '../b.ts'\nconst c = await import('./c.ts')")).toEqual([
      './a.ts',
      '../b.ts',
      './c.ts',
    ])
    expect(
      cycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', ['c.ts']],
          ['c.ts', ['a.ts']],
        ]),
      ),
    ).toEqual([['a.ts', 'b.ts', 'c.ts']])
    expect(layerOf('mixin/dashboard.ts')).toBeGreaterThan(layerOf('prometheus/stack.ts'))
  })
})
