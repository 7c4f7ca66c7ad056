import type { VerifiedRecord } from '@capsule/core'
import { isoDate, shortId, escapeXml as x } from './html.js'
import type { PageContext } from './pages.js'
import { permalinkPath } from './pages.js'

function entryTitle(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  const chars = [...flat]
  return chars.length <= 80 ? flat : `${chars.slice(0, 79).join('')}…`
}

/**
 * An Atom 1.0 feed (RFC 4287) of the owner's newest posts and reshares. Text goes in as
 * `type="text"`, so readers never interpret it as markup.
 */
export function renderAtom(ctx: PageContext, siteUrl: string, records: readonly VerifiedRecord[]): string {
  const base = siteUrl.replace(/\/+$/, '')
  const name = ctx.profile?.body.name.trim() || shortId(ctx.ownerId)
  const updated = records[0]?.body.ts ?? ctx.profile?.body.ts ?? 0
  const entries = records.map((record) => {
    const { body } = record
    let text: string
    let title: string
    if (body.kind === 'post') {
      text = body.text
      title = entryTitle(body.text)
    } else if (body.kind === 'reshare') {
      const by =
        ctx.authorProfile?.(body.original.body.author)?.body.name.trim() || shortId(body.original.body.author)
      text = `Reshared from ${by} (${body.original.body.author}):\n\n${body.original.body.text}`
      title = `Reshared from ${by}: ${entryTitle(body.original.body.text)}`
    } else {
      return ''
    }
    const link = `${base}${permalinkPath(record.id)}`
    return `  <entry>
    <id>${x(link)}</id>
    <title type="text">${x(title)}</title>
    <link rel="alternate" type="text/html" href="${x(link)}"/>
    <link rel="related" type="application/cbor" href="${x(`${link}.cbor`)}"/>
    <published>${isoDate(body.ts)}</published>
    <updated>${isoDate(body.ts)}</updated>
    <content type="text">${x(text)}</content>
  </entry>
`
  })
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>${x(`${base}/`)}</id>
  <title type="text">${x(name)}</title>
${ctx.profile?.body.bio.trim() ? `  <subtitle type="text">${x(ctx.profile.body.bio.trim())}</subtitle>\n` : ''}  <updated>${isoDate(updated)}</updated>
  <author><name>${x(name)}</name><uri>${x(`${base}/`)}</uri></author>
  <link rel="self" type="application/atom+xml" href="${x(`${base}/feed.atom`)}"/>
  <link rel="alternate" type="text/html" href="${x(`${base}/`)}"/>
  <generator>Capsule</generator>
${entries.join('')}</feed>
`
}
