// compactAfterBackfill on a mesh faked as the events it emits, with a collector that records its
// calls; and the real collector, which must really collect (a real backfill: bench/catchup.mts).

import { setImmediate as nextTurn } from 'node:timers/promises'
import { getHeapStatistics } from 'node:v8'
import type { Mesh } from '@capsule/mesh'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type CollectGarbage, collectGarbage, compactAfterBackfill } from './compact-after-backfill.js'

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
})

describe('collectGarbage', () => {
  it('collects what nothing holds and hands the pages back, without exposing gc to others', async () => {
    let garbage: { text: string }[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({
      text: `record ${i}`,
    }))
    const one = new WeakRef(garbage[7] as object)
    const heapBefore = getHeapStatistics().total_heap_size
    garbage = undefined
    // A WeakRef's target is kept until the end of the turn that made it.
    await nextTurn()
    collectGarbage({ type: 'major', execution: 'sync', flavor: 'last-resort' })
    expect(one.deref()).toBeUndefined()
    expect(getHeapStatistics().total_heap_size).toBeLessThan(heapBefore - 10_000_000)
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined()
  })
})
