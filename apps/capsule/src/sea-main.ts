/**
 * The single executable's own script (scripts/build-binary.mjs bundles it as the SEA's main): it
 * runs the CLI's bundle, packed as an asset, from V8's code of an earlier start, as the npm CLI's
 * bin does (code-cache.ts). Node's code cache for a SEA's main script holds only what V8 compiles
 * before the script runs, and nearly all of the bundle is compiled while it runs. Not imported by
 * anything else.
 */
import { getRawAsset } from 'node:sea'
import { cacheDir } from './cache-dir.js'
import { runWithCodeCache } from './code-cache.js'
import { SEA_ASSETS } from './sea-assets.js'
import { seaRequire } from './sea-modules.js'

/** A view of an asset's bytes in the executable, not a copy. */
function asset(key: string): Buffer {
  return Buffer.from(getRawAsset(key))
}

runWithCodeCache(
  {
    source: asset(SEA_ASSETS.bundle),
    firstStartCache: asset(SEA_ASSETS.bundleCodeCache),
    filename: process.execPath,
    require: seaRequire(SEA_ASSETS.modules, asset),
  },
  cacheDir(),
)
