import {
  InvalidRecordError,
  isAuthorId,
  MAX_RECORD_BYTES,
  MAX_SEQ,
  type ParsedRecord,
  parseRecord,
  type SignatureCheck,
  type VerifiedRecord,
  verifySignature,
} from '@capsule/core'
import * as dagCbor from '@ipld/dag-cbor'
import type { Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { Uint8ArrayList } from 'uint8arraylist'
import { SyncProtocolError } from './errors.js'
import { FrameReader } from './frame-reader.js'
import type { MeshRecords } from './interfaces.js'
import type { TokenBucket } from './token-bucket.js'

/**
 * The sync protocol: "the records of author X after sequence N", answered by any node that holds
 * them. One request per stream; every frame is an unsigned-varint length prefix followed by that
 * many bytes. A records answer comes in pages, each a header and its records, so a requester
 * checks and stores one page while the next is on its way, without a new stream per page. The
 * exact messages are specified in docs/PROTOCOL.md.
 */
export const SYNC_PROTOCOL = '/capsule/sync/1.0.0'
/** Most records in one answer (all its pages); a larger `limit` is capped to it, not refused. */
export const SYNC_MAX_RECORDS = 10_240
/** Most records in one page of an answer. */
export const SYNC_PAGE_RECORDS = 256
/** Most record bytes in one page (the sum of its record frames, prefixes excluded). */
export const SYNC_PAGE_BYTES = 1024 * 1024
/** Most authors in one `heads` request. */
export const SYNC_MAX_HEADS = 128
/** Largest frame of any kind: a request, a header, or one signed record. */
export const SYNC_MAX_FRAME_BYTES = MAX_RECORD_BYTES
/** An exchange (request and answer, or each page of a records answer) must finish within this. */
export const SYNC_TIMEOUT_MS = 10_000

export type SyncRequest =
  | { op: 'heads'; authors: string[] }
  | { op: 'records'; author: string; after: number; limit: number }

/** Why a node refused a request; sent in the answer, stable strings. */
export type SyncRefusal = 'bad-request' | 'rate-limited' | 'unavailable'

export type SyncHeader =
  | { ok: true; highest: number; count: number }
  | { ok: true; heads: number[] }
  | { ok: false; error: string; message?: string }

/** The remote node answered with a refusal instead of records. */
export class SyncRefusedError extends Error {
  override readonly name = 'SyncRefusedError'
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

function isMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  )
}

function hasExactly(map: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(map)
  return own.length === keys.length && keys.every((key) => key in map)
}

function isUint(value: unknown, max = MAX_SEQ): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max
}

function decodeCborFrame(frame: Uint8Array): unknown {
  try {
    return dagCbor.decode(frame)
  } catch {
    throw new SyncProtocolError('bad-frame', 'a sync frame is not DAG-CBOR')
  }
}

export function encodeRequest(request: SyncRequest): Uint8Array {
  return dagCbor.encode(request)
}

/** Parses a request strictly; throws SyncProtocolError('bad-frame') with the reason. */
export function decodeRequest(frame: Uint8Array): SyncRequest {
  const value = decodeCborFrame(frame)
  const bad = (why: string): never => {
    throw new SyncProtocolError('bad-frame', `invalid sync request: ${why}`)
  }
  if (!isMap(value)) return bad('not a map')
  if (value.op === 'heads') {
    if (!hasExactly(value, ['op', 'authors'])) return bad('heads takes exactly "op" and "authors"')
    const { authors } = value
    if (!Array.isArray(authors) || authors.length === 0 || authors.length > SYNC_MAX_HEADS)
      return bad(`"authors" must list 1 to ${SYNC_MAX_HEADS} authors`)
    for (const author of authors)
      if (typeof author !== 'string' || !isAuthorId(author)) return bad('an author is not an author id')
    return { op: 'heads', authors: authors as string[] }
  }
  if (value.op === 'records') {
    if (!hasExactly(value, ['op', 'author', 'after', 'limit']))
      return bad('records takes exactly "op", "author", "after" and "limit"')
    const { author, after, limit } = value
    if (typeof author !== 'string' || !isAuthorId(author)) return bad('"author" is not an author id')
    if (!isUint(after)) return bad('"after" must be an integer from 0')
    if (!isUint(limit, Number.MAX_SAFE_INTEGER) || limit < 1) return bad('"limit" must be a positive integer')
    return { op: 'records', author, after, limit }
  }
  return bad('unknown "op"')
}

export function encodeHeader(header: SyncHeader): Uint8Array {
  return dagCbor.encode(header)
}

/** Parses an answer's first frame strictly. */
export function decodeHeader(frame: Uint8Array): SyncHeader {
  const value = decodeCborFrame(frame)
  const bad = (why: string): never => {
    throw new SyncProtocolError('bad-frame', `invalid sync answer header: ${why}`)
  }
  if (!isMap(value)) return bad('not a map')
  if (value.ok === false) {
    const keys = 'message' in value ? ['ok', 'error', 'message'] : ['ok', 'error']
    if (!hasExactly(value, keys) || typeof value.error !== 'string') return bad('malformed refusal')
    if ('message' in value && typeof value.message !== 'string') return bad('malformed refusal message')
    return value as SyncHeader
  }
  if (value.ok !== true) return bad('"ok" must be true or false')
  if ('heads' in value) {
    if (
      !hasExactly(value, ['ok', 'heads']) ||
      !Array.isArray(value.heads) ||
      !value.heads.every((h) => isUint(h))
    )
      return bad('malformed heads')
    return { ok: true, heads: value.heads as number[] }
  }
  if (!hasExactly(value, ['ok', 'highest', 'count']) || !isUint(value.highest) || !isUint(value.count))
    return bad('malformed records header')
  return { ok: true, highest: value.highest, count: value.count }
}

interface Deadline {
  signal: AbortSignal
  /** Gives the next part of the exchange (a page) the whole time again. */
  restart(): void
  clear(): void
}

/** Aborts the stream when the deadline passes, so a stalled or endless peer cannot hold it. */
function deadline(stream: Stream, ms: number): Deadline {
  const controller = new AbortController()
  const expire = () => {
    const error = new SyncProtocolError('timeout', `sync exchange took longer than ${ms} ms`)
    controller.abort(error)
    stream.abort(error)
  }
  let timer = setTimeout(expire, ms)
  return {
    signal: controller.signal,
    restart() {
      clearTimeout(timer)
      timer = setTimeout(expire, ms)
    },
    clear: () => clearTimeout(timer),
  }
}

/**
 * Sends length-prefixed frames as one write: a page of 256 records sent frame by frame cost 256
 * yamux frames, Noise messages and socket writes on both sides (libp2p splits a large write
 * into messages of its own size).
 */
async function sendFrames(stream: Stream, frames: Uint8Array[], signal: AbortSignal): Promise<void> {
  const data = new Uint8ArrayList()
  for (const frame of frames) data.append(lp.encode.single(frame))
  if (!stream.send(data)) await stream.onDrain({ signal })
}

function rethrowTimeout(error: unknown, signal: AbortSignal): never {
  if (signal.aborted && signal.reason instanceof SyncProtocolError) throw signal.reason
  throw error
}

/** Per-peer allowances a server applies; see {@link createPeerAllowances}. */
export interface PeerAllowance {
  /** One token per request. */
  requests: TokenBucket
  /** One token per record served. */
  records: TokenBucket
}

export interface ServeSyncOptions {
  records: MeshRecords
  allowance: PeerAllowance
  timeoutMs?: number
}

/** What a server did with one request, for logs and tests. */
export type ServeOutcome =
  | { op: 'heads'; authors: number }
  | { op: 'records'; author: string; sent: number }
  | { op: 'refused'; reason: SyncRefusal; message: string }
  | { op: 'closed' }

/**
 * Answers one inbound sync stream. Never throws for what the remote sent: a bad request gets a
 * refusal; a stalled one is cut off at the deadline.
 */
export async function serveSync(stream: Stream, options: ServeSyncOptions): Promise<ServeOutcome> {
  const timer = deadline(stream, options.timeoutMs ?? SYNC_TIMEOUT_MS)
  const reader = new FrameReader(stream, SYNC_MAX_FRAME_BYTES, timer.signal)
  const refuse = async (reason: SyncRefusal, message: string): Promise<ServeOutcome> => {
    await sendFrames(stream, [encodeHeader({ ok: false, error: reason, message })], timer.signal)
    await stream.close({ signal: timer.signal })
    return { op: 'refused', reason, message }
  }
  try {
    let frame: Uint8Array | undefined
    try {
      frame = await reader.next()
    } catch (error) {
      if (error instanceof SyncProtocolError && error.code === 'too-large')
        return await refuse('bad-request', 'the request is larger than the protocol allows')
      throw error
    } finally {
      reader.release()
    }
    if (frame === undefined) {
      // The requester hung up before asking (it stopped or gave up): nothing to answer.
      await stream.close({ signal: timer.signal }).catch(() => undefined)
      return { op: 'closed' }
    }
    // Count the request before parsing it, so garbage costs the sender as much as a real request.
    if (!options.allowance.requests.take(1)) return await refuse('rate-limited', 'too many sync requests')
    let request: SyncRequest
    try {
      request = decodeRequest(frame)
    } catch (error) {
      return await refuse('bad-request', (error as Error).message)
    }
    if (request.op === 'heads') {
      const heads = request.authors.map((author) => options.records.highestSeq(author))
      await sendFrames(stream, [encodeHeader({ ok: true, heads })], timer.signal)
      await stream.close({ signal: timer.signal })
      return { op: 'heads', authors: heads.length }
    }
    const sent = await servePages(stream, request, options, timer)
    if (sent === undefined) return await refuse('rate-limited', 'too many records requested; try again later')
    await stream.close({ signal: timer.signal })
    return { op: 'records', author: request.author, sent }
  } catch (error) {
    stream.abort(error as Error)
    return rethrowTimeout(error, timer.signal)
  } finally {
    timer.clear()
  }
}

/**
 * Sends the pages of a records answer, each under its own deadline, then the empty page that ends
 * it; returns how many records went out, or undefined if the record allowance had none for the
 * first page. Pages go on while they come full, up to the request's limit, each starting where
 * {@link continueAfter} says.
 */
async function servePages(
  stream: Stream,
  request: Extract<SyncRequest, { op: 'records' }>,
  options: ServeSyncOptions,
  timer: Deadline,
): Promise<number | undefined> {
  const limit = Math.min(request.limit, SYNC_MAX_RECORDS)
  const sendPage = (page: Uint8Array[]) => {
    timer.restart()
    const highest = options.records.highestSeq(request.author)
    return sendFrames(
      stream,
      [encodeHeader({ ok: true, highest, count: page.length }), ...page],
      timer.signal,
    )
  }
  let after = request.after
  let sent = 0
  for (let more = true; more; ) {
    const wanted = Math.min(limit - sent, SYNC_PAGE_RECORDS)
    const granted = options.allowance.records.takeUpTo(wanted)
    if (granted === 0 && sent === 0) return undefined
    const rows = options.records.recordsAfter(request.author, after, granted)
    const page: Uint8Array[] = []
    let bytes = 0
    for (const row of rows.slice(0, granted)) {
      if (bytes + row.byteLength > SYNC_PAGE_BYTES) break
      bytes += row.byteLength
      page.push(row)
    }
    const last = page.at(-1)
    if (last === undefined) break
    await sendPage(page)
    sent += page.length
    more = (rows.length === granted || page.length < rows.length) && granted === wanted && sent < limit
    if (more) after = continueAfter(after, storedSeq(last))
  }
  await sendPage([])
  return sent
}

/**
 * Where the next page of an answer, or the next request, starts after a page that began after
 * `after` and ended at `lastSeq`: at `lastSeq` again (after `lastSeq` − 1), since a cut page may
 * have left out the other record of a collision at its last seq; or after `lastSeq` when that
 * would make no progress.
 */
export function continueAfter(after: number, lastSeq: number): number {
  return lastSeq - 1 > after ? lastSeq - 1 : lastSeq
}

/** The seq of a record from the store (it was verified when stored). */
function storedSeq(bytes: Uint8Array): number {
  return parseRecord(bytes, { now: Number.POSITIVE_INFINITY }).claimed.seq
}

async function sendRequest(stream: Stream, request: SyncRequest, signal: AbortSignal): Promise<void> {
  await sendFrames(stream, [encodeRequest(request)], signal)
  // Half-close: the request is complete, the answer still flows back.
  await stream.close({ signal })
}

/** The header, unless it is a refusal: that is thrown as a SyncRefusedError. */
function accepted(header: SyncHeader): Exclude<SyncHeader, { ok: false }> {
  if (!header.ok)
    throw new SyncRefusedError(header.error, `the peer refused: ${header.error} ${header.message ?? ''}`)
  return header
}

async function readHeader(reader: FrameReader): Promise<SyncHeader> {
  const frame = await reader.next()
  if (frame === undefined)
    throw new SyncProtocolError('bad-frame', 'the peer closed the stream without answering')
  return accepted(decodeHeader(frame))
}

/**
 * Runs one client exchange on a fresh stream under a deadline: on any error the stream is
 * aborted, and a timeout surfaces as SyncProtocolError('timeout').
 */
async function exchange<T>(
  stream: Stream,
  timeoutMs: number,
  work: (reader: FrameReader, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timer = deadline(stream, timeoutMs)
  const reader = new FrameReader(stream, SYNC_MAX_FRAME_BYTES, timer.signal)
  try {
    return await work(reader, timer.signal)
  } catch (error) {
    stream.abort(error as Error)
    return rethrowTimeout(error, timer.signal)
  } finally {
    timer.clear()
    reader.release()
  }
}

/** Asks for the highest sequence number the peer holds of each author (same order). */
export function requestHeads(
  stream: Stream,
  authors: string[],
  timeoutMs = SYNC_TIMEOUT_MS,
): Promise<number[]> {
  return exchange(stream, timeoutMs, async (reader, signal) => {
    await sendRequest(stream, { op: 'heads', authors }, signal)
    const header = await readHeader(reader)
    if (!('heads' in header) || header.heads.length !== authors.length)
      throw new SyncProtocolError('bad-frame', 'the heads answer does not match the request')
    return header.heads
  })
}

/** Verifies a batch of signature checks (on a worker pool, say); answers in the same order. */
export type VerifySignatures = (checks: readonly SignatureCheck[]) => Promise<boolean[]>

/** Verifies on the calling thread. */
export const verifyHere: VerifySignatures = async (checks) => checks.map(verifySignature)

interface Answer<R> {
  /** The highest sequence number the peer says it holds of the author. */
  highest: number
  /** Records that arrived, in the order received. */
  records: R[]
  /**
   * Set when the answer went wrong part way (garbage, too much, too slow, a bad signature): the
   * records before the fault are still good (each stands on its own) and are returned above.
   */
  fault?: SyncProtocolError
}

/**
 * A page of a records answer as read: every record parsed, by the author and above `after`,
 * signatures unchecked.
 */
export type FetchedRecords = Answer<ParsedRecord>
/** A records answer whose records all verified. */
export type RecordsAnswer = Answer<VerifiedRecord>

/**
 * Asks for records of `author` with a sequence number above `after` and yields the answer page by
 * page as it arrives, up to the empty page that ends it. Every record is parsed with
 * `parseRecord` and must be by `author` and above `after`; the answer is capped in count
 * (`limit`, at most {@link SYNC_MAX_RECORDS}, and {@link SYNC_PAGE_RECORDS} a page), in bytes a
 * page, and in time a page. The signatures are left to {@link verifyFetched}, so a caller checks
 * and stores a page while the next one arrives. A page that went wrong part way carries a `fault`
 * and is the last. Leaving the loop early resets the stream.
 */
export async function* fetchPages(
  stream: Stream,
  request: { author: string; after: number; limit: number },
  timeoutMs = SYNC_TIMEOUT_MS,
): AsyncGenerator<FetchedRecords, void, undefined> {
  const limit = Math.max(1, Math.min(request.limit, SYNC_MAX_RECORDS))
  const timer = deadline(stream, timeoutMs)
  const reader = new FrameReader(stream, SYNC_MAX_FRAME_BYTES, timer.signal)
  let settled = false
  try {
    await sendRequest(
      stream,
      { op: 'records', author: request.author, after: request.after, limit },
      timer.signal,
    )
    let received = 0
    for (let first = true; ; first = false) {
      const frame = await reader.next()
      if (frame === undefined) {
        if (first) throw new SyncProtocolError('bad-frame', 'the peer closed the stream without answering')
        break // closed without the empty page: a short answer
      }
      const header = pageHeader(frame, first)
      if (header.count === 0) {
        // The empty page ends the answer; as the first, it says what the peer holds.
        if (first) yield { highest: header.highest, records: [] }
        break
      }
      const room = Math.min(SYNC_PAGE_RECORDS, limit - received)
      if (header.count > room)
        throw new SyncProtocolError(
          'too-many',
          `the peer announced ${header.count} records; ${room} more were asked`,
        )
      const page = await readPage(reader, header, request, timer.signal, stream)
      received += page.records.length
      // A fault, or a clean close before the page was complete: nothing more can come.
      settled = page.fault !== undefined || page.records.length < header.count
      yield page
      if (settled) return
      timer.restart()
    }
    settled = true
    // Done reading: whatever else the peer sends is not read.
    await stream.closeRead().catch(() => undefined)
  } catch (error) {
    settled = true
    stream.abort(error as Error)
    rethrowTimeout(error, timer.signal)
  } finally {
    timer.clear()
    reader.release()
    if (!settled) stream.abort(new Error('the requester stopped reading the answer'))
  }
}

/** A page's header: records, or (as the first page only) a refusal. */
function pageHeader(frame: Uint8Array, first: boolean): { highest: number; count: number } {
  const decoded = decodeHeader(frame)
  if (!decoded.ok && !first) throw new SyncProtocolError('bad-frame', 'a refusal can only open an answer')
  const header = accepted(decoded)
  if (!('count' in header)) throw new SyncProtocolError('bad-frame', 'a records answer needs a count')
  return header
}

/** Reads the records a page's header announced; a fault keeps the records before it. */
async function readPage(
  reader: FrameReader,
  header: { highest: number; count: number },
  request: { author: string; after: number },
  signal: AbortSignal,
  stream: Stream,
): Promise<FetchedRecords> {
  const page: FetchedRecords = { highest: header.highest, records: [] }
  const start = reader.bytes
  try {
    for (let i = 0; i < header.count; i++) {
      const frame = await reader.next()
      if (frame === undefined) break // a short answer is allowed; the next round asks again
      if (reader.bytes - start > SYNC_PAGE_BYTES)
        throw new SyncProtocolError('too-large', 'a page is larger than the protocol allows')
      page.records.push(checkRecord(frame, request))
    }
  } catch (error) {
    // Records before the fault stand on their own: keep them, report the fault.
    if (signal.aborted && signal.reason instanceof SyncProtocolError) return { ...page, fault: signal.reason }
    if (!(error instanceof SyncProtocolError)) throw error
    stream.abort(error)
    return { ...page, fault: error }
  }
  return page
}

/**
 * Checks the signatures of a fetched answer in one batch. A record that fails ends the answer
 * there with a `bad-record` fault; the records before it are kept.
 */
export async function verifyFetched(
  fetched: FetchedRecords,
  verify: VerifySignatures = verifyHere,
): Promise<RecordsAnswer> {
  const valid = await verify(fetched.records.flatMap((parsed) => parsed.signatures))
  const answer: RecordsAnswer = { highest: fetched.highest, records: [] }
  let at = 0
  for (const parsed of fetched.records) {
    const results = valid.slice(at, at + parsed.signatures.length)
    at += parsed.signatures.length
    try {
      answer.records.push(parsed.accept(results))
    } catch (error) {
      if (!(error instanceof InvalidRecordError)) throw error
      return { ...answer, fault: invalidRecord(error) }
    }
  }
  return fetched.fault === undefined ? answer : { ...answer, fault: fetched.fault }
}

function invalidRecord(error: InvalidRecordError): SyncProtocolError {
  return new SyncProtocolError('bad-record', `the peer sent an invalid record (${error.reason})`)
}

function checkRecord(frame: Uint8Array, request: { author: string; after: number }): ParsedRecord {
  let record: ParsedRecord
  try {
    record = parseRecord(frame)
  } catch (error) {
    if (error instanceof InvalidRecordError) throw invalidRecord(error)
    throw error
  }
  if (record.claimed.author !== request.author || record.claimed.seq <= request.after)
    throw new SyncProtocolError('bad-record', 'the peer sent a record that was not asked for')
  return record
}
