/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Characters XML 1.0 forbids: C0 controls but tab, LF, CR; lone surrogates; U+FFFE/U+FFFF. */
export const XML_INVALID =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** Escapes text for XML content and attributes, replacing characters XML cannot carry at all. */
export function escapeXml(text: string): string {
  return escapeHtml(text.replace(XML_INVALID, '\uFFFD'))
}

/** A tagged template whose pieces are already HTML. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

export type HtmlValue = Html | string | number | undefined | null | false | readonly HtmlValue[]

function render(value: HtmlValue): string {
  if (value === undefined || value === null || value === false) return ''
  if (value instanceof Html) return value.value
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

/** Builds HTML: interpolated strings are escaped, Html values and arrays of them are kept. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? ''
  for (let i = 0; i < values.length; i++) out += render(values[i] as HtmlValue) + (strings[i + 1] ?? '')
  return new Html(out)
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/g
// » ” ’ written as escapes: the CLI's bundles must be ASCII (apps/capsule/scripts/bundle.mjs).
const TRAILING_PUNCTUATION = /[.,;:!?)\]}'"\u00BB\u201D\u2019]$/

function count(text: string, char: string): number {
  return text.split(char).length - 1
}

/** Post text as HTML: escaped, with http(s) URLs made into links. Line breaks are kept by CSS. */
export function postTextHtml(text: string): Html {
  let out = ''
  let last = 0
  for (const match of text.matchAll(URL_PATTERN)) {
    let url = match[0]
    // Drop sentence punctuation after a URL, but keep a closing parenthesis that belongs to it.
    while (TRAILING_PUNCTUATION.test(url)) {
      const last = url.at(-1)
      if (last === ')' && count(url, '(') >= count(url, ')')) break
      url = url.slice(0, -1)
    }
    if (!URL.canParse(url)) continue
    const start = match.index
    out += escapeHtml(text.slice(last, start))
    out += `<a href="${escapeHtml(url)}" rel="nofollow ugc noopener noreferrer">${escapeHtml(url)}</a>`
    last = start + url.length
  }
  out += escapeHtml(text.slice(last))
  return new Html(out)
}

/** "12D3KooW…x7Qa": enough of a peer id to tell people apart at a glance. */
export function shortId(id: string): string {
  return id.length <= 16 ? id : `${id.slice(0, 8)}…${id.slice(-4)}`
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** "27 Nov 2025, 14:03 UTC": the same for every reader, since the page runs no script. */
export function humanDate(ms: number): string {
  const d = new Date(ms)
  if (Number.isNaN(d.getTime())) return 'an unknown date'
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`
}

export function isoDate(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString()
}
