import { describe, expect, it } from 'vitest'
import { ReplyCache } from './reply-cache.js'

const ok = (bytes: number) => ({ status: 200, body: new Uint8Array(bytes) })

describe('ReplyCache', () => {
  it('builds a reply once per key and revision', () => {
    const cache = new ReplyCache(1000)
    let builds = 0
    const build = () => {
      builds++
      return ok(10)
    }
    const first = cache.get('a', 1, build)
    expect(cache.get('a', 1, build)).toBe(first)
    expect(builds).toBe(1)
    expect(cache.get('a', 2, build)).not.toBe(first)
    expect(builds).toBe(2)
  })

  it('keeps only 200s', () => {
    const cache = new ReplyCache(1000)
    let builds = 0
    const missing = () => {
      builds++
      return { status: 404, body: new Uint8Array(5) }
    }
    cache.get('gone', 1, missing)
    cache.get('gone', 1, missing)
    expect(builds).toBe(2)
  })

  it('stays within its bytes, dropping the reply used least recently', () => {
    // Each entry costs its key (1) and body (40): two fit in 100, three do not.
    const cache = new ReplyCache(100)
    const a = cache.get('a', 1, () => ok(40))
    const b = cache.get('b', 1, () => ok(40))
    expect(cache.get('a', 1, () => ok(40))).toBe(a)
    cache.get('c', 1, () => ok(40))
    expect(cache.get('a', 1, () => ok(40))).toBe(a)
    expect(cache.get('b', 1, () => ok(40))).not.toBe(b)
    const huge = ok(200)
    expect(cache.get('huge', 1, () => huge)).toBe(huge)
    expect(cache.get('huge', 1, () => ok(200))).not.toBe(huge)
  })
})
