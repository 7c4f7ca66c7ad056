#!/usr/bin/env -S node --max-semi-space-size=4
// --max-semi-space-size=4: V8 grows its young generation during a burst (a catch-up of thousands
// of records) and never shrinks it again, so the idle daemon would keep that memory. The flag
// cannot be set once V8 runs: started as `node bin/capsule.js`, Node starts over with it.
import { fileURLToPath } from 'node:url'
import { cacheDir } from '../dist/cache-dir.js'
import { runFileWithCodeCache } from '../dist/code-cache.js'

const SMALL_YOUNG_GENERATION = '--max-semi-space-size=4'
const flagged = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((flags) =>
  flags.includes('--max-semi-space-size'),
)
if (!flagged && process.platform !== 'win32') {
  process.execve(process.execPath, [
    process.execPath,
    SMALL_YOUNG_GENERATION,
    ...process.execArgv,
    ...process.argv.slice(1),
  ])
}

// The CLI bundled into one file by `npm run build` (scripts/bundle.mjs).
runFileWithCodeCache(fileURLToPath(new URL('../dist/capsule.cjs', import.meta.url)), cacheDir())
