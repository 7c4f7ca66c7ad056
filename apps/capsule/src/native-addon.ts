import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { getRawAsset, isSea } from 'node:sea'
import { cacheDir, ensurePrivateDir, replaceFile } from './cache-dir.js'

/** The SEA asset key under which scripts/build-binary.mjs packs better-sqlite3's addon. */
export const ADDON_ASSET = 'better_sqlite3.node'

export class NativeAddonError extends Error {
  override readonly name = 'NativeAddonError'
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Writes `bytes` to `<dir>/better_sqlite3-<sha256>.node` unless a file with exactly those bytes is
 * already there, and returns its path. The write goes to a temporary file renamed into place, so
 * a reader never sees half a file, and two processes starting at once on an empty cache both end
 * up with a whole, identical file (the last rename wins; both wrote the same bytes).
 */
export function cacheAddon(bytes: Uint8Array, dir: string): string {
  const hash = sha256(bytes)
  ensurePrivateDir(dir)
  const path = join(dir, `better_sqlite3-${hash}.node`)
  let existing: Buffer | undefined
  try {
    existing = readFileSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  // A truncated or altered file (a crash mid-write elsewhere, a bad disk) is rewritten.
  if (existing !== undefined && sha256(existing) === hash) return path
  replaceFile(path, bytes, 0o700)
  return path
}

const loaded = new Map<string, unknown>()

/**
 * Loads a native addon with `process.dlopen`, once per path. The single executable's `require`
 * loads built-in modules only, so the build hands this to better-sqlite3 in its place (see
 * sea-require.ts); better-sqlite3 sets a flag on the returned object, which must therefore be the
 * same object every time.
 */
export function requireNativeAddon(path: string): unknown {
  if (!path.endsWith('.node')) {
    throw new NativeAddonError(`the single executable loads only native addons from disk, not ${path}`)
  }
  let exports = loaded.get(path)
  if (exports === undefined) {
    const module = { exports: {} }
    process.dlopen(module, path)
    exports = module.exports
    loaded.set(path, exports)
  }
  return exports
}

let cached: string | undefined

/**
 * better-sqlite3's addon for `Store.open({ nativeBinding })`. Outside the single executable:
 * undefined, so better-sqlite3 finds its own prebuild in node_modules. Inside: the addon packed
 * as a SEA asset, written once to a cache file named by its hash (a .node file can only be
 * loaded from disk).
 */
export function nativeBinding(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!isSea()) return undefined
  cached ??= cacheAddon(new Uint8Array(getRawAsset(ADDON_ASSET)), cacheDir(env))
  return cached
}
