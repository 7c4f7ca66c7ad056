import type { SqliteDatabase } from './open-database.js'

/** Small named values: things the node decided once and must remember across restarts. */
export class SettingsTable {
  readonly #get
  readonly #set
  readonly #delete

  constructor(db: SqliteDatabase) {
    this.#get = db.prepare('SELECT value FROM settings WHERE key = ?').pluck()
    this.#set = db.prepare(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    )
    this.#delete = db.prepare('DELETE FROM settings WHERE key = ?')
  }

  get(key: string): string | undefined {
    return this.#get.get(key) as string | undefined
  }

  set(key: string, value: string): void {
    this.#set.run(key, value)
  }

  delete(key: string): void {
    this.#delete.run(key)
  }
}
