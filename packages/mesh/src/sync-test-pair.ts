import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream, StreamHandler } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { fetchPages, type RecordsAnswer, SYNC_PROTOCOL, verifyFetched } from './sync-protocol.js'

/**
 * Two bare libp2p nodes over loopback for the sync protocol's tests: the server side answers with
 * whatever handler a test installs (the real serveSync, or a fake neighbour written frame by
 * frame), and the client opens streams to it.
 */
export interface SyncTestPair {
  /** Replaces the server's handler for the sync protocol. */
  serveWith(handler: StreamHandler): Promise<void>
  /** A new client stream to the server, negotiated for the sync protocol. */
  open(): Promise<Stream>
  stop(): Promise<void>
}

function bareNode(): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
}

export async function startSyncTestPair(): Promise<SyncTestPair> {
  const [server, client] = await Promise.all([bareNode(), bareNode()])
  const [address] = server.getMultiaddrs()
  if (address === undefined) throw new Error('the test server listens nowhere')
  return {
    async serveWith(handler) {
      await server.handle(SYNC_PROTOCOL, handler, { force: true })
    },
    open() {
      return client.dialProtocol(address, SYNC_PROTOCOL)
    },
    async stop() {
      await Promise.all([server.stop(), client.stop()])
    },
  }
}

/**
 * A records exchange as the mesh runs it, {@link fetchPages} then {@link verifyFetched} for each
 * page, gathered into one answer: every page's records, the last page's `highest`, and the fault
 * that ended it (if any); `pages` holds each page's size.
 */
export async function requestRecords(
  stream: Stream,
  request: { author: string; after: number; limit: number },
  timeoutMs?: number,
): Promise<RecordsAnswer & { pages: number[] }> {
  const answer: RecordsAnswer & { pages: number[] } = { highest: 0, records: [], pages: [] }
  for await (const fetched of fetchPages(stream, request, timeoutMs)) {
    const page = await verifyFetched(fetched)
    answer.highest = page.highest
    answer.records.push(...page.records)
    answer.pages.push(fetched.records.length)
    if (page.fault !== undefined) {
      answer.fault = page.fault
      break
    }
  }
  return answer
}
