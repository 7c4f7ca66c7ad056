import { channel } from 'node:diagnostics_channel'
import type { VerifiedRecord } from '@capsule/core'
import type { RecordSource } from './mesh.js'

/**
 * Where records are on their way through a node, for tools that time the stages of a delivery (the
 * propagation benchmark loads bench/stage-trace.mjs into its daemons). Node's diagnostics channels:
 * while nobody subscribes, a trace point costs a property read. Times are in milliseconds since
 * the epoch, below the millisecond (`traceNow`), so that processes on one machine compare; a
 * subscriber takes the time of the event itself when it is called, as publishing is synchronous.
 * This module imports no more than Node's own, so a tracer can load it into a node on its own.
 */
export const TRACE_CHANNELS = {
  /** The node's own record is signed and on disk: {@link CommittedTrace}. */
  committed: 'capsule:record:committed',
  /** A gossiped record passed the topic validator: {@link AcceptedTrace}. */
  accepted: 'capsule:gossip:accepted',
  /** Records from the mesh are in the store: {@link StoredTrace}. */
  stored: 'capsule:record:stored',
} as const

export interface CommittedTrace {
  record: VerifiedRecord
  /** When the node began the transaction that numbers, signs and stores the record. */
  signingAt: number
}

export interface AcceptedTrace {
  /** The node the validator runs in. */
  node: string
  record: VerifiedRecord
  /** When gossipsub handed the message to the validator, before it was decoded and checked. */
  receivedAt: number
}

export interface StoredTrace {
  node: string
  records: readonly VerifiedRecord[]
  via: RecordSource
}

export const committedChannel = channel(TRACE_CHANNELS.committed)
export const acceptedChannel = channel(TRACE_CHANNELS.accepted)
export const storedChannel = channel(TRACE_CHANNELS.stored)

/** The process's sub-millisecond clock as milliseconds since the epoch. */
export function traceNow(): number {
  return performance.timeOrigin + performance.now()
}
