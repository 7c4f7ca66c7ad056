export { type FollowTarget, parseFollowTarget } from './addresses.js'
export {
  CONNECTION_PING_INTERVAL_MS,
  DEFAULT_FIND_TIMEOUT_MS,
  DEFAULT_LISTEN,
  DEFAULT_MESH_PORT,
  DEFAULT_SYNC_INTERVAL_MS,
  type MeshConfig,
} from './config.js'
export { MeshNotStartedError, SyncProtocolError } from './errors.js'
export type { KnownPeer, Logger, MeshRecords, PeerMemory } from './interfaces.js'
export { MemoryPeers, MemoryRecords } from './memory-records.js'
export {
  CAPSULE_DHT_PROTOCOL,
  type ConnectedPeer,
  createMesh,
  type FollowResult,
  type Mesh,
  type MeshDeps,
  type MeshEvents,
  type OwnHeadResult,
  type RecordSource,
} from './mesh.js'
export { providerKey } from './provider-key.js'
export {
  SYNC_MAX_FRAME_BYTES,
  SYNC_MAX_HEADS,
  SYNC_MAX_RECORDS,
  SYNC_PAGE_BYTES,
  SYNC_PAGE_RECORDS,
  SYNC_PROTOCOL,
  SYNC_TIMEOUT_MS,
  SyncRefusedError,
  type VerifySignatures,
} from './sync-protocol.js'
export { type CommittedTrace, committedChannel, traceNow } from './trace.js'
