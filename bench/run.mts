// Runs the benchmarks one after another (each in its own process), prints a table and writes
// bench/results/latest.json (and a dated copy). See docs/PERFORMANCE.md.
//   npm run bench                   the full set
//   npm run bench -- --quick        a reduced set, under 5 minutes
//   npm run bench -- --only ingest,site
//   npm run bench -- --cpu-prof       also write CPU profiles of the daemons to bench/results/profiles
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
  },
})
const quick = values.quick
const passed = [...(quick ? ['--quick'] : []), ...(values['cpu-prof'] ? ['--cpu-prof'] : [])]
const only = values.only?.split(',')
const here = import.meta.dirname

type Json = Record<string, unknown>
interface Step {
  name: string
  script: string
  args?: string[]
}

const propagationRuns: [number, 'in-process' | 'processes'][] = quick
  ? [
      [10, 'in-process'],
      [10, 'processes'],
    ]
  : [
      [10, 'in-process'],
      [30, 'in-process'],
      [10, 'processes'],
      [30, 'processes'],
    ]

/** Runs one benchmark script and returns the object on its `RESULT` line. */
async function run(step: Step): Promise<Json> {
  const args = [join(here, step.script), ...(step.args ?? []), ...passed]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk) => {
    out += chunk
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  const line = out.split('\n').find((l) => l.startsWith('RESULT '))
  if (code !== 0 || line === undefined) throw new Error(`${step.name} failed (exit ${code})`)
  return JSON.parse(line.slice('RESULT '.length)) as Json
}

/** The commit the run started from (others may commit, and rebuild, while it runs). */
function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: here,
      encoding: 'utf8',
    })
    return dirty.trim() === '' ? head : `${head}-dirty`
  } catch {
    return 'unknown'
  }
}
const commit = gitCommit()
const results: Json = {}
const details: Json = {}
const failures: string[] = []
const started = Date.now()
const loadBefore = loadavg()[0]!
const wanted = (name: string) => only === undefined || only.includes(name)

/** CPU time /proc/stat counts as busy and in total, all cores together. */
function cpuTimes(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = fields.reduce((sum, value) => sum + value, 0)
  const idle = fields[3]! + fields[4]! // idle + iowait
  return { busy: total - idle, total }
}

/**
 * Cores kept busy by others: sampled for 2 s while no benchmark runs (the load average would
 * count the benchmark's own processes of the minute before).
 */
async function background(): Promise<number> {
  const a = cpuTimes()
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const b = cpuTimes()
  return Number((((b.busy - a.busy) / (b.total - a.total)) * cpus().length).toFixed(2))
}
const busy: Record<string, number> = {}

async function step(name: string, work: () => Promise<void>): Promise<void> {
  if (!wanted(name)) return
  busy[name] = await background()
  process.stderr.write(`\n== ${name} (other processes keep ${busy[name]} of ${cpus().length} cores busy)\n`)
  try {
    await work()
  } catch (error) {
    failures.push(name)
    process.stderr.write(`!! ${(error as Error).message}\n`)
  }
}

/** The figures of a propagation run's first posts, kept in its details. */
function firstPosts(result: Json) {
  const { p50_ms, p95_ms, p99_ms, max_ms, delivered_ratio } = (result.details as Json).first_posts as Json
  return { p50_ms, p95_ms, p99_ms, max_ms, delivered_ratio }
}

/** Splits a script's result into the listed keys and its details. */
function take(result: Json): Json {
  const { details: extra, ...figures } = result
  return { figures, extra }
}

await step('propagation', async () => {
  const rows: Json[] = []
  const extra: Json[] = []
  for (const [n, mode] of propagationRuns) {
    const args = ['--n', String(n), '--mode', mode]
    const bare = await run({
      name: `bare ${mode} ${n}`,
      script: 'propagation.mts',
      args: [...args, '--system', 'bare'],
    })
    const capsule = await run({
      name: `capsule ${mode} ${n}`,
      script: 'propagation.mts',
      args: [...args, '--system', 'capsule'],
    })
    // Full run only: gossipsub with its defaults, to show what the tuning is worth.
    const defaults = quick
      ? undefined
      : await run({
          name: `bare-defaults ${mode} ${n}`,
          script: 'propagation.mts',
          args: [...args, '--system', 'bare-defaults'],
        })
    rows.push({
      n,
      mode,
      p50_ms: capsule.p50_ms,
      p95_ms: capsule.p95_ms,
      p99_ms: capsule.p99_ms,
      max_ms: capsule.max_ms,
      delivered_ratio: capsule.delivered_ratio,
      baseline_p99_ms: bare.p99_ms,
      // The posts before those, from nodes just started (propagation.mts, --first-posts).
      first_posts: { ...firstPosts(capsule), baseline_p99_ms: firstPosts(bare).p99_ms },
    })
    extra.push({
      n,
      mode,
      capsule: capsule.details,
      baseline: bare,
      ...(defaults ? { baseline_gossipsub_defaults: defaults } : {}),
    })
  }
  results.propagation = rows
  details.propagation = extra
})

for (const [name, script] of [
  ['ingest', 'ingest.mts'],
  ['catchup', 'catchup.mts'],
  ['footprint', 'footprint.mts'],
  ['site', 'site.mts'],
  ['cli', 'cli.mts'],
] as const) {
  await step(name, async () => {
    const { figures, extra } = take(await run({ name, script })) as { figures: Json; extra: Json }
    results[name] = figures
    details[name] = extra
  })
}

// ---- ratios to the same-run baselines, targets, table ----

const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)
const ratio = (a: unknown, b: unknown) => {
  const x = num(a)
  const y = num(b)
  return x === undefined || y === undefined || y === 0 ? undefined : Number((x / y).toPrecision(2))
}
const get = (section: string, key: string) => (results[section] as Json | undefined)?.[key]

interface Row {
  figure: string
  value: unknown
  baseline?: unknown
  ratio?: number | undefined
  target: string
  met?: boolean | undefined
}
const rows: Row[] = []
const ratios: Json = {}
const check = (value: number | undefined, test: (v: number) => boolean) =>
  value === undefined ? undefined : test(value)

for (const row of (results.propagation as Json[] | undefined) ?? []) {
  const label = `propagation N=${row.n} ${row.mode}`
  const first = row.first_posts as Json
  const r = ratio(row.p99_ms, row.baseline_p99_ms)
  const firstRatio = ratio(first.p99_ms, first.baseline_p99_ms)
  ratios[`propagation_${row.n}_${row.mode}_p99`] = r
  ratios[`propagation_${row.n}_${row.mode}_first_posts_p99`] = firstRatio
  rows.push({
    figure: `${label}: p50/p95/p99/max ms`,
    value: `${row.p50_ms}/${row.p95_ms}/${row.p99_ms}/${row.max_ms}`,
    baseline: row.baseline_p99_ms,
    ratio: r,
    target: 'p99 <= 1.25x bare',
    met: check(r, (v) => v <= 1.25),
  })
  rows.push({
    figure: `${label}, first posts after start: p50/p95/p99/max ms`,
    value: `${first.p50_ms}/${first.p95_ms}/${first.p99_ms}/${first.max_ms}`,
    baseline: first.baseline_p99_ms,
    ratio: firstRatio,
    target: '',
  })
  rows.push({
    figure: `${label}: delivered (first posts too)`,
    value: `${row.delivered_ratio} (${first.delivered_ratio})`,
    target: 'all',
    met: row.delivered_ratio === 1 && first.delivered_ratio === 1,
  })
}
if (results.ingest) {
  ratios.ingest_to_verify = ratio(get('ingest', 'records_per_s'), get('ingest', 'verify_only_per_s'))
  ratios.ingest_to_insert = ratio(get('ingest', 'records_per_s'), get('ingest', 'insert_only_per_s'))
  rows.push({
    figure: 'ingest via sync, records/s',
    value: get('ingest', 'records_per_s'),
    baseline: `verify ${get('ingest', 'verify_only_per_s')}`,
    ratio: ratios.ingest_to_verify as number,
    target: '>= 10,000/s',
    met: check(num(get('ingest', 'records_per_s')), (v) => v >= 10_000),
  })
  rows.push({
    figure: 'ingest vs insert-only',
    value: get('ingest', 'records_per_s'),
    baseline: `insert ${get('ingest', 'insert_only_per_s')}`,
    ratio: ratios.ingest_to_insert as number,
    target: '',
  })
}
if (results.catchup) {
  const seconds = num(get('catchup', 'seconds'))
  rows.push({
    figure: `catch-up ${get('catchup', 'records')} records, s`,
    value: seconds ?? `incomplete (${get('catchup', 'records')})`,
    baseline: 'SSB 1.77',
    ratio: ratio(seconds, 1.77),
    target: '< 0.9 s',
    met: seconds !== undefined && seconds < 0.9,
  })
  rows.push({
    figure: 'catch-up follower RSS, MB',
    value: get('catchup', 'follower_rss_mb'),
    baseline: 'SSB 171 MiB',
    target: '< 120 MB',
    met: check(num(get('catchup', 'follower_rss_mb')), (v) => v < 120),
  })
}
if (results.footprint) {
  ratios.rss_idle_to_bare = ratio(get('footprint', 'rss_idle_mb'), get('footprint', 'baseline_rss_idle_mb'))
  rows.push({
    figure: 'start-up to ready, ms (median of 10)',
    value: get('footprint', 'start_ms'),
    baseline: 'SSB 186',
    target: '< 150 ms',
    met: check(num(get('footprint', 'start_ms')), (v) => v < 150),
  })
  rows.push({
    figure: 'RSS idle, MB',
    value: get('footprint', 'rss_idle_mb'),
    baseline: get('footprint', 'baseline_rss_idle_mb'),
    ratio: ratios.rss_idle_to_bare as number,
    target: '<= 1.10x bare, < 100 MB',
    met: check(
      num(get('footprint', 'rss_idle_mb')),
      (v) => v < 100 && (ratios.rss_idle_to_bare as number) <= 1.1,
    ),
  })
  rows.push({ figure: 'RSS with 20 peers, MB', value: get('footprint', 'rss_20_peers_mb'), target: '' })
  rows.push({
    figure: 'RSS after 100,000 records, MB',
    value: get('footprint', 'rss_100k_records_mb'),
    target: '',
  })
}
if (results.site) {
  ratios.home_to_bare = ratio(get('site', 'home_rps'), get('site', 'baseline_rps'))
  ratios.permalink_to_bare = ratio(get('site', 'permalink_rps'), get('site', 'baseline_rps'))
  rows.push({
    figure: `site home req/s (p99 ${get('site', 'home_p99_ms')} ms)`,
    value: get('site', 'home_rps'),
    baseline: get('site', 'baseline_rps'),
    ratio: ratios.home_to_bare as number,
    target: '>= 0.5x bare',
    met: check(ratios.home_to_bare as number | undefined, (v) => v >= 0.5),
  })
  rows.push({
    figure: 'site permalink req/s',
    value: get('site', 'permalink_rps'),
    baseline: get('site', 'baseline_rps'),
    ratio: ratios.permalink_to_bare as number,
    target: '',
  })
}
if (results.cli)
  rows.push({
    figure: 'capsule post round trip, ms (median of 20)',
    value: get('cli', 'post_ms'),
    target: '',
  })

const loadAfter = loadavg()[0]!
const cell = (value: unknown) => (value === undefined ? '' : String(value))
const table = [
  ['figure', 'value', 'baseline', 'ratio', 'target', 'met'],
  ...rows.map((r) => [
    r.figure,
    cell(r.value),
    cell(r.baseline),
    cell(r.ratio),
    r.target,
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]),
]
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
const print = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
const cpuModel = cpus()[0]?.model ?? 'unknown'
const run_ = {
  date: new Date(started).toISOString(),
  quick,
  seconds: Math.round((Date.now() - started) / 1000),
  commit,
  load_before: Number(loadBefore.toFixed(2)),
  load_after: Number(loadAfter.toFixed(2)),
  /** Cores busy with other work just before each benchmark (see background()). */
  background_cores_busy: busy,
  machine: {
    nproc: cpus().length,
    cpu: cpuModel,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  failures,
}
process.stdout.write(
  `\nCapsule benchmarks (${quick ? 'quick' : 'full'}), ${run_.date}, ${run_.machine.nproc} x ${cpuModel}, ` +
    `Node ${process.version}, load ${run_.load_before} -> ${run_.load_after}, ${run_.seconds} s\n` +
    `cores busy with other work before each benchmark: ${JSON.stringify(busy)}\n\n`,
)
process.stdout.write(`${print(table[0]!)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`)
for (const row of table.slice(1)) process.stdout.write(`${print(row)}\n`)

const output = { ...results, ratios, details, run: run_ }
const dir = join(here, 'results')
mkdirSync(dir, { recursive: true })
const json = `${JSON.stringify(output, null, 2)}\n`
// A partial run (--only) leaves latest.json as it was.
const name = `${run_.date.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}${only ? '-partial' : ''}.json`
writeFileSync(join(dir, name), json)
if (!only) writeFileSync(join(dir, 'latest.json'), json)
const written = only ? name : 'latest.json'
process.stdout.write(
  `\nwrote bench/results/${written}${failures.length ? `; FAILED: ${failures.join(', ')}` : ''}\n`,
)
process.exit(failures.length > 0 ? 1 : 0)
