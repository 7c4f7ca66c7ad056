// Loaded into each daemon of the propagation benchmark (`node --import`, see Daemon.start in
// lib.mts): records the node's trace channels (packages/mesh/src/trace.ts) in memory and writes
// them, one JSON object a line, to $CAPSULE_STAGE_TRACE_DIR/<pid>.jsonl as the process exits.
// Plain JavaScript, not .mts, as type stripping would load its compiler into every daemon; its JSDoc
// types are checked with the scripts' (`tsc -p bench`).
import { subscribe } from 'node:diagnostics_channel'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TRACE_CHANNELS, traceNow } from '@capsule/mesh/trace'

const { CAPSULE_STAGE_TRACE_DIR: dir } = process.env
if (dir) {
  /** @type {string[]} */
  const lines = []
  const key = (/** @type {{ body: { author: string; seq: number } }} */ record) => ({
    author: record.body.author,
    seq: record.body.seq,
  })
  subscribe(TRACE_CHANNELS.committed, (message) => {
    const { record, signingAt } = /** @type {import('@capsule/mesh/trace').CommittedTrace} */ (message)
    const text = record.body.kind === 'post' ? record.body.text : undefined
    lines.push(JSON.stringify({ event: 'committed', ...key(record), text, signingAt, at: traceNow() }))
  })
  subscribe(TRACE_CHANNELS.accepted, (message) => {
    const { record, receivedAt } = /** @type {import('@capsule/mesh/trace').AcceptedTrace} */ (message)
    lines.push(JSON.stringify({ event: 'accepted', ...key(record), receivedAt, at: traceNow() }))
  })
  subscribe(TRACE_CHANNELS.stored, (message) => {
    const { records, via } = /** @type {import('@capsule/mesh/trace').StoredTrace} */ (message)
    const at = traceNow()
    for (const record of records) lines.push(JSON.stringify({ event: 'stored', ...key(record), via, at }))
  })
  process.on('exit', () => {
    writeFileSync(join(dir, `${process.pid}.jsonl`), lines.length > 0 ? `${lines.join('\n')}\n` : '')
  })
}
