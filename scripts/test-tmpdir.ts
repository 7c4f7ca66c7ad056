// Vitest's global setup: the run's temporary files (stores, sockets, daemons' homes, caches) go
// into one directory of its own, removed when the run ends, so that `npm test` leaves nothing
// behind in the system's temporary directory. Test workers and the processes they spawn inherit
// TMPDIR, which os.tmpdir() reads.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'capsule-test-'))
  process.env.TMPDIR = dir
  return () => rmSync(dir, { recursive: true, force: true })
}
