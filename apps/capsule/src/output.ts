import type { RecordJson } from '@capsule/core'

/** `12D3KooWAbc…wxyz`: enough to tell authors apart in a terminal. */
export function shortId(peerId: string): string {
  return peerId.length > 20 ? `${peerId.slice(0, 12)}…${peerId.slice(-4)}` : peerId
}

function time(ts: number): string {
  return new Date(ts).toISOString().replace('T', ' ').slice(0, 16)
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n')
}

/** A record as a terminal shows it in the feed: a header line, then the text indented. */
export function formatRecord(record: RecordJson): string {
  switch (record.kind) {
    case 'post':
      return `${record.id}  ${time(record.ts)}  ${shortId(record.author)}\n${indent(record.text)}`
    case 'reshare': {
      const original = record.original
      const text = original?.kind === 'post' ? original.text : ''
      return `${record.id}  ${time(record.ts)}  ${shortId(original?.author ?? '?')}  (reshared by ${shortId(record.author)})\n${indent(text)}`
    }
    case 'delete':
      return `${record.id}  ${time(record.ts)}  ${shortId(record.author)}  deleted ${record.target}`
    case 'profile':
      return `${record.id}  ${time(record.ts)}  ${shortId(record.author)}  profile: ${record.name}${record.bio ? ` — ${record.bio}` : ''}`
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
