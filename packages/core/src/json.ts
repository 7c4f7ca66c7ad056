import type { RecordBody, VerifiedRecord } from './types.js'

type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** A record as JSON for people and tools (socket API, site, CLI). The signed bytes stay authoritative. */
export type RecordJson = OmitEach<RecordBody, 'original'> & { id: string; original?: RecordJson }

export function recordToJson(record: VerifiedRecord): RecordJson {
  const { body } = record
  if (body.kind === 'reshare') {
    const { original, ...rest } = body
    return { id: record.id, ...rest, original: recordToJson(original) }
  }
  return { id: record.id, ...body } as RecordJson
}
