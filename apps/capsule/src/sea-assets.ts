/**
 * What scripts/build-binary.mjs packs into the single executable, by SEA asset key. The
 * executable's own script is sea-main.ts; everything else it reads with `node:sea`'s
 * `getRawAsset`, a view of the executable's pages, so what a start does not read stays on disk.
 */
export const SEA_ASSETS = {
  /** The CLI's bundle, which sea-main.ts runs from V8's code of an earlier start. */
  bundle: 'capsule.cjs',
  /** V8's code for the bundle's top level, taken by the build, for a start with no cache yet. */
  bundleCodeCache: 'capsule.cjs.code-cache',
  /**
   * Native addons (native-addon.ts): better-sqlite3's, and libsodium's from sodium-native. Each
   * has its SHA-256 (hex) under `<key>.sha256`, taken by the build: a start that finds the addon
   * cached never reads it.
   */
  addons: { sqlite: 'better_sqlite3.node', sodium: 'sodium-native.node' },
  /**
   * Modules the bundle leaves out and requires only for rare work, each bundled on its own:
   * acme-client and its dependencies (1.4 MB of source) only to order a certificate.
   */
  modules: { 'acme-client': 'acme-client.cjs' } as Readonly<Record<string, string>>,
} as const
