// Where libsodium's addon comes from: node_modules by default, a path given by the single
// executable otherwise, fixed once the first signature was checked.
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ed25519Verify, useSodiumAddon } from './index.js'
import { sodiumAddonPath } from './sodium.js'

describe('the libsodium addon', () => {
  it('comes from sodium-native in node_modules and stays put once loaded', () => {
    const path = sodiumAddonPath()
    expect(path).toMatch(/node_modules\/sodium-native\/prebuilds\/linux-x64\/sodium-native\.node$/)
    expect(existsSync(path)).toBe(true)
    expect(ed25519Verify(new Uint8Array(32), new Uint8Array(1), new Uint8Array(64))).toBe(false)
    expect(() => useSodiumAddon(path)).not.toThrow()
    expect(() => useSodiumAddon('/elsewhere/sodium-native.node')).toThrow(/already loaded/)
  })
})
