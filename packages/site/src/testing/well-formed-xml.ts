import { XML_INVALID } from '../html.js'

/**
 * A strict XML well-formedness check for tests (no XML parser is installed; the browser test also
 * parses the feed with Chromium's DOMParser): one root, balanced tags, quoted attributes, no raw < or
 * stray &, only XML 1.0 characters. Returns the element names in document order.
 */
export function assertWellFormedXml(xml: string): string[] {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '')
  if (new RegExp(XML_INVALID.source).test(body)) throw new Error('invalid XML character')
  const stack: string[] = []
  const seen: string[] = []
  let roots = 0
  const token =
    /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+)|(<)/gy
  let position = 0
  token.lastIndex = 0
  while (position < body.length) {
    const match = token.exec(body)
    if (match === null) break
    position = token.lastIndex
    const [, closing, name, attributes, selfClosing, text, strayLt] = match
    if (strayLt) throw new Error(`stray < at ${match.index}: ${body.slice(match.index, match.index + 40)}`)
    if (text !== undefined) {
      if (stack.length === 0 && text.trim() !== '') throw new Error('text outside the root element')
      if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text))
        throw new Error(`stray & in ${text.slice(0, 40)}`)
      continue
    }
    if (attributes && /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(attributes))
      throw new Error('stray & in attribute')
    if (closing) {
      if (stack.pop() !== name) throw new Error(`unbalanced </${name}>`)
      continue
    }
    if (stack.length === 0) roots++
    seen.push(name as string)
    if (!selfClosing) stack.push(name as string)
  }
  if (position !== body.length) throw new Error(`cannot read XML at ${position}`)
  if (stack.length !== 0) throw new Error(`unclosed <${stack.at(-1)}>`)
  if (roots !== 1) throw new Error(`${roots} root elements`)
  return seen
}
