#!/usr/bin/env node
import module from 'node:module'

try {
  // Compiled code is kept across starts (in the temp folder; NODE_COMPILE_CACHE picks another).
  module.enableCompileCache()
} catch {
  // Without the cache Node only compiles again.
}
// The CLI bundled into one file by `npm run build` (scripts/bundle.mjs).
module.createRequire(import.meta.url)('../dist/capsule.cjs')
