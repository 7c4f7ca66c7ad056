import { ApiError, DaemonNotRunningError, DaemonRunningError, SocketClient } from '@capsule/socket-api'
import { IdentityExistsError, Store, StoreError } from '@capsule/store'
import { type Command, CommanderError } from 'commander'
import { CacheDirError } from './cache-dir.js'
import { type Home, resolveHome } from './home.js'
import { KeyFileError } from './identity.js'
import { NativeAddonError, nativeBinding } from './native-addon.js'

/** A mistake in how a command was called: exit code 2, like commander's own usage errors. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** A failure already explained to the user: exit code 1. */
export class CliFailure extends Error {
  override readonly name = 'CliFailure'
}

export function homeOf(command: Command): Home {
  return resolveHome(command.optsWithGlobals<{ home?: string }>().home)
}

export function clientOf(command: Command): SocketClient {
  return new SocketClient(homeOf(command).socketPath)
}

/** Opens the home's database for a command that works without the daemon. */
export function openExistingStore(home: Home, readonly = false): Store {
  try {
    return Store.open(home.databasePath, { readonly, nativeBinding: nativeBinding() })
  } catch (error) {
    if (error instanceof StoreError && readonly) {
      throw new CliFailure(
        `no Capsule node in ${home.dir}: create one with "capsule init" (or choose --home)`,
      )
    }
    throw error
  }
}

const EXPLAINED = [
  DaemonNotRunningError,
  DaemonRunningError,
  KeyFileError,
  IdentityExistsError,
  StoreError,
  CliFailure,
  NativeAddonError,
  CacheDirError,
]

/** File-system failures a person can act on (the home on a full or read-only disk...). */
const FILE_SYSTEM: Record<string, string> = {
  EROFS: 'is on a read-only file system: remount it read-write or choose another --home',
  ENOSPC: 'cannot be written: the disk is full; free some space',
  EDQUOT: 'cannot be written: the disk quota is used up; free some space',
  EACCES: 'is not accessible to this user: check its owner and mode',
  EPERM: 'may not be changed by this user: check its owner',
}

/** Prints an error the way a person can act on it and returns the process exit code. */
export function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2
  if (error instanceof UsageError) {
    process.stderr.write(`capsule: ${error.message}\n(see "capsule --help")\n`)
    return 2
  }
  if (error instanceof ApiError) {
    process.stderr.write(`capsule: ${error.message} [${error.code}]\n`)
    return 1
  }
  if (EXPLAINED.some((kind) => error instanceof kind)) {
    process.stderr.write(`capsule: ${(error as Error).message}\n`)
    return 1
  }
  const { code, path } = (error ?? {}) as NodeJS.ErrnoException
  const why = code === undefined ? undefined : FILE_SYSTEM[code]
  if (why !== undefined) {
    process.stderr.write(`capsule: ${path ?? 'a file of the node'} ${why} [${code}]\n`)
    return 1
  }
  process.stderr.write(
    `capsule: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  return 1
}

export function parseLimit(value: string): number {
  const limit = Number(value)
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit takes a positive whole number, not "${value}"`)
  return limit
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}
