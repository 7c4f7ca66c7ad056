import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { getAsset, getRawAsset, isSea } from 'node:sea'
import { cacheDir, ensurePrivateDir, replaceFile } from './cache-dir.js'
import { SEA_ASSETS } from './sea-assets.js'

export class NativeAddonError extends Error {
  override readonly name = 'NativeAddonError'
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The SHA-256 of a file, read in small pieces; undefined if there is no such file. */
function fileSha256(path: string): string | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const hash = createHash('sha256')
    const piece = Buffer.allocUnsafe(64 * 1024)
    for (let read = readSync(fd, piece); read > 0; read = readSync(fd, piece)) {
      hash.update(piece.subarray(0, read))
    }
    return hash.digest('hex')
  } finally {
    closeSync(fd)
  }
}

/**
 * Makes `<dir>/better_sqlite3-<hash>.node` hold the addon whose SHA-256 is `hash` and returns its
 * path. `bytes` is called only when the file is missing or does not match `hash` (a crash
 * mid-write elsewhere, a bad disk); what it returns must match `hash` too. The write goes to a
 * temporary file renamed into place, so a reader never sees half a file, and two processes
 * starting at once on an empty cache both end up with a whole, identical file.
 */
export function cacheAddon(hash: string, bytes: () => Uint8Array, dir: string): string {
  ensurePrivateDir(dir)
  const path = join(dir, `better_sqlite3-${hash}.node`)
  if (fileSha256(path) === hash) return path
  const addon = bytes()
  if (sha256(addon) !== hash) {
    throw new NativeAddonError('the SQLite addon packed in this executable is damaged: download it again')
  }
  replaceFile(path, addon, 0o700)
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
 * as a SEA asset, written once to a cache file named by the hash the build took of it (a .node
 * file can only be loaded from disk). A start that finds it cached never reads the 2.2 MB packed
 * in the executable, which would stay resident.
 */
export function nativeBinding(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!isSea()) return undefined
  cached ??= cacheAddon(
    getAsset(SEA_ASSETS.addonHash, 'utf8'),
    () => new Uint8Array(getRawAsset(SEA_ASSETS.addon)),
    cacheDir(env),
  )
  return cached
}
