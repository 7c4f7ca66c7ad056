import type { VerifiedRecord } from '@capsule/core'

/**
 * What the mesh needs from the record store. The app adapts its SQLite store to it; tests use
 * {@link createMemoryRecords}. Calls are synchronous: a local SQLite query is faster than the
 * bookkeeping an async call would add, and the mesh never holds a call across network I/O.
 */
export interface MeshRecords {
  /** Highest sequence number stored for `author` (deleted records included), 0 for none. */
  highestSeq(author: string): number
  /**
   * Signed bytes of the stored records of `author` with `seq > afterSeq`, ascending by seq, at
   * most `limit` of them. Both records of a sequence collision are returned. Records whose content
   * was deleted may be left out. This is what the sync protocol serves, byte for byte.
   */
  recordsAfter(author: string, afterSeq: number, limit: number): Uint8Array[]
  /**
   * Stores records already checked with `decodeRecord` (in one transaction if it can) and
   * returns the ones that were newly stored. Known records are skipped, not errors.
   */
  ingest(records: VerifiedRecord[]): VerifiedRecord[]
}

/** A peer this node reached, with addresses it can be dialled on (without `/p2p/<id>`). */
export interface KnownPeer {
  peerId: string
  multiaddrs: string[]
}

/** Peers remembered across restarts, so `--join` is needed only once. */
export interface PeerMemory {
  /** Upserts a peer that speaks the Capsule sync protocol, with its dialable addresses. */
  rememberPeer(peerId: string, multiaddrs: string[]): void
  /** Remembered peers, most recently seen first; the mesh dials the first few at start. */
  knownPeers(): KnownPeer[]
}

/** The logger the app passes in (same shape as the socket API's). */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}
