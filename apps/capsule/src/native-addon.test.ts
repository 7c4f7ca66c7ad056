import { createHash } from 'node:crypto'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cacheDir } from './cache-dir.js'
import { cacheAddon, nativeBinding, requireNativeAddon } from './native-addon.js'

const storeDir = join(import.meta.dirname, '../../../packages/store')
const bytes = new TextEncoder().encode('not really an ELF, but bytes with a hash')
const hash = createHash('sha256').update(bytes).digest('hex')

function tempDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'capsule-addon-')), 'cache', 'capsule')
}

describe('the native addon cache', () => {
  /** The packed bytes, counting how often the cache asks for them. */
  function packed(content: Uint8Array = bytes) {
    const reads = { count: 0 }
    return {
      reads,
      bytes: () => {
        reads.count++
        return content
      },
    }
  }

  it('writes the bytes once, to a file named by their hash, in an owner-only folder', () => {
    const dir = tempDir()
    const addon = packed()
    const path = cacheAddon('better_sqlite3.node', hash, addon.bytes, dir)
    expect(path).toBe(join(dir, `better_sqlite3-${hash}.node`))
    expect(readFileSync(path)).toEqual(Buffer.from(bytes))
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    const inode = statSync(path).ino
    expect(cacheAddon('better_sqlite3.node', hash, addon.bytes, dir)).toBe(path)
    expect(statSync(path).ino).toBe(inode)
    expect(readdirSync(dir)).toEqual([`better_sqlite3-${hash}.node`])
  })

  it('reads the packed bytes only to write the file, never when the cache holds it', () => {
    const dir = tempDir()
    const first = packed()
    cacheAddon('better_sqlite3.node', hash, first.bytes, dir)
    expect(first.reads.count).toBe(1)
    const next = packed()
    cacheAddon('better_sqlite3.node', hash, next.bytes, dir)
    expect(next.reads.count).toBe(0)
  })

  it('rewrites a cache file whose bytes do not match its name', () => {
    const dir = tempDir()
    const path = cacheAddon('better_sqlite3.node', hash, packed().bytes, dir)
    writeFileSync(path, 'truncated')
    expect(cacheAddon('better_sqlite3.node', hash, packed().bytes, dir)).toBe(path)
    expect(readFileSync(path)).toEqual(Buffer.from(bytes))
    expect(readdirSync(dir)).toHaveLength(1)
  })

  it('refuses packed bytes that do not match the hash the build took', () => {
    const dir = tempDir()
    const damaged = packed(new TextEncoder().encode('not the bytes the build hashed'))
    expect(() => cacheAddon('better_sqlite3.node', hash, damaged.bytes, dir)).toThrow(/damaged/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('closes a folder others could write to', () => {
    const dir = tempDir()
    cacheAddon('better_sqlite3.node', hash, packed().bytes, dir)
    chmodSync(dir, 0o777)
    cacheAddon('better_sqlite3.node', hash, packed().bytes, dir)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
  })

  it('lives under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/var/cache' })).toBe('/var/cache/capsule')
    expect(cacheDir({ HOME: '/home/alice' })).toMatch(/\.cache\/capsule$/)
  })

  it('leaves better-sqlite3 to find its own addon outside the single executable', () => {
    expect(nativeBinding()).toBeUndefined()
  })
})

describe('loading a native addon with process.dlopen', () => {
  // The file the build packs into the single executable.
  const prebuild = join(
    dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json', { paths: [storeDir] })),
    'prebuilds/linux-x64.node',
  )

  it('loads better-sqlite3’s addon once and hands back the same object', () => {
    const addon = requireNativeAddon(prebuild) as { Database: unknown }
    expect(typeof addon.Database).toBe('function')
    expect(requireNativeAddon(prebuild)).toBe(addon)
  })

  it('loads nothing but a .node file', () => {
    expect(() => requireNativeAddon(join(import.meta.dirname, 'cli.js'))).toThrow(/only native addons/)
  })
})
