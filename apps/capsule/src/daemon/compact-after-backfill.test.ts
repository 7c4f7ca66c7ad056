// compactAfterBackfill on a mesh faked as the events it emits, and a collector that records its
// calls (the real collector and a real backfill: bench/catchup.mts, and e2e/node.test.ts checks the
// daemon runs with --expose-gc).
import type { Mesh } from '@capsule/mesh'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type CollectGarbage, compactAfterBackfill } from './compact-after-backfill.js'

/** A fake mesh watched by compactAfterBackfill; the function returned ends sync rounds on it. */
function watchedMesh(collect: CollectGarbage | undefined) {
  const events = new EventTarget()
  compactAfterBackfill(events as unknown as Pick<Mesh, 'addEventListener'>, collect)
  /** `count` sync rounds that stored `stored` each, `apartMs` apart. */
  return (count: number, stored: number, apartMs: number) => {
    for (let round = 0; round < count; round++) {
      const detail = { peerId: 'p', author: 'a', stored, remoteHighest: 0 }
      events.dispatchEvent(new CustomEvent('sync:done', { detail }))
      vi.advanceTimersByTime(apartMs)
    }
  }
}

describe('compactAfterBackfill', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('collects once, when the rounds of a large backfill have gone quiet', () => {
    const collect = vi.fn<CollectGarbage>()
    const syncRounds = watchedMesh(collect)
    syncRounds(4, 400, 50)
    expect(collect).not.toHaveBeenCalled()
    vi.advanceTimersByTime(200)
    expect(collect).toHaveBeenCalledTimes(1)
    expect(collect).toHaveBeenCalledWith({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  })

  it('leaves small syncs alone, also when many come far apart', () => {
    const collect = vi.fn<CollectGarbage>()
    watchedMesh(collect)(20, 100, 1_000)
    expect(collect).not.toHaveBeenCalled()
  })

  it('does nothing without a collector (a node started without --expose-gc)', () => {
    expect(() => watchedMesh(undefined)(3, 5_000, 1_000)).not.toThrow()
  })
})
