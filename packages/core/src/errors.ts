/** Why a record was refused. Stable strings: they cross the socket and appear in logs. */
export type InvalidRecordReason =
  | 'too-large'
  | 'malformed'
  | 'non-canonical'
  | 'bad-version'
  | 'unknown-kind'
  | 'bad-field'
  | 'text-too-long'
  | 'bad-author'
  | 'bad-signature'
  | 'future-timestamp'
  | 'bad-embed'

/** Thrown by {@link decodeRecord} for anything but a well-formed, correctly signed, in-bounds record. */
export class InvalidRecordError extends Error {
  override readonly name = 'InvalidRecordError'
  constructor(
    readonly reason: InvalidRecordReason,
    message: string,
  ) {
    super(message)
  }
}
