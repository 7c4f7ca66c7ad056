import type { PostBody, ProfileBody, VerifiedRecord } from '@capsule/core'
import { RESHARE_ICON, STYLE_PATH } from './assets.js'
import { Html, html, humanDate, isoDate, postTextHtml, shortId } from './html.js'
import type { SitePage } from './interfaces.js'

/** What every page needs to know about the site and its owner. */
export interface PageContext {
  ownerId: string
  profile: VerifiedRecord<ProfileBody> | undefined
  /** The domain people use to follow, when there is one. */
  domain: string | undefined
  authorProfile?: (author: string) => VerifiedRecord<ProfileBody> | undefined
}

const reshareIcon = new Html(RESHARE_ICON)

function ownerName(ctx: PageContext): string {
  const name = ctx.profile?.body.name.trim()
  return name ? name : shortId(ctx.ownerId)
}

function authorName(ctx: PageContext, author: string): string | undefined {
  if (author === ctx.ownerId) return ctx.profile?.body.name.trim() || undefined
  return ctx.authorProfile?.(author)?.body.name.trim() || undefined
}

export function permalinkPath(id: string): string {
  return `/r/${encodeURIComponent(id)}`
}

function layout(ctx: PageContext, title: string, description: string, main: Html): string {
  const followLine = ctx.domain
    ? html`Follow from your own node: <code>capsule follow ${ctx.domain}</code>`
    : html`Follow from your own node: <code>capsule follow ${ctx.ownerId}</code>`
  return `<!doctype html>${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<meta name="description" content="${description}">
<link rel="alternate" type="application/atom+xml" title="${ownerName(ctx)}" href="/feed.atom">
<link rel="icon" type="image/svg+xml" href="/favicon.svg">
<link rel="stylesheet" href="${STYLE_PATH}">
</head>
<body>
${header(ctx)}
<main>
${main}
</main>
<footer>
<p>${followLine}. Every post is signed by <span class="id" title="${ctx.ownerId}">${shortId(ctx.ownerId)}</span>; its permalink carries the signed record.</p>
<p><a href="/feed.atom">Atom feed</a> &middot; <a href="/.well-known/capsule">Mesh address</a> &middot; Served by Capsule</p>
</footer>
</body>
</html>`}\n`
}

function header(ctx: PageContext): Html {
  const bio = ctx.profile?.body.bio.trim()
  return html`<header class="site">
<p class="brand"><a href="/">Capsule</a></p>
<h1><a href="/">${ownerName(ctx)}</a></h1>
${bio ? html`<p class="bio">${postTextHtml(bio)}</p>` : ''}
<ul class="meta">
<li title="${ctx.ownerId}">Peer <span class="id">${shortId(ctx.ownerId)}</span></li>
${ctx.domain ? html`<li>${ctx.domain}</li>` : ''}
<li><a href="/feed.atom">Atom feed</a></li>
</ul>
</header>`
}

function postContent(post: VerifiedRecord<PostBody>): Html {
  return html`<p class="text">${postTextHtml(post.body.text)}</p>`
}

function when(ms: number, href: string | undefined, prefix = ''): Html {
  const time = html`<time datetime="${isoDate(ms)}">${prefix}${humanDate(ms)}</time>`
  return href
    ? html`<span class="when"><a href="${href}">${time}</a></span>`
    : html`<span class="when">${time}</span>`
}

/** One record as an article; `link` makes its time a permalink. */
export function recordArticle(ctx: PageContext, record: VerifiedRecord, link: boolean): Html {
  const href = link ? permalinkPath(record.id) : undefined
  const { body } = record
  switch (body.kind) {
    case 'post':
      return html`<article id="${record.id}" class="post">
${postContent(record as VerifiedRecord<PostBody>)}
${when(body.ts, href)}
</article>`
    case 'reshare': {
      const original = body.original
      const name = authorName(ctx, original.body.author)
      return html`<article id="${record.id}" class="reshare">
<p class="reshare-label">${reshareIcon}<span>${ownerName(ctx)} reshared</span></p>
<blockquote class="original" cite="urn:capsule:${original.id}">
<p class="by">${name ?? ''} <span class="id" title="${original.body.author}">${shortId(original.body.author)}</span></p>
${postContent(original)}
${when(original.body.ts, undefined)}
</blockquote>
${when(body.ts, href, 'Reshared ')}
</article>`
    }
    case 'profile':
      return html`<article id="${record.id}" class="profile">
<p class="text">Profile: ${body.name}${body.bio ? html` &mdash; ${body.bio}` : ''}</p>
${when(body.ts, href, 'Updated ')}
</article>`
    case 'delete':
      return html`<article id="${record.id}" class="delete">
<p class="text">Deleted the record <span class="id">${body.target}</span>.</p>
${when(body.ts, href)}
</article>`
  }
}

export function renderHome(ctx: PageContext, page: SitePage, before: string | undefined): string {
  const articles = page.records.map((record) => recordArticle(ctx, record, true))
  const nav =
    before !== undefined || page.next !== undefined
      ? html`<nav class="pages" aria-label="Pages">
${before !== undefined ? html`<a href="/">&larr; Newest</a>` : html`<span></span>`}
${page.next !== undefined ? html`<a href="/?before=${encodeURIComponent(page.next)}" rel="next">Older posts &rarr;</a>` : ''}
</nav>`
      : ''
  const main = html`${articles.length > 0 ? articles : html`<p class="empty">Nothing posted yet.</p>`}
${nav}`
  const name = ownerName(ctx)
  const description =
    ctx.profile?.body.bio.trim() || `Posts by ${name}, signed and served by their Capsule node.`
  return layout(ctx, before === undefined ? name : `${name}: older posts`, description, main)
}

function describeRecord(record: VerifiedRecord): string {
  const { body } = record
  switch (body.kind) {
    case 'post':
      return body.text
    case 'reshare':
      return body.original.body.text
    case 'profile':
      return `${body.name}: ${body.bio}`
    case 'delete':
      return `Deleted ${body.target}`
  }
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  const chars = [...flat]
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join('')}…`
}

export function renderRecord(ctx: PageContext, record: VerifiedRecord): string {
  const main = html`<div class="permalink">
${recordArticle(ctx, record, false)}
</div>
<dl class="download">
<dt>Signed record</dt>
<dd><a href="${permalinkPath(record.id)}.cbor" type="application/cbor" download="${record.id}.cbor">Download (${record.bytes.length} bytes, DAG-CBOR)</a></dd>
<dt>Record id</dt>
<dd class="id">${record.id}</dd>
<dt>Author and sequence</dt>
<dd><span class="id">${record.body.author}</span> &middot; #${record.body.seq}</dd>
</dl>
<nav class="pages" aria-label="Pages"><a href="/">&larr; All posts</a><span></span></nav>`
  const text = describeRecord(record)
  return layout(ctx, `${ownerName(ctx)}: “${clip(text, 60)}”`, clip(text, 200), main)
}

export function renderNotFound(ctx: PageContext, what: string): string {
  return layout(
    ctx,
    'Not found',
    what,
    html`<p class="empty">${what}</p><nav class="pages" aria-label="Pages"><a href="/">&larr; All posts</a><span></span></nav>`,
  )
}
