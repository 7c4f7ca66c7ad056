#!/usr/bin/env node
// Footprint of the single executable: file size, start-up time to listening, idle memory.
//   npm run build:binary && node bench/binary-footprint.mjs [--binary dist/capsule] [--runs 10]
//     [--idle-ms 3000] [--npm-cli] [--cold-page-cache]
// Each run starts `capsule up` on a fresh home (a new identity, a new database: the first start a
// person sees) and times it from spawn to the "ready" log line, which is printed once the mesh
// listens and the socket API is up. One extra start first fills the caches (the addon's and the
// compiled code's; timed and reported on its own, "cold"). Idle RSS is VmRSS from /proc a few seconds after ready, with its two
// parts: anonymous memory (RssAnon: the heaps) and pages of files (RssFile: mostly the
// executable's own, clean and shareable).
// How many of the executable's pages a process maps depends on how the file sits in the page
// cache: Linux 6.18 maps a whole large folio on a fault, and a file just written in one piece
// (as the build writes dist/capsule) is cached in 512 KB folios, a file read in from disk mostly
// in 4 KB pages. --cold-page-cache drops the executable (and with --npm-cli, node) from the page
// cache first, so that the starts read it as after a reboot.
// Targets (measured, not asserted): < 140 MB file, < 150 ms to listening, < 100 MB idle RSS.
import { execFileSync, spawn } from 'node:child_process'
import {
  closeSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    binary: { type: 'string', default: 'dist/capsule' },
    runs: { type: 'string', default: '10' },
    'idle-ms': { type: 'string', default: '3000' },
    'npm-cli': { type: 'boolean', default: false },
    'cold-page-cache': { type: 'boolean', default: false },
  },
})
const root = resolve(import.meta.dirname, '..')
const binary = resolve(values.binary)
const runs = Number(values.runs)
const idleMs = Number(values['idle-ms'])
const TARGETS = { sizeMB: 140, startMs: 150, rssMB: 100 }

const scratch = mkdtempSync(join(tmpdir(), 'capsule-footprint-'))
const children = new Set()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(scratch, { recursive: true, force: true })
})

function median(numbers) {
  const sorted = [...numbers].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** VmRSS, RssAnon and RssFile in MB. */
function rssMB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]) / 1024
  return { total: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') }
}

/** Writes out and drops a file's pages from the page cache (GNU dd: count=0 drops the whole file). */
function dropFromPageCache(file) {
  const fd = openSync(file, 'r')
  fsyncSync(fd)
  closeSync(fd)
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'])
}

/** One `capsule up` on a fresh home: ms from spawn to "ready", then RSS after idling. */
async function startOnce(command, env, label, measureIdle) {
  const home = mkdtempSync(join(scratch, `${label}-`))
  const started = performance.now()
  const child = spawn(
    command[0],
    [
      ...command[1],
      '--home',
      join(home, 'home'),
      'up',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--private-network',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.add(child)
  const output = []
  child.stderr.on('data', (chunk) => output.push(String(chunk)))
  const ready = await new Promise((resolveReady, reject) => {
    const lines = createInterface({ input: child.stdout })
    lines.on('line', (line) => {
      output.push(line)
      if (line.includes(' ready ')) resolveReady(performance.now() - started)
    })
    child.once('exit', (code) => reject(new Error(`capsule up exited ${code}:\n${output.join('\n')}`)))
  })
  let rss
  if (measureIdle) {
    await new Promise((resolveIdle) => setTimeout(resolveIdle, idleMs))
    rss = rssMB(child.pid)
  }
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit))
  child.kill('SIGTERM')
  await exited
  children.delete(child)
  return { ms: ready, rss }
}

/** `executable`: the file whose pages the starts map (what --cold-page-cache drops). */
async function measure(name, slug, command, executable, path = '/usr/bin:/bin') {
  if (values['cold-page-cache']) dropFromPageCache(executable)
  // A home of its own for the caches (addon, compiled code): "cold" is the first start here.
  const env = { PATH: path, HOME: mkdtempSync(join(scratch, 'user-')) }
  const cold = await startOnce(command, env, slug, false)
  const samples = []
  for (let run = 0; run < runs; run++) samples.push(await startOnce(command, env, slug, true))
  return {
    name,
    coldStartMs: Math.round(cold.ms),
    startMs: Math.round(median(samples.map((sample) => sample.ms))),
    startMsMin: Math.round(Math.min(...samples.map((sample) => sample.ms))),
    startMsMax: Math.round(Math.max(...samples.map((sample) => sample.ms))),
    rssMB: Math.round(median(samples.map((sample) => sample.rss.total))),
    rssAnonMB: Math.round(median(samples.map((sample) => sample.rss.anon))),
    rssFileMB: Math.round(median(samples.map((sample) => sample.rss.file))),
  }
}

const sizeMB = statSync(binary).size / 1e6
const results = [await measure('single executable', 'sea', [binary, []], binary)]
if (values['npm-cli']) {
  // The bin itself, as `npx capsule` starts it: its shebang finds the project's Node on PATH.
  results.push(
    await measure(
      'npm CLI (npx capsule)',
      'npm',
      [join(root, 'apps/capsule/bin/capsule.js'), []],
      realpathSync(join(root, 'node_modules/.bin/node')),
      `${join(root, 'node_modules/.bin')}:/usr/bin:/bin`,
    ),
  )
}

const pad = (text, width) => String(text).padEnd(width)
console.log(
  `capsule footprint, ${runs} starts each, fresh home per start, idle ${idleMs} ms before RSS${values['cold-page-cache'] ? ', executables dropped from the page cache first' : ''}; ${cpus().length} cores, load average ${loadavg()[0].toFixed(2)}`,
)
console.log(
  `${pad('', 32)}${pad('file MB', 10)}${pad('start ms (median)', 19)}${pad('min-max', 10)}${pad('cold ms', 9)}idle RSS MB (anon + file)`,
)
for (const result of results) {
  const file = result.name === 'single executable' ? sizeMB.toFixed(1) : '-'
  console.log(
    `${pad(result.name, 32)}${pad(file, 10)}${pad(result.startMs, 19)}${pad(`${result.startMsMin}-${result.startMsMax}`, 10)}${pad(result.coldStartMs, 9)}${result.rssMB} (${result.rssAnonMB} + ${result.rssFileMB})`,
  )
}
console.log(
  `${pad('target', 32)}${pad(`< ${TARGETS.sizeMB}`, 10)}${pad(`< ${TARGETS.startMs}`, 19)}${pad('', 19)}< ${TARGETS.rssMB}`,
)
const [sea] = results
console.log(
  JSON.stringify({
    bench: 'binary-footprint',
    binary: values.binary,
    runs,
    idleMs,
    coldPageCache: values['cold-page-cache'],
    loadAverage: Number(loadavg()[0].toFixed(2)),
    sizeMB: Number(sizeMB.toFixed(1)),
    ...Object.fromEntries(Object.entries(sea).filter(([key]) => key !== 'name')),
    targets: TARGETS,
    meets: {
      size: sizeMB < TARGETS.sizeMB,
      start: sea.startMs < TARGETS.startMs,
      rss: sea.rssMB < TARGETS.rssMB,
    },
    ...(results[1] ? { npmCli: results[1] } : {}),
  }),
)
