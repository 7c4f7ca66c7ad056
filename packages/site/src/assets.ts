import { createHash } from 'node:crypto'

/**
 * The one stylesheet, served at {@link STYLE_PATH}: a file of its own rather than inlined, so a
 * browser fetches it once for all pages (a fifth of the home page's bytes were this).
 */
export const STYLE = `
:root{color-scheme:light dark;--bg:#fbfaf7;--fg:#1d1c1a;--muted:#6b665e;--line:#e6e1d8;--accent:#b4411c;--card:#fff;--chip:#f1ece3}
@media (prefers-color-scheme:dark){:root{--bg:#141311;--fg:#ece7df;--muted:#a39d92;--line:#2e2b27;--accent:#f08a5d;--card:#1b1a17;--chip:#26231f}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:17px/1.6 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",Ubuntu,Cantarell,sans-serif;font-kerning:normal}
main,header.site,footer{max-width:40rem;margin:0 auto;padding:0 1.25rem}
header.site,footer{background:linear-gradient(var(--line),var(--line)) no-repeat}
header.site{padding-top:2.75rem;padding-bottom:1.5rem;background-position:bottom center;background-size:calc(100% - 2.5rem) 1px}
.brand{font-size:.8rem;letter-spacing:.08em;text-transform:uppercase;color:var(--muted);margin:0 0 .75rem}
.brand a{color:inherit;text-decoration:none}
h1{font-size:clamp(1.7rem,5vw,2.2rem);line-height:1.15;margin:0 0 .4rem;letter-spacing:-.01em;overflow-wrap:anywhere}
h1 a{color:inherit;text-decoration:none}
.bio{margin:.25rem 0 .9rem;white-space:pre-wrap;overflow-wrap:anywhere}
.meta{display:flex;flex-wrap:wrap;gap:.4rem .6rem;margin:0;padding:0;list-style:none;font-size:.85rem;color:var(--muted)}
.meta li{background:var(--chip);border-radius:999px;padding:.15rem .7rem;max-width:100%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.meta a{color:inherit}
code,.id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
main{padding-top:.5rem;padding-bottom:2rem}
article{padding:1.25rem 0;border-bottom:1px solid var(--line)}
article:last-of-type{border-bottom:0}
.text{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;font-size:1.05rem}
.permalink .text{font-size:1.3rem;line-height:1.5}
.when{display:block;margin-top:.5rem;font-size:.85rem;color:var(--muted)}
.when a{color:inherit;text-decoration:none}
.when a:hover,.when a:focus{text-decoration:underline}
a{color:var(--accent);text-underline-offset:.15em}
.reshare-label{display:flex;align-items:center;gap:.35rem;margin:0 0 .5rem;font-size:.85rem;color:var(--muted)}
.reshare-label svg{width:1em;height:1em;flex:none}
blockquote.original{margin:0;padding:.85rem 1rem;border:1px solid var(--line);border-radius:.75rem;background:var(--card)}
.by{margin:0 0 .35rem;font-size:.9rem;font-weight:600;overflow-wrap:anywhere}
.by .id{font-weight:400;color:var(--muted)}
.empty{color:var(--muted);padding:2rem 0}
nav.pages{display:flex;justify-content:space-between;padding:1rem 0 0}
nav.pages a{font-weight:600;text-decoration:none}
.download{margin-top:1.25rem;font-size:.85rem;color:var(--muted)}
.download dt{font-weight:600;color:var(--fg)}
.download dd{margin:0 0 .6rem;overflow-wrap:anywhere}
footer{padding-top:1.25rem;padding-bottom:3rem;background-position:top center;background-size:calc(100% - 2.5rem) 1px;font-size:.8rem;color:var(--muted)}
footer a{color:inherit}
@media (max-width:30rem){body{font-size:16px}header.site{padding-top:1.75rem}}
`.trim()

/** Named by its content, so it can be cached for good: a new stylesheet gets a new name. */
export const STYLE_PATH = `/assets/style-${createHash('sha256').update(STYLE).digest('base64url').slice(0, 16)}.css`

/** A small capsule shape; served as /favicon.svg (and for /favicon.ico requests). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect x="4" y="9" width="24" height="14" rx="7" fill="#b4411c"/><path d="M16 9h5a7 7 0 0 1 0 14h-5z" fill="#f4c7b3"/></svg>`

export const RESHARE_ICON = `<svg viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M17 2l4 4-4 4"/><path d="M3 11V9a3 3 0 0 1 3-3h15"/><path d="M7 22l-4-4 4-4"/><path d="M21 13v2a3 3 0 0 1-3 3H3"/></svg>`

/**
 * No script anywhere; styles and images only from this site (which serves no stylesheet but its
 * own: everything else it sends is escaped HTML, JSON, Atom or CBOR, with `nosniff`).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')
