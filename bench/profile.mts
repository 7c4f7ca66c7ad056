// Summarises a V8 CPU profile (node --cpu-prof, or `npm run bench -- --cpu-prof`): self time by
// package and by function, so a missed target can be traced to where the time goes.
//   node bench/profile.mts <file.cpuprofile> [--top 20]
//   node bench/profile.mts --sum --window 10.5,1.5 <files...>
// --window F,T keeps the samples taken from F to T seconds before each profile's end (a daemon's
// profile begins with its start-up; the propagation benchmark's measured posts end about a second
// before the daemons stop); --sum adds the profiles up (the followers of one run, say).
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  options: {
    top: { type: 'string', default: '20' },
    window: { type: 'string' },
    sum: { type: 'boolean', default: false },
  },
  allowPositionals: true,
})
const top = Number(values.top)
const [windowFrom = Number.POSITIVE_INFINITY, windowTo = 0] = values.window?.split(',').map(Number) ?? []
if (Number.isNaN(windowFrom) || Number.isNaN(windowTo)) {
  process.stderr.write('--window takes two numbers of seconds before the end, the earlier first: 10.5,1.5\n')
  process.exit(2)
}

interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}
interface Profile {
  nodes: Node[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/** node_modules/<package>, packages/<name>, node:<builtin>, or the special V8 frames. */
function owner(url: string, name: string): string {
  if (url === '') return `(${name || 'anonymous'})`
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (inModules) return inModules[1]!
  const inWorkspace =
    /\/work\/[^/]+\/((?:packages|apps|bench)\/[^/]+)/.exec(url) ?? /((?:packages|apps)\/[^/]+)/.exec(url)
  if (inWorkspace) return inWorkspace[1]!
  if (url.startsWith('node:')) return url
  return url.replace(/^file:\/\//, '')
}

/** Self time in ms by node id, of the samples inside the window. */
interface Samples {
  byId: Map<number, Node>
  self: Map<number, number>
}

function windowed(path: string): Samples {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  let at = profile.startTime
  for (const [i, id] of profile.samples.entries()) {
    const micros = profile.timeDeltas[i] ?? 0
    at += micros
    const beforeEnd = (profile.endTime - at) / 1e6
    if (beforeEnd <= windowFrom && beforeEnd >= windowTo) self.set(id, (self.get(id) ?? 0) + micros / 1000)
  }
  return { byId, self }
}

function summarise(title: string, profiles: Samples[]): void {
  const byOwner = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const { byId, self } of profiles)
    for (const [id, ms] of self) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame
      total += ms
      if (functionName === '(idle)') {
        idle += ms
        continue
      }
      const who = owner(url, functionName)
      byOwner.set(who, (byOwner.get(who) ?? 0) + ms)
      const key = `${functionName || '(anonymous)'}  ${who}${url ? `:${lineNumber + 1}` : ''}`
      byFunction.set(key, (byFunction.get(key) ?? 0) + ms)
    }
  const busy = total - idle
  const print = (heading: string, entries: Map<string, number>) => {
    process.stdout.write(`\n${heading}\n`)
    for (const [key, ms] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top))
      process.stdout.write(
        `${ms.toFixed(1).padStart(9)} ms ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${key}\n`,
      )
  }
  process.stdout.write(
    `${title}: ${total.toFixed(0)} ms profiled, ${busy.toFixed(0)} ms busy (the shares below)\n`,
  )
  print('self time by package', byOwner)
  print('self time by function', byFunction)
}

if (values.sum) summarise(`${positionals.length} profiles`, positionals.map(windowed))
else for (const path of positionals) summarise(path, [windowed(path)])
