// Where libsodium's addon comes from: sodium-native's prebuild in node_modules by default, or the
// path the single executable gives, asked once, when the first signature is checked.
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ed25519Verify, useSodiumAddon } from './index.js'
import { sodiumAddonPath } from './sodium.js'

const prebuilt = join(
  dirname(createRequire(import.meta.url).resolve('sodium-native/package.json')),
  'prebuilds/linux-x64/sodium-native.node',
)

describe('the libsodium addon', () => {
  it('is sodium-native’s prebuild, found in node_modules', () => {
    expect(existsSync(prebuilt)).toBe(true)
  })

  it('loads from the path given before the first check, and from nowhere else after it', () => {
    const copy = join(mkdtempSync(join(tmpdir(), 'capsule-sodium-')), 'sodium-native.node')
    copyFileSync(prebuilt, copy)
    let asked = 0
    useSodiumAddon(() => {
      asked++
      return copy
    })
    expect(asked).toBe(0)
    expect(ed25519Verify(new Uint8Array(32), new Uint8Array(1), new Uint8Array(64))).toBe(false)
    expect(sodiumAddonPath()).toBe(copy)
    expect(asked).toBe(1)
    expect(() => useSodiumAddon(() => prebuilt)).toThrow(/already loaded/)
  })
})
