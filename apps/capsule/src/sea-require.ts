/**
 * Injected by scripts/build-binary.mjs (esbuild `inject`) into the single executable's bundle:
 * better-sqlite3 loads a `nativeBinding` path with `__non_webpack_require__` when that exists (a
 * webpack convention), else with `require`, which in a single executable loads built-in modules
 * only. Not imported by anything else.
 */
export { requireNativeAddon as __non_webpack_require__ } from './native-addon.js'
