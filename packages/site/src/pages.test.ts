import { createSigner, type PostBody, type VerifiedRecord } from '@capsule/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { CONTENT_SECURITY_POLICY, STYLE_PATH } from './assets.js'
import { renderAtom } from './atom.js'
import { escapeXml, postTextHtml } from './html.js'
import { type PageContext, renderHome, renderRecord } from './pages.js'
import { MemorySiteData } from './testing/memory-site-data.js'
import { assertWellFormedXml } from './testing/well-formed-xml.js'

async function owner(): Promise<MemorySiteData> {
  return new MemorySiteData(createSigner(await generateKeyPair('Ed25519')))
}

function context(data: MemorySiteData): PageContext {
  return {
    ownerId: data.ownerId,
    profile: data.profile(),
    domain: 'capsule-a.test',
    authorProfile: (a) => data.authorProfile(a),
  }
}

describe('pages', () => {
  it('shows post text containing markup as text, never as HTML', async () => {
    const data = await owner()
    data.sign({ kind: 'profile', name: '<b>Alice</b>', bio: 'I write "quotes" & <i>tags</i>' })
    const post = data.post('<script>alert(1)</script> & <img src=x onerror=alert(2)>')
    const page = renderHome(context(data), data.page({ limit: 20 }), undefined)
    expect(page).not.toContain('<script>alert')
    expect(page).not.toContain('<img src=x')
    expect(page).toContain(
      '&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#60;img src=x onerror=alert(2)&#62;',
    )
    expect(page).toContain('&#60;b&#62;Alice&#60;/b&#62;')
    expect(page).not.toContain('<b>Alice')
    const permalink = renderRecord(context(data), post)
    expect(permalink).not.toContain('<script>alert')
    expect(permalink).toContain(`/r/${post.id}.cbor`)
    // No script at all, and the only style is the site's own stylesheet, named by its content.
    expect(page).not.toMatch(/<script|<style|<[^>]*\sstyle=|<[^>]*\son\w+=/i)
    expect(page).toContain(`<link rel="stylesheet" href="${STYLE_PATH}">`)
    expect(STYLE_PATH).toMatch(/^\/assets\/style-[\w-]{16}\.css$/)
    expect(CONTENT_SECURITY_POLICY).toContain("style-src 'self'")
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'")
  })

  it('links URLs without letting them break out of the attribute', () => {
    const out = postTextHtml(
      'see https://example.org/a?b=1&c="x"<y> (and https://en.wikipedia.org/wiki/Foo_(bar)).',
    ).value
    expect(out).toContain(
      '<a href="https://example.org/a?b=1&#38;c=" rel="nofollow ugc noopener noreferrer">',
    )
    expect(out).toContain('href="https://en.wikipedia.org/wiki/Foo_(bar)"')
    expect(out).not.toMatch(/<y>|"x"/)
    expect(postTextHtml('javascript:alert(1) http://').value).not.toContain('<a')
    for (const quoted of ['«https://example.org/b»', '“https://example.org/b”', '‘https://example.org/b’']) {
      expect(postTextHtml(quoted).value).toContain('href="https://example.org/b"')
    }
  })

  it('marks reshares and names the original author', async () => {
    const alice = await owner()
    const bob = await owner()
    const bobsProfile = bob.sign({ kind: 'profile', name: 'Bob', bio: '' })
    const original = bob.post('Bob was here') as VerifiedRecord<PostBody>
    alice.addAuthorProfile(bobsProfile as never)
    alice.sign({ kind: 'profile', name: 'Alice', bio: 'hi' })
    alice.sign({ kind: 'reshare', original })
    const page = renderHome(context(alice), alice.page({ limit: 20 }), undefined)
    expect(page).toContain('Alice reshared')
    expect(page).toContain('class="reshare"')
    expect(page).toMatch(/<p class="by">Bob <span class="id" title="[^"]+">/)
    expect(page).toContain('Bob was here')
  })

  it('paginates with an older-posts link', async () => {
    const data = await owner()
    for (let i = 0; i < 5; i++) data.post(`post ${i}`)
    const first = data.page({ limit: 2 })
    const html = renderHome(context(data), first, undefined)
    expect(html).toContain('post 4')
    expect(html).not.toContain('post 2')
    expect(html).toContain(`/?before=${encodeURIComponent(first.next as string)}`)
  })
})

describe('atom feed', () => {
  it('is well-formed XML with one entry per post and escaped text', async () => {
    const data = await owner()
    data.sign({ kind: 'profile', name: 'A & B', bio: '<bio>' })
    data.post('<script>alert("x")</script> & more')
    data.post('control \u0001 char and emoji 🎉 ]]>')
    data.post('plain')
    const records = data.page({ limit: 50 }).records
    const xml = renderAtom(context(data), 'https://capsule-a.test/', records)
    const elements = assertWellFormedXml(xml)
    expect(elements.filter((e) => e === 'entry')).toHaveLength(3)
    expect(xml).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; more')
    expect(xml).toContain('\uFFFD char')
    expect(xml).toContain(
      '<link rel="self" type="application/atom+xml" href="https://capsule-a.test/feed.atom"/>',
    )
  })

  it('escapes everything XML cannot carry raw', () => {
    expect(escapeXml('a<b>&"\'\u0000\uD800')).toBe('a&#60;b&#62;&#38;&#34;&#39;\uFFFD\uFFFD')
  })
})
