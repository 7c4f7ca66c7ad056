// The CLI as one CommonJS file (esbuild): Node loads and compiles one file much faster than the
// thousand ES modules behind it. Two builds share these options:
// - `npm run build` runs this file and writes dist/capsule.cjs, which bin/capsule.js loads.
//   Left in node_modules: better-sqlite3, which finds its addon there, and acme-client, loaded
//   only to order a certificate (its 1.2 MB in the bundle cost every start time to load);
// - scripts/build-binary.mjs bundles the single executable's script with bundleCli.
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
 * (`{ version, commit? }`, see src/version.ts); `options` are more esbuild options (`inject` adds
 * to the bundle's own).
 */
export async function bundleCli(outfile, info, { inject = [], ...options } = {}) {
  const result = await build({
    entryPoints: [join(app, 'dist/cli.js')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    define: { CAPSULE_BUILD: JSON.stringify(info), 'import.meta.url': 'importMetaUrl' },
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
  return result
}

if (import.meta.main) {
  await bundleCli(
    join(app, 'dist/capsule.cjs'),
    { version: appVersion() },
    { external: ['better-sqlite3', 'acme-client'] },
  )
}
