import { describe, expect, it } from 'vitest'
import { SeaModuleError, seaRequire } from './sea-modules.js'

describe('the single executable’s require', () => {
  const packed = { 'acme-client': 'acme-client.cjs' }

  /** Asset sources by key, counting how often each is read. */
  function assets(sources: Record<string, string>) {
    const reads = new Map<string, number>()
    const source = (key: string) => {
      reads.set(key, (reads.get(key) ?? 0) + 1)
      return Buffer.from(sources[key]!)
    }
    return { reads, source }
  }

  it('runs a packed module from its asset on first use only, once', () => {
    const { reads, source } = assets({
      'acme-client.cjs':
        'exports.answer = require("node:path").posix.join("a", "b"); exports.name = __filename',
    })
    const require = seaRequire(packed, source)
    expect(reads.size).toBe(0)
    const acme = require('acme-client') as { answer: string; name: string }
    expect(acme).toEqual({ answer: 'a/b', name: 'acme-client.cjs' })
    expect(require('acme-client')).toBe(acme)
    expect(reads.get('acme-client.cjs')).toBe(1)
  })

  it('loads built-in modules and nothing from disk', () => {
    const require = seaRequire(packed, assets({}).source)
    expect(require('node:path')).toBe(process.getBuiltinModule('node:path'))
    const unprefixed = 'fs' // as bundled dependencies write it
    expect(require(unprefixed)).toBe(process.getBuiltinModule('node:fs'))
    expect(() => require('./sea-modules.js')).toThrow(SeaModuleError)
    expect(() => require('vitest')).toThrow(/carries no module vitest/)
  })
})
