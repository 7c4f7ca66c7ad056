// A worker thread for bench/ingest.mts: checks records with decodeRecord off the main thread and
// answers how many passed. It measures the ceiling of verification spread over both cores.
import { parentPort } from 'node:worker_threads'
import { decodeRecord } from '@capsule/core'

parentPort?.on('message', (records: Uint8Array[]) => {
  let valid = 0
  for (const bytes of records) {
    decodeRecord(bytes, { now: Number.POSITIVE_INFINITY })
    valid += 1
  }
  parentPort?.postMessage(valid)
})
