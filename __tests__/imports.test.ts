// Tooling points one way: the tests use scripts/, benchmarks/ and local-cluster/, never the
// reverse, so that the demo, the benchmarks and the local action run without the test tree and a
// change to a test helper cannot break them. What both sides need lives in local-cluster/.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '..')
const TOOLING = ['scripts', 'benchmarks', 'local-cluster']
const TESTS = join(ROOT, '__tests__')

/** Every module specifier of a source file: static and type imports, re-exports, import(), require(). */
function specifiers(text: string): string[] {
  const out: string[] = []
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, // import x from 'm', export { x } from 'm'
    /\bimport\s*['"]([^'"]+)['"]/g, // import 'm'
    /\b(?:import|require)\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g, // import('m'), require('m')
  ]
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!)
  return out
}

/** The specifiers of `file` (a path under ROOT) that resolve into __tests__/. */
function testImports(file: string, text: string): string[] {
  return specifiers(text).filter((s) => {
    if (!s.startsWith('.') && !s.startsWith('/')) return false // a package
    const target = resolve(dirname(file), s)
    return target === TESTS || target.startsWith(TESTS + sep)
  })
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path)
    return /\.(?:[cm]?[jt]s)$/.test(e.name) ? [path] : []
  })
}

describe('tooling imports nothing from __tests__/', () => {
  const files = TOOLING.flatMap((d) => sources(join(ROOT, d)))

  it('finds the tooling sources', () => {
    // The demo, the local action and every benchmark: a scan that found nothing would pass anything.
    const names = files.map((f) => relative(ROOT, f))
    expect(names).toEqual(
      expect.arrayContaining(['local-cluster/demo.ts', 'scripts/local-action.ts', 'benchmarks/action.ts', 'local-cluster/runner.ts']),
    )
  })

  it.each(TOOLING)('%s/ imports nothing from __tests__/', (dir) => {
    const offending = files
      .filter((f) => f.startsWith(join(ROOT, dir) + sep))
      .flatMap((f) => testImports(f, readFileSync(f, 'utf8')).map((s) => `${relative(ROOT, f)}: ${s}`))
    expect(offending).toEqual([])
  })

  it('catches every form of import into __tests__/, and nothing else', () => {
    const file = join(ROOT, 'scripts', 'x.ts')
    const crafted = [
      `import { makeRunner } from '../__tests__/support/runner.ts'`,
      `import type { Runner } from "../__tests__/support/runner.ts"`,
      `import {\n  a,\n  b,\n} from '../__tests__/support/fake-kubectl.ts'`,
      `export { x } from '../__tests__/support/readme.ts'`,
      `import '../__tests__/setup.ts'`,
      `const m = await import('../__tests__/support/http-proxy.ts')`,
      `const r = require('../__tests__/support/runner.ts')`,
      `import { x } from '/${relative('/', TESTS)}/support/runner.ts'`,
    ]
    for (const line of crafted) expect(testImports(file, line), line).toHaveLength(1)
    const fine = [
      `import { makeRunner } from '../local-cluster/runner.ts'`,
      `import { describe } from 'vitest'`,
      `import { x } from '../__tests__x/y.ts'`, // a sibling whose name only starts the same
      `// see __tests__/support/runner.ts`,
    ]
    for (const line of fine) expect(testImports(file, line), line).toEqual([])
    // Relative to the importing file: from local-cluster/timeline/, one level up is local-cluster/.
    expect(testImports(join(ROOT, 'local-cluster', 'timeline', 'x.ts'), `import '../__tests__/a.ts'`)).toEqual([])
    expect(testImports(join(ROOT, 'local-cluster', 'timeline', 'x.ts'), `import '../../__tests__/a.ts'`)).toHaveLength(1)
  })
})
