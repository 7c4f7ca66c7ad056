import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileWithCodeCache, topLevelCodeCache } from './code-cache.js'

function setup(source: string) {
  const work = mkdtempSync(join(tmpdir(), 'capsule-code-cache-'))
  const file = join(work, 'bundle.cjs')
  writeFileSync(file, source)
  return { file, dir: join(work, 'cache', 'capsule') }
}

/** Compiles and runs the file as CommonJS; returns its exports and `save`. */
function load(file: string, dir: string) {
  const { script, save } = compileWithCodeCache(readFileSync(file), file, dir)
  const module = { exports: {} as { answer?: () => string } }
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file))
  return { script, save, answer: module.exports.answer?.() }
}

describe('the CLI’s code cache', () => {
  it('is written once by save, in an owner-only folder, and used by the next start', () => {
    const { file, dir } = setup('module.exports.answer = () => "aaa"')
    const first = load(file, dir)
    expect(first.script.cachedDataRejected).toBeUndefined()
    first.save()
    const [name] = readdirSync(dir)
    const path = join(dir, name!)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const second = load(file, dir)
    expect(second.script.cachedDataRejected).toBe(false)
    expect(second.answer).toBe('aaa')
    const inode = statSync(path).ino
    second.save()
    expect(statSync(path).ino).toBe(inode)
  })

  it('is not used for a changed file of the same length, which V8 alone would run from the old code', () => {
    const { file, dir } = setup('module.exports.answer = () => "aaa"')
    load(file, dir).save()
    writeFileSync(file, 'module.exports.answer = () => "bbb"')
    const changed = load(file, dir)
    expect(changed.script.cachedDataRejected).toBeUndefined()
    expect(changed.answer).toBe('bbb')
  })

  it('lets the file import() what lies beside it', async () => {
    const { file, dir } = setup('module.exports.load = () => import("./beside.mjs")')
    writeFileSync(join(dirname(file), 'beside.mjs'), 'export const answer = "ccc"')
    const { script } = compileWithCodeCache(readFileSync(file), file, dir)
    const module = { exports: {} as { load: () => Promise<{ answer: string }> } }
    script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file))
    expect((await module.exports.load()).answer).toBe('ccc')
  })

  it('starts from a first-start cache when it has none of its own, then keeps its own', () => {
    const { file, dir } = setup('module.exports.answer = () => "aaa"')
    const source = readFileSync(file)
    const first = compileWithCodeCache(source, file, dir, topLevelCodeCache(source))
    expect(first.script.cachedDataRejected).toBe(false)
    first.save()
    expect(readdirSync(dir)).toHaveLength(1)
    // Its own cache, once there, is used instead of the first-start one.
    const next = compileWithCodeCache(source, file, dir, Buffer.from('not a code cache'))
    expect(next.script.cachedDataRejected).toBe(false)
  })

  it('only costs speed when the folder cannot be used', () => {
    const { file, dir } = setup('module.exports.answer = () => "aaa"')
    writeFileSync(dirname(dir), 'a file where the cache folder’s parent should be')
    const loaded = load(file, dir)
    loaded.save()
    expect(loaded.answer).toBe('aaa')
  })
})
