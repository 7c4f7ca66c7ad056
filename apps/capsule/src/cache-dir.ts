import { randomBytes } from 'node:crypto'
import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

export class CacheDirError extends Error {
  override readonly name = 'CacheDirError'
}

/**
 * Where Capsule keeps what makes it start faster (the CLI's compiled code, the single
 * executable's SQLite addon): `$XDG_CACHE_HOME/capsule`, else `~/.cache/capsule`.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'capsule')
}

/**
 * The folder must be ours and closed to others: what is in it is loaded as code, and nobody else
 * may swap a file between its check and its use.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stat = lstatSync(dir)
  if (!stat.isDirectory()) throw new CacheDirError(`${dir} is not a folder: move it away`)
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new CacheDirError(
      `${dir} belongs to another user: remove it, or set XDG_CACHE_HOME to a folder of your own`,
    )
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700)
}

/**
 * Writes through a temporary file renamed into place: a reader never sees half a file, and of two
 * processes writing at once the last rename wins.
 */
export function replaceFile(path: string, bytes: Uint8Array, mode: number): void {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  try {
    writeFileSync(temp, bytes, { mode, flag: 'wx' })
    renameSync(temp, path)
  } catch (error) {
    rmSync(temp, { force: true })
    throw error
  }
}
