#!/usr/bin/env node
// Builds dist/capsule: the whole node as one Linux x64 executable, a Node 24 single executable
// application (SEA) carrying an esbuild bundle of the app and better-sqlite3's native addon.
// Run with `npm run build:binary` (Node 24 from node_modules). Options:
//   --no-strip   keep the debug symbols of the Node binary (about 10 MB more)
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { appVersion, bundleCli, bundleCommonJs } from '../apps/capsule/scripts/bundle.mjs'

const root = resolve(import.meta.dirname, '..')
const require = createRequire(join(root, 'package.json'))
const app = join(root, 'apps/capsule')
const work = join(root, 'dist/sea')
const output = join(root, 'dist/capsule')
const strip = !process.argv.includes('--no-strip')
// The fuse postject flips so that the Node binary looks for its SEA blob (Node's documented value).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

function step(message) {
  process.stdout.write(`build-binary: ${message}\n`)
}

function run(file, args, options = {}) {
  return execFileSync(file, args, { cwd: root, encoding: 'utf8', ...options })
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  throw new Error(`dist/capsule is a Linux x64 executable; this is ${process.platform}-${process.arch}`)
}
const [major] = process.versions.node.split('.').map(Number)
if (major !== 24) {
  throw new Error(`run this with the project's Node 24 (npm run build:binary), not Node ${process.version}`)
}

// The Node binary the executable is made from: the project's own Node 24, the one running this
// script (node_modules/node/bin/node). The code cache in the blob only fits the V8 that made it.
const nodeBinary = process.execPath
const fileType = readFileSync(nodeBinary).subarray(0, 4)
if (!fileType.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])))
  throw new Error(`${nodeBinary} is not an ELF file`)

function buildInfo() {
  const version = appVersion()
  let commit = 'unknown'
  // safe.directory: CI builds as root in a checkout owned by another user.
  const git = (...args) => run('git', ['-c', `safe.directory=${root}`, ...args]).trim()
  try {
    commit = git('rev-parse', '--short', 'HEAD')
    if (git('status', '--porcelain', '--untracked-files=no') !== '') commit += '-dirty'
  } catch {
    // Not a git checkout (a source tarball): the version alone.
  }
  return { version, commit }
}

step('compiling the app (tsc -b apps/capsule)')
run(join(root, 'node_modules/.bin/tsc'), ['-b', 'apps/capsule'], { stdio: 'inherit' })
// What the executable looks up by asset key.
const { SEA_ASSETS } = await import(join(app, 'dist/sea-assets.js'))

rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
const info = buildInfo()
const assets = {}
/** Where an asset's file goes in dist/sea, and its key in the sea config. */
function asset(key) {
  assets[key] = join(work, key)
  return assets[key]
}

step(`bundling ${info.version} (${info.commit}) with esbuild`)
const packed = Object.keys(SEA_ASSETS.modules)
const result = await bundleCli(asset(SEA_ASSETS.bundle), info, {
  // better-sqlite3 loads its addon with __non_webpack_require__ when there is one: ours uses
  // process.dlopen, since the executable loads no module from disk.
  inject: [join(app, 'dist/sea-require.js')],
  // Packed on their own, required on first use (sea-modules.ts): import() of one becomes require.
  external: packed,
  supported: { 'dynamic-import': false },
})
writeFileSync(join(work, 'meta.json'), JSON.stringify(result.metafile))
// For a first start, which has no code cache of its own yet: made by this Node, the executable's.
const { topLevelCodeCache } = await import(join(app, 'dist/code-cache.js'))
writeFileSync(asset(SEA_ASSETS.bundleCodeCache), topLevelCodeCache(readFileSync(assets[SEA_ASSETS.bundle])))
for (const id of packed) {
  const entry = require.resolve(id, { paths: [join(root, 'packages/site')] })
  await bundleCommonJs(entry, asset(SEA_ASSETS.modules[id]))
}
// The executable's own script, which runs the bundle from the user's code cache (sea-main.ts).
const main = join(work, 'main.cjs')
await bundleCommonJs(join(app, 'dist/sea-main.js'), main)

// The native addons, each hashed here, once: a start checks its cached copy against the hash and
// never reads the packed bytes (native-addon.ts).
const addons = {
  [SEA_ASSETS.addons.sqlite]: join(
    dirname(require.resolve('better-sqlite3/package.json', { paths: [join(root, 'packages/store')] })),
    'prebuilds/linux-x64.node',
  ),
  [SEA_ASSETS.addons.sodium]: join(
    dirname(require.resolve('sodium-native/package.json', { paths: [join(root, 'packages/core')] })),
    'prebuilds/linux-x64/sodium-native.node',
  ),
}
for (const [key, file] of Object.entries(addons)) {
  copyFileSync(file, asset(key))
  writeFileSync(asset(`${key}.sha256`), createHash('sha256').update(readFileSync(file)).digest('hex'))
}
const blob = join(work, 'capsule.blob')
const seaConfig = {
  main,
  output: blob,
  disableExperimentalSEAWarning: true,
  useCodeCache: true,
  useSnapshot: false,
  // As bin/capsule.js's shebang: a small young generation, which V8 would grow during a burst of
  // records and then keep while the node idles.
  execArgv: ['--max-semi-space-size=4'],
  // NODE_OPTIONS and --node-options are ignored: no one can add --require to the executable.
  execArgvExtension: 'none',
  assets,
}
writeFileSync(join(work, 'sea-config.json'), `${JSON.stringify(seaConfig, null, 2)}\n`)
step('writing the SEA blob (with the code cache)')
run(nodeBinary, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: 'inherit' })

rmSync(output, { force: true })
copyFileSync(nodeBinary, output)
chmodSync(output, 0o755)
if (strip) {
  // Symbols only (about 18 MB); strip before the blob goes in, never after: the SEA must stay intact.
  try {
    run('strip', ['--strip-all', output])
    step('stripped the Node binary')
  } catch (error) {
    if (error.code !== 'ENOENT') throw error
    step('no strip here (Debian: apt-get install binutils): the executable keeps its symbols')
  }
}
step('injecting the blob (postject)')
const postject = join(dirname(require.resolve('postject/package.json')), 'dist/cli.js')
const injected = spawnSync(
  nodeBinary,
  [postject, output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE],
  { cwd: root, encoding: 'utf8' },
)
// LIEF warns about every ELF note section it cannot name; harmless, and noise.
const noise = /^warning: Can't find string offset for section name/
const said = `${injected.stdout}${injected.stderr}`.split('\n').filter((line) => line && !noise.test(line))
if (injected.status !== 0) throw new Error(`postject failed (${injected.status}):\n${said.join('\n')}`)

const bytes = readFileSync(output)
const sha256 = createHash('sha256').update(bytes).digest('hex')
writeFileSync(`${output}.sha256`, `${sha256}  capsule\n`)
const size = statSync(output).size
step(`wrote ${relative(root, output)}: ${(size / 1e6).toFixed(1)} MB, sha256 ${sha256}`)
step(run(output, ['--version']).trim())
