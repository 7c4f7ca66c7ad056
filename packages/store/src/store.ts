import { FollowTable } from './follow-table.js'
import { IdentityTable } from './identity-table.js'
import {
  explainSqliteError,
  type OpenDatabaseOptions,
  openDatabase,
  type SqliteDatabase,
} from './open-database.js'
import { PeerTable } from './peer-table.js'
import { RecordTable } from './record-table.js'
import { SettingsTable } from './settings-table.js'

/** The one database file, `capsule.db`: identity, records, follows, known peers and settings. */
export class Store {
  readonly identity: IdentityTable
  readonly records: RecordTable
  readonly follows: FollowTable
  readonly peers: PeerTable
  readonly settings: SettingsTable
  readonly #db: SqliteDatabase

  private constructor(
    db: SqliteDatabase,
    readonly path: string,
  ) {
    this.#db = db
    this.identity = new IdentityTable(db)
    this.records = new RecordTable(db)
    this.follows = new FollowTable(db)
    this.peers = new PeerTable(db)
    this.settings = new SettingsTable(db)
  }

  static open(path: string, options: OpenDatabaseOptions = {}): Store {
    const db = openDatabase(path, options)
    try {
      return new Store(db, path)
    } catch (error) {
      db.close()
      throw explainSqliteError(error, path)
    }
  }

  /** Runs `work` in one transaction, translating disk trouble into errors a person can act on. */
  transaction<T>(work: () => T): T {
    try {
      return this.#db.transaction(work).immediate()
    } catch (error) {
      throw explainSqliteError(error, this.path)
    }
  }

  integrityCheck(): string {
    return this.#db.pragma('integrity_check', { simple: true }) as string
  }

  close(): void {
    if (this.#db.open) this.#db.close()
  }

  [Symbol.dispose](): void {
    this.close()
  }
}
