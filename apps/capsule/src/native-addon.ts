import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { basename, join } from 'node:path'
import { getAsset, getRawAsset, isSea } from 'node:sea'
import { useSodiumAddon } from '@capsule/core'
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
 * Makes `<dir>/<name>-<hash>.node` hold the addon whose SHA-256 is `hash` (`asset` is
 * `<name>.node`) and returns its path. `bytes` is called only when the file is missing or does not
 * match `hash` (a crash mid-write elsewhere, a bad disk); what it returns must match `hash` too. The write goes to a
 * temporary file renamed into place, so a reader never sees half a file, and two processes
 * starting at once on an empty cache both end up with a whole, identical file.
 */
export function cacheAddon(asset: string, hash: string, bytes: () => Uint8Array, dir: string): string {
  ensurePrivateDir(dir)
  const path = join(dir, `${basename(asset, '.node')}-${hash}.node`)
  if (fileSha256(path) === hash) return path
  const addon = bytes()
  if (sha256(addon) !== hash) {
    throw new NativeAddonError(`the addon ${asset} packed in this executable is damaged: download it again`)
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

const cached = new Map<string, string>()

/**
 * The path of an addon packed in the single executable, written once to a cache file named by the
 * hash the build took of it (a .node file can only be loaded from disk). A start that finds it
 * cached never reads the bytes packed in the executable, which would stay resident.
 */
function packedAddon(asset: string, env: NodeJS.ProcessEnv): string {
  let path = cached.get(asset)
  if (path === undefined) {
    path = cacheAddon(
      asset,
      getAsset(`${asset}.sha256`, 'utf8'),
      () => new Uint8Array(getRawAsset(asset)),
      cacheDir(env),
    )
    cached.set(asset, path)
  }
  return path
}

/**
 * better-sqlite3's addon for `Store.open({ nativeBinding })`. Outside the single executable:
 * undefined, so better-sqlite3 finds its own prebuild in node_modules.
 */
export function nativeBinding(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return isSea() ? packedAddon(SEA_ASSETS.addons.sqlite, env) : undefined
}

/**
 * In the single executable, points @capsule/core at the libsodium addon packed there (outside it,
 * core finds sodium-native's in node_modules). Written to the cache only when a first signature
 * is checked, so commands that check none never touch it.
 */
export function usePackedSodium(env: NodeJS.ProcessEnv = process.env): void {
  if (isSea()) useSodiumAddon(() => packedAddon(SEA_ASSETS.addons.sodium, env))
}
