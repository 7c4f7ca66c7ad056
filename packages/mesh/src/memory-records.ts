import type { VerifiedRecord } from '@capsule/core'
import type { KnownPeer, MeshRecords, PeerMemory } from './interfaces.js'

/**
 * In-memory {@link MeshRecords} and {@link PeerMemory}: for tests and for trying the mesh without a
 * database. Same contract as the app's SQLite adapter, minus deletes.
 */
export class MemoryRecords implements MeshRecords {
  readonly #byId = new Map<string, VerifiedRecord>()
  /** The mesh asks this for every record gossiped to it: kept, not counted. */
  readonly #highestSeq = new Map<string, number>()

  highestSeq(author: string): number {
    return this.#highestSeq.get(author) ?? 0
  }

  recordsAfter(author: string, afterSeq: number, limit: number): Uint8Array[] {
    return [...this.#byId.values()]
      .filter((record) => record.body.author === author && record.body.seq > afterSeq)
      .sort((a, b) => a.body.seq - b.body.seq || (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map((record) => record.bytes)
  }

  ingest(records: VerifiedRecord[]): VerifiedRecord[] {
    const stored: VerifiedRecord[] = []
    for (const record of records) {
      if (this.#byId.has(record.id)) continue
      this.#byId.set(record.id, record)
      const { author, seq } = record.body
      if (seq > this.highestSeq(author)) this.#highestSeq.set(author, seq)
      stored.push(record)
    }
    return stored
  }

  /** All stored records of an author, ascending by seq. */
  of(author: string): VerifiedRecord[] {
    return [...this.#byId.values()]
      .filter((record) => record.body.author === author)
      .sort((a, b) => a.body.seq - b.body.seq)
  }

  get size(): number {
    return this.#byId.size
  }
}

export class MemoryPeers implements PeerMemory {
  readonly #peers = new Map<string, string[]>()

  rememberPeer(peerId: string, multiaddrs: string[]): void {
    // Re-inserting moves the peer to the end: most recently seen last in the map.
    this.#peers.delete(peerId)
    this.#peers.set(peerId, multiaddrs)
  }

  knownPeers(): KnownPeer[] {
    return [...this.#peers].reverse().map(([peerId, multiaddrs]) => ({ peerId, multiaddrs }))
  }
}
