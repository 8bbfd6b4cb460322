// ncc -m minifies the entry file but not the chunks it splits off for dynamic imports (the
// lazily loaded Kubernetes client is most of the bundle): minify those too.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { minify } from 'terser'

for (const dir of process.argv.slice(2)) {
  for (const file of readdirSync(dir).filter((f) => /^\d+\.index\.js$/.test(f))) {
    const path = join(dir, file)
    const before = readFileSync(path, 'utf8')
    const out = await minify(before, { module: true, compress: { passes: 1 }, mangle: true, format: { comments: false } })
    writeFileSync(path, out.code ?? before)
    console.log(`${path}: ${(before.length / 1e6).toFixed(1)} MB -> ${((out.code ?? before).length / 1e6).toFixed(1)} MB`)
  }
}
