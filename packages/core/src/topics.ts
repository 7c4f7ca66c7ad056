import { authorPublicKey } from './authors.js'

const TOPIC_PREFIX = '/capsule/1/author/'

/** The gossipsub topic on which an author's records travel. */
export function authorTopic(author: string): string {
  return TOPIC_PREFIX + author
}

/** The author a topic belongs to, or undefined for a topic that is not an author topic. */
export function topicAuthor(topic: string): string | undefined {
  if (!topic.startsWith(TOPIC_PREFIX)) return undefined
  const author = topic.slice(TOPIC_PREFIX.length)
  try {
    authorPublicKey(author)
    return author
  } catch {
    return undefined
  }
}
