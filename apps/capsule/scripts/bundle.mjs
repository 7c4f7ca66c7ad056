// The CLI as one CommonJS file (esbuild): Node loads and compiles one file much faster than the
// thousand ES modules behind it. Two builds share these options:
// - `npm run build` runs this file and writes dist/capsule.cjs, which bin/capsule.js loads.
//   Left in node_modules: better-sqlite3, which finds its addon there, and acme-client, loaded
//   only to order a certificate (its 1.4 MB in the bundle cost every start time and memory);
// - scripts/build-binary.mjs bundles the single executable's CLI with bundleCli, and its own
//   script and the modules it packs on their own with bundleCommonJs.
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { build, formatMessages } from 'esbuild'

const app = resolve(import.meta.dirname, '..')

/** The version in apps/capsule/package.json. */
export function appVersion() {
  return JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).version
}

/**
 * Bundles tsc's dist/cli.js into `outfile`. `info` is what `capsule --version` says
 * (`{ version, commit? }`, see src/version.ts); `options` are more esbuild options.
 */
export function bundleCli(outfile, info, options = {}) {
  return bundleCommonJs(join(app, 'dist/cli.js'), outfile, {
    define: { CAPSULE_BUILD: JSON.stringify(info) },
    ...options,
  })
}

/**
 * Bundles `entry` and what it imports into one CommonJS file for Node 24, ASCII only. `define` and
 * `inject` add to the bundle's own: `import.meta.url` is the bundle file's URL (import-meta-url.js).
 */
export async function bundleCommonJs(entry, outfile, { define = {}, inject = [], ...options } = {}) {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    define: { 'import.meta.url': 'importMetaUrl', ...define },
    inject: [join(app, 'scripts/import-meta-url.js'), ...inject],
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'eof',
    logLevel: 'silent',
    metafile: true,
    ...options,
  })
  // Every warning fails the build: an import.meta or a require the bundle cannot resolve would
  // break only in the bundle.
  if (result.warnings.length > 0) {
    const text = await formatMessages(result.warnings, { kind: 'warning' })
    throw new Error(`esbuild warned; the bundle could break where it did:\n${text.join('\n')}`)
  }
  assertAscii(outfile)
  return result
}

/**
 * The bundle must be ASCII. V8 keeps a script's source in the heap while the script lives, at one
 * byte a character only if every character fits in one: the site's `’` and `←` alone made the
 * single executable's 3.2 MB source take 6.4 MB of every idle node. esbuild escapes strings
 * (charset ascii) but keeps tagged templates and regular expressions as written.
 */
function assertAscii(file) {
  const bytes = readFileSync(file)
  const at = bytes.findIndex((byte) => byte > 0x7f)
  if (at === -1) return
  const context = bytes.subarray(Math.max(0, at - 80), at + 40).toString('utf8')
  throw new Error(
    `${file} has a character beyond ASCII at byte ${at}, which doubles the heap its source takes; write it as an escape (\\u…, or an HTML entity in a page):\n${context}`,
  )
}

if (import.meta.main) {
  await bundleCli(
    join(app, 'dist/capsule.cjs'),
    { version: appVersion() },
    { external: ['better-sqlite3', 'acme-client'] },
  )
}
