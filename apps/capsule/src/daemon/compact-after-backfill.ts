import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Mesh } from '@capsule/mesh'

/** V8's collector as `--expose-gc` gives it; `last-resort` also hands emptied pages back. */
export type CollectGarbage = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void

/** A backfill this large leaves tens of MB of V8 pages behind (10,000 records: about 25 MB). */
const MIN_RECORDS = 1_000
/** Syncs this far apart are one backfill: a follow's rounds follow each other within milliseconds. */
const QUIET_MS = 200

let exposed: CollectGarbage | undefined

/**
 * V8's collector, taken from a fresh context while `--expose-gc` is set for a moment (as Jest's
 * leak detector does). Not Node's `--expose-gc` flag at start: it changes V8's flag hash, so Node's
 * own code cache for its built-in modules was refused and every start took 20 to 25 ms longer.
 */
export const collectGarbage: CollectGarbage = (options) => {
  if (exposed === undefined) {
    setFlagsFromString('--expose-gc')
    try {
      exposed = runInNewContext('gc') as CollectGarbage
    } finally {
      setFlagsFromString('--no-expose-gc')
    }
  }
  exposed(options)
}

/**
 * After a backfill (sync rounds that stored at least MIN_RECORDS between them), once sync has been
 * quiet for QUIET_MS, asks V8 for a full collection that returns emptied pages to the system. V8
 * does the same by itself only when its memory reducer runs, 8 s after the last full collection,
 * and the daemon that just took 10,000 records held 137 MB meanwhile instead of 117 MB. One
 * collection per backfill costs tens of milliseconds; the trickle of gossip never triggers it.
 */
export function compactAfterBackfill(
  mesh: Pick<Mesh, 'addEventListener'>,
  collect: CollectGarbage = collectGarbage,
): void {
  let stored = 0
  let quiet: NodeJS.Timeout | undefined
  mesh.addEventListener('sync:done', ({ detail }) => {
    clearTimeout(quiet)
    stored += detail.stored
    quiet = setTimeout(() => {
      if (stored >= MIN_RECORDS) collect({ type: 'major', execution: 'sync', flavor: 'last-resort' })
      stored = 0
    }, QUIET_MS).unref()
  })
}
