import { chmodSync, closeSync, openSync } from 'node:fs'
import Database from 'better-sqlite3'
import { migrations } from './migrations/index.js'

export type SqliteDatabase = Database.Database

export interface OpenDatabaseOptions {
  /** better-sqlite3's native addon, when it is not next to the JavaScript (the single executable). */
  nativeBinding?: string
  readonly?: boolean
}

export class StoreError extends Error {
  override readonly name = 'StoreError'
  constructor(
    readonly code: 'read-only' | 'disk-full' | 'corrupt' | 'locked' | 'newer-schema' | 'io',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** Translates SQLite failures a person can do something about into {@link StoreError}s. */
export function explainSqliteError(error: unknown, path: string): unknown {
  const code = (error as { code?: string }).code ?? ''
  if (code.startsWith('SQLITE_READONLY')) {
    return new StoreError(
      'read-only',
      `${path} is read-only: give the node's user write access to it and its folder`,
      { cause: error },
    )
  }
  if (code === 'SQLITE_FULL') {
    return new StoreError(
      'disk-full',
      `the disk holding ${path} is full: free some space; nothing was written`,
      { cause: error },
    )
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new StoreError('corrupt', `${path} is not a healthy Capsule database: restore it from a backup`, {
      cause: error,
    })
  }
  if (code.startsWith('SQLITE_BUSY')) {
    return new StoreError('locked', `${path} is locked by another process`, { cause: error })
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN')) {
    return new StoreError('io', `cannot read or write ${path}: ${(error as Error).message}`, { cause: error })
  }
  return error
}

/**
 * Opens (creating if needed) the one database file, owner-only, in WAL mode, and brings its
 * schema up to date.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  try {
    if (!options.readonly) {
      // Create the file ourselves so it is 0600 from its first byte; SQLite gives the -wal and
      // -shm files the same mode as the database file.
      closeSync(openSync(path, 'a', 0o600))
      chmodSync(path, 0o600)
    }
    const db = new Database(path, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
    })
    db.pragma('busy_timeout = 5000')
    if (!options.readonly) {
      db.pragma('journal_mode = WAL')
      // FULL, not NORMAL: in WAL mode NORMAL survives a crash of the process but may lose the last
      // commits on power loss. A post acknowledged to its author must survive both; the fsync per
      // transaction is affordable because received records are stored in batches.
      db.pragma('synchronous = FULL')
      db.pragma('foreign_keys = ON')
      migrate(db)
    }
    return db
  } catch (error) {
    throw explainSqliteError(error, path)
  }
}

function migrate(db: SqliteDatabase): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > migrations.length) {
    throw new StoreError(
      'newer-schema',
      `the database was written by a newer Capsule (schema ${current}): upgrade Capsule`,
    )
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version] as string)
      db.pragma(`user_version = ${version + 1}`)
    }).immediate()
  }
}
