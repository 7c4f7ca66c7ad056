import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/**
 * libsodium, for Ed25519 verification (ed25519.ts), through the addon that sodium-native ships
 * prebuilt in its npm package. The addon is loaded with `process.dlopen` and its binding called
 * directly, not through sodium-native's JavaScript, because the same file must load in three places that cannot all
 * resolve packages: this module, the verifier threads (eval'd source, see signature-pool.ts) and
 * the single executable (which packs the addon and calls {@link useSodiumAddon}). The binding's
 * calling convention is sodium-native 5's, which is why the version is pinned exactly.
 */

export interface SodiumBinding {
  crypto_sign_verify_detached(
    signature: ArrayBufferLike,
    signatureOffset: number,
    signatureLength: number,
    message: ArrayBufferLike,
    messageOffset: number,
    messageLength: number,
    publicKey: ArrayBufferLike,
    publicKeyOffset: number,
    publicKeyLength: number,
  ): boolean
}

let locate: (() => string) | undefined
let addonPath: string | undefined
let binding: SodiumBinding | undefined

/** Where sodium-native keeps the prebuilt addon for this platform, in node_modules. */
function prebuiltAddonPath(): string {
  const packageJson = createRequire(import.meta.url).resolve('sodium-native/package.json')
  return join(dirname(packageJson), 'prebuilds', `${process.platform}-${process.arch}`, 'sodium-native.node')
}

/**
 * Loads libsodium from the path `where` gives instead of node_modules (the single executable
 * writes its packed copy to disk), asked when a first signature is checked. Must come before that.
 */
export function useSodiumAddon(where: () => string): void {
  if (addonPath !== undefined)
    throw new Error('libsodium is already loaded; useSodiumAddon must come before the first verification')
  locate = where
}

/** The addon's path, for threads that load it themselves. */
export function sodiumAddonPath(): string {
  addonPath ??= (locate ?? prebuiltAddonPath)()
  return addonPath
}

/** The addon's functions, loaded on first use. */
export function sodiumBinding(): SodiumBinding {
  if (binding === undefined) {
    const module = { exports: {} }
    process.dlopen(module, sodiumAddonPath())
    binding = module.exports as SodiumBinding
  }
  return binding
}
