// CLI round trip: `capsule post "<text>"` against a running daemon, from spawning the CLI to its
// exit (Node start-up, the CLI's imports, the socket request, signing, the fsync, the answer).
// Median of 20, after one unmeasured run.
//   node bench/cli.mts [--quick]
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { capsuleCommand, Daemon, emit, log, median, options, percentile, round, scratch } from './lib.mts'

options({}) // --quick, --cpu-prof
const RUNS = 20
const run = promisify(execFile)
const daemon = await Daemon.start(join(scratch('cli'), 'home'))

async function post(text: string): Promise<number> {
  const t0 = performance.now()
  await run(...capsuleCommand(['--home', daemon.home, 'post', text]))
  return performance.now() - t0
}

await post('warm-up')
const times: number[] = []
for (let i = 0; i < RUNS; i++) times.push(await post(`post ${i}`))
// The same request without the CLI: what the socket API and the node take.
const apiTimes: number[] = []
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now()
  await daemon.request('/v1/posts', { text: `api ${i}` })
  apiTimes.push(performance.now() - t0)
}
await daemon.stop()
log(
  `capsule post: median ${Math.round(median(times))} ms; the API request alone ${median(apiTimes).toFixed(1)} ms`,
)
emit({
  post_ms: Math.round(median(times)),
  details: {
    post_p95_ms: Math.round(percentile(times, 95)),
    api_post_ms: round(median(apiTimes)),
  },
})
process.exit(0)
