#!/usr/bin/env -S node --max-semi-space-size=4 --expose-gc
// --max-semi-space-size=4: V8 grows its young generation during a burst (a catch-up of thousands
// of records) and never shrinks it again, so the idle daemon would keep that memory.
// --expose-gc: after a backfill the daemon asks for a collection that gives the burst's pages back
// (src/daemon/compact-after-backfill.ts) instead of holding them until V8's own reducer, 8 s later.
// The flags cannot be set once V8 runs: started as `node bin/capsule.js`, Node starts over with them.
import { fileURLToPath } from 'node:url'
import { cacheDir } from '../dist/cache-dir.js'
import { runFileWithCodeCache } from '../dist/code-cache.js'

const NODE_FLAGS = ['--max-semi-space-size=4', '--expose-gc']
const flagged = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((flags) =>
  flags.includes('--max-semi-space-size'),
)
if (!flagged && process.platform !== 'win32') {
  process.execve(process.execPath, [
    process.execPath,
    ...NODE_FLAGS,
    ...process.execArgv,
    ...process.argv.slice(1),
  ])
}

// The CLI bundled into one file by `npm run build` (scripts/bundle.mjs).
runFileWithCodeCache(fileURLToPath(new URL('../dist/capsule.cjs', import.meta.url)), cacheDir())
