/** Path of the discovery document. */
export const WELL_KNOWN_PATH = '/.well-known/capsule'
/** Path of the backfill endpoint: `?after=<seq>&limit=<n>`. */
export const BACKFILL_PATH = '/.well-known/capsule/records'
/** Version of the discovery document format. */
export const WELL_KNOWN_VERSION = 1

/** `/.well-known/capsule`: how to reach this node in the mesh, and proof of who it is. */
export interface WellKnownDocument {
  capsule: typeof WELL_KNOWN_VERSION
  /** The owner's libp2p peer id, which is also their author id. */
  peerId: string
  /** Multiaddrs of the mesh node, each ending in /p2p/<peerId>. */
  multiaddrs: string[]
  /** The site's canonical URL, with a trailing slash. */
  siteUrl: string
  /** The owner's newest signed profile record, base64 (RFC 4648, with padding); null if none. */
  profile: string | null
  /** Absolute URL of the backfill endpoint. */
  records: string
}

/** The backfill answer: own records with seq above `after`, oldest first. */
export interface BackfillDocument {
  /** Signed records, base64 each. */
  records: string[]
  /** True when the answer was cut at the limit: ask again after the last seq. */
  more: boolean
}
