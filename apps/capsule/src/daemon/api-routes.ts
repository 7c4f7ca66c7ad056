import { on } from 'node:events'
import { InvalidRecordError, recordToJson, type VerifiedRecord } from '@capsule/core'
import type { ConnectedPeer } from '@capsule/mesh'
import { ApiError, type Route } from '@capsule/socket-api'
import { StoreError } from '@capsule/store'
import type { CapsuleNode, RecordOrigin } from './capsule-node.js'

/** What the routes need beyond the node's own actions: the mesh's view of the network. */
export interface NetworkView {
  multiaddrs(): string[]
  connectedPeers(): ConnectedPeer[]
  topics(): string[]
  /** Peers in the gossip mesh of an author's topic: those this node exchanges its records with. */
  meshPeers(author: string): string[]
}

export const MAX_FEED_LIMIT = 500

function field(body: unknown, name: string, required: true): string
function field(body: unknown, name: string, required: false): string | undefined
function field(body: unknown, name: string, required: boolean): string | undefined {
  const value =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined
  if (value === undefined && !required) return undefined
  if (typeof value !== 'string') throw new ApiError('invalid-argument', `"${name}" must be a string`)
  return value
}

function limitParam(query: URLSearchParams, fallback: number): number {
  const raw = query.get('limit')
  if (raw === null) return fallback
  const limit = Number(raw)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FEED_LIMIT) {
    throw new ApiError('invalid-argument', `limit must be a whole number from 1 to ${MAX_FEED_LIMIT}`)
  }
  return limit
}

const created = (record: VerifiedRecord) => ({ id: record.id, record: recordToJson(record) })

/** Domain errors become API errors with a stable code; unknown ones stay internal. */
export function mapDomainError(error: unknown): ApiError | undefined {
  if (error instanceof InvalidRecordError)
    return new ApiError('invalid-record', `${error.reason}: ${error.message}`)
  if (error instanceof StoreError) {
    if (error.code === 'disk-full') return new ApiError('disk-full', error.message)
    if (error.code === 'read-only') return new ApiError('read-only', error.message)
    return new ApiError('storage-error', error.message)
  }
  if (error instanceof RangeError) return new ApiError('invalid-argument', error.message)
  return undefined
}

export function apiRoutes(
  node: CapsuleNode,
  network: NetworkView,
  siteUrl: () => string | undefined,
): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/id',
      handler: () => ({ peerId: node.peerId, multiaddrs: network.multiaddrs() }),
    },
    {
      method: 'GET',
      path: '/v1/status',
      handler: () => ({
        running: true,
        peerId: node.peerId,
        records: node.store.records.count(),
        follows: node.store.follows.count(),
        peers: network.connectedPeers().length,
        knownPeers: node.store.peers.count(),
        topics: network.topics(),
        collisions: node.store.records.collisions(),
        multiaddrs: network.multiaddrs(),
        site: siteUrl(),
      }),
    },
    {
      method: 'POST',
      path: '/v1/posts',
      handler: async ({ body }) => created(await node.post(field(body, 'text', true))),
    },
    {
      method: 'POST',
      path: '/v1/reshares',
      handler: async ({ body }) => created(await node.reshare(field(body, 'id', true))),
    },
    {
      method: 'GET',
      path: '/v1/records/:id',
      handler: ({ params }) => {
        const record = node.store.records.get(params.id ?? '')
        if (record === undefined) throw new ApiError('not-found', `no record ${params.id} on this node`)
        return recordToJson(record)
      },
    },
    {
      method: 'DELETE',
      path: '/v1/records/:id',
      handler: async ({ params }) => created(await node.delete(params.id ?? '')),
    },
    {
      method: 'GET',
      path: '/v1/profile',
      handler: () => {
        const profile = node.profile()
        return { profile: profile && recordToJson(profile) }
      },
    },
    {
      method: 'POST',
      path: '/v1/profile',
      handler: async ({ body }) =>
        created(
          await node.updateProfile({
            name: field(body, 'name', false),
            bio: field(body, 'bio', false),
            site: field(body, 'site', false),
          }),
        ),
    },
    {
      method: 'GET',
      path: '/v1/feed',
      handler: ({ query }) => {
        const page = node.feed(limitParam(query, 20), query.get('before') ?? undefined)
        return { records: page.records.map(recordToJson), ...(page.next ? { next: page.next } : {}) }
      },
    },
    {
      method: 'POST',
      path: '/v1/follows',
      handler: async ({ body }) => node.follow(field(body, 'target', true)),
    },
    {
      method: 'GET',
      path: '/v1/follows',
      handler: () => ({
        follows: node.following().map((follow) => ({
          ...follow,
          meshPeers: network.meshPeers(follow.author).length,
        })),
      }),
    },
    {
      method: 'DELETE',
      path: '/v1/follows/:author',
      handler: async ({ params }) => {
        const author = params.author ?? ''
        if (!(await node.unfollow(author))) throw new ApiError('not-found', `you do not follow ${author}`)
        return { author }
      },
    },
    {
      method: 'GET',
      path: '/v1/peers',
      handler: () => ({ peers: network.connectedPeers() }),
    },
    {
      method: 'GET',
      path: '/v1/tail',
      stream: true,
      handler: async function* ({ signal }) {
        for await (const [record, origin, receivedAt] of on(node, 'record', { signal }) as AsyncIterable<
          [VerifiedRecord, RecordOrigin, number]
        >) {
          yield { origin, receivedAt, record: recordToJson(record) }
        }
      },
    },
  ]
}
