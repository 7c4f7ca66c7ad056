/** The fields every record carries. `author` is the libp2p peer id of the signer. */
export interface RecordHeader {
  v: 1
  author: string
  seq: number
  /** Unix time in milliseconds, as the author's clock saw it. */
  ts: number
}

export interface PostBody extends RecordHeader {
  kind: 'post'
  text: string
}

export interface ReshareBody extends RecordHeader {
  kind: 'reshare'
  /** Id of the embedded original. */
  of: string
  original: VerifiedRecord<PostBody>
}

export interface DeleteBody extends RecordHeader {
  kind: 'delete'
  /** Id of a record by the same author. */
  target: string
}

export interface ProfileBody extends RecordHeader {
  kind: 'profile'
  name: string
  bio: string
  /** The owner's site, an http(s) URL, or absent. */
  site?: string
}

export type RecordBody = PostBody | ReshareBody | DeleteBody | ProfileBody
export type RecordKind = RecordBody['kind']

/** A record that passed {@link decodeRecord}: its exact signed bytes, its id and its fields. */
export interface VerifiedRecord<B extends RecordBody = RecordBody> {
  id: string
  bytes: Uint8Array
  body: B
}

/** What an author fills in; the header (author, seq, ts) is added when signing. */
export type RecordDraft =
  | { kind: 'post'; text: string }
  | { kind: 'reshare'; original: VerifiedRecord<PostBody> }
  | { kind: 'delete'; target: string }
  | { kind: 'profile'; name: string; bio: string; site?: string }
