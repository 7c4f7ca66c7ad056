// Summarises a V8 CPU profile (node --cpu-prof, or `npm run bench -- --cpu-prof`): self time by
// package and by function, so a missed target can be traced to where the time goes.
//   node bench/profile.mts <file.cpuprofile> [--top 20]
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '20' } },
  allowPositionals: true,
})
const top = Number(values.top)

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

function summarise(path: string): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  for (const [i, id] of profile.samples.entries())
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  const total = (profile.endTime - profile.startTime) / 1000
  const byOwner = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const [id, micros] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    const who = owner(url, functionName)
    byOwner.set(who, (byOwner.get(who) ?? 0) + micros / 1000)
    const key = `${functionName || '(anonymous)'}  ${who}${url ? `:${lineNumber + 1}` : ''}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros / 1000)
  }
  const print = (title: string, entries: Map<string, number>) => {
    process.stdout.write(`\n${title}\n`)
    for (const [key, ms] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top))
      process.stdout.write(
        `${ms.toFixed(1).padStart(9)} ms ${((ms / total) * 100).toFixed(1).padStart(5)}%  ${key}\n`,
      )
  }
  process.stdout.write(`${path}: ${total.toFixed(0)} ms profiled\n`)
  print('self time by package', byOwner)
  print('self time by function', byFunction)
}

for (const path of positionals) summarise(path)
