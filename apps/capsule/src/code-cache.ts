import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { getHeapCodeStatistics } from 'node:v8'
import { constants, Script } from 'node:vm'
import { crc32 } from 'node:zlib'
import { ensurePrivateDir, replaceFile } from './cache-dir.js'
import { startedUp } from './started-up.js'

/** A new cache is written only when a run compiled this much more code than the cache holds. */
const GROWTH = 1.1
/** The cache file starts with the CRC-32 of the source and the compiled code size it was taken at. */
const HEADER_BYTES = 8
/** The source runs as a function of the CommonJS module's variables. */
const WRAPPER_START = Buffer.from('(function (exports, require, module, __filename, __dirname) {')
const WRAPPER_END = Buffer.from('\n})')

interface CodeCache {
  data: Buffer
  compiledBytes: number
}

/**
 * The cache for the source with this CRC-32, if the file holds it. V8 checks only the length of
 * the source: given the cache of another source of the same length, it runs the old code.
 */
function readCodeCache(path: string, sourceHash: number): CodeCache | undefined {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch {
    return undefined
  }
  if (bytes.length <= HEADER_BYTES || bytes.readUInt32LE(0) !== sourceHash) return undefined
  return { data: bytes.subarray(HEADER_BYTES), compiledBytes: bytes.readUInt32LE(4) }
}

/** A CommonJS script: its source, the file name it runs as, and the `require` it is given. */
export interface CommonJsScript {
  source: Buffer
  filename: string
  require: (id: string) => unknown
  /**
   * V8's code for the script's top level ({@link topLevelCodeCache}), for a start that has no
   * cache of its own: the single executable carries it, as Node's own SEA code cache would be.
   */
  firstStartCache?: Buffer
}

/**
 * The source wrapped as a function of the CommonJS module's variables. Wrapped as bytes, then
 * made one string: Node makes a string of over 1 MB external, and V8 would flatten a template
 * around it into a second copy, the first left for a full GC, which an idle daemon may not run
 * for a long time (1.9 MB more idle memory).
 */
function wrapCommonJs(source: Buffer): string {
  return Buffer.concat([WRAPPER_START, source, WRAPPER_END]).toString()
}

/** V8's code for the top level of CommonJS source, as compiling it before it runs gives. */
export function topLevelCodeCache(source: Buffer): Buffer {
  return new Script(wrapCommonJs(source)).createCachedData()
}

/**
 * Compiles CommonJS source (the CLI's bundle) as a function of `exports, require, module,
 * __filename, __dirname`, from V8's compiled code of an earlier run when `<dir>/code-<CRC-32 of
 * the file name>` holds it, else from `firstStartCache` if given. `save` keeps the code compiled
 * so far, when that is more than the cache holds. A folder or file that cannot be used only costs
 * speed.
 */
export function compileWithCodeCache(
  source: Buffer,
  filename: string,
  dir: string,
  firstStartCache?: Buffer,
): { script: Script; save: () => void } {
  const sourceHash = crc32(source)
  const path = join(dir, `code-${crc32(filename).toString(16)}`)
  let usable = true
  try {
    ensurePrivateDir(dir)
  } catch {
    usable = false
  }
  const cache = usable ? readCodeCache(path, sourceHash) : undefined
  const cachedData = cache?.data ?? firstStartCache
  const script = new Script(wrapCommonJs(source), {
    filename,
    // import() resolves as in any file of that folder (the npm CLI's bundle imports acme-client so).
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    ...(cachedData && { cachedData }),
  })
  // The first start's cache covers only the top level: the code compiled by ready is kept.
  let covered = cache && !script.cachedDataRejected ? cache.compiledBytes : 0
  const save = () => {
    const compiled = getHeapCodeStatistics().bytecode_and_metadata_size
    if (!usable || compiled <= covered * GROWTH) return
    covered = compiled
    const header = Buffer.alloc(HEADER_BYTES)
    header.writeUInt32LE(sourceHash, 0)
    header.writeUInt32LE(compiled, 4)
    try {
      replaceFile(path, Buffer.concat([header, script.createCachedData()]), 0o600)
    } catch {
      usable = false
    }
  }
  return { script, save }
}

/**
 * Runs CommonJS source with {@link compileWithCodeCache}: the npm CLI's bundle file, and the
 * bundle the single executable carries (sea-main.ts). Node's own compile cache holds only what
 * V8 compiles before a file runs, and nearly all of the bundle (every module, which esbuild wraps
 * to run on first use) is compiled while it runs. So the cache is taken once start-up is over:
 * when the daemon is ready ({@link startedUp}), else as the process exits.
 */
export function runWithCodeCache(
  { source, filename, require, firstStartCache }: CommonJsScript,
  dir: string,
): void {
  const { script, save } = compileWithCodeCache(source, filename, dir, firstStartCache)
  // Not at the daemon's exit: by then it compiled much that a start does not need, and a larger
  // cache takes longer to load.
  const onStartedUp = () => {
    startedUp.unsubscribe(onStartedUp)
    process.off('exit', save)
    save()
  }
  startedUp.subscribe(onStartedUp)
  process.once('exit', save)
  const module = { exports: {} }
  script.runInThisContext().call(module.exports, module.exports, require, module, filename, dirname(filename))
}

/** {@link runWithCodeCache} for a file, which may `require` what lies beside it. */
export function runFileWithCodeCache(file: string, dir: string): void {
  runWithCodeCache({ source: readFileSync(file), filename: file, require: createRequire(file) }, dir)
}
