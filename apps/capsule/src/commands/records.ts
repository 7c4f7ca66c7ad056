import type { RecordJson } from '@capsule/core'
import type { Command } from 'commander'
import { clientOf, parseLimit, UsageError } from '../cli-context.js'
import { formatRecord, printJson, shortId } from '../output.js'

interface Created {
  id: string
  record: RecordJson
}

interface FeedResponse {
  records: RecordJson[]
  next?: string
}

/** A line of `GET /v1/tail`: a record newly stored, where from, and when (ms since the epoch). */
interface TailItem {
  origin: string
  receivedAt: number
  record: RecordJson
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function printCreated(created: Created, json: boolean | undefined): void {
  if (json) printJson({ id: created.id })
  else process.stdout.write(`${created.id}\n`)
}

export function registerRecords(program: Command): void {
  program
    .command('post')
    .description('sign and publish a post; the text comes from the arguments or from stdin')
    .argument('[text...]', 'the post text (quote it, or pipe it in)')
    .option('--json', 'print { id }')
    .action(async (words: string[], options: { json?: boolean }, command: Command) => {
      // A piped text ends with the newline of its last line, which is not part of the post.
      const text =
        words.length > 0
          ? words.join(' ')
          : process.stdin.isTTY
            ? ''
            : (await readStdin()).replace(/\n+$/, '')
      if (text.trim() === '')
        throw new UsageError('nothing to post: give the text as an argument or on stdin')
      printCreated(await clientOf(command).request<Created>('/v1/posts', { body: { text } }), options.json)
    })

  program
    .command('reshare <id>')
    .description('reshare a post: your followers receive it, signed by its author, marked as reshared by you')
    .option('--json', 'print { id }')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      printCreated(await clientOf(command).request<Created>('/v1/reshares', { body: { id } }), options.json)
    })

  program
    .command('delete <id>')
    .description('delete one of your records: a signed delete travels to every node that holds it')
    .option('--json', 'print { id } of the delete record')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const path = `/v1/records/${encodeURIComponent(id)}`
      printCreated(await clientOf(command).request<Created>(path, { method: 'DELETE' }), options.json)
    })

  program
    .command('feed')
    .description('newest first: your posts, the posts of those you follow, and reshares')
    .option('--limit <n>', 'how many records', parseLimit, 20)
    .option('--before <cursor>', 'continue after the page that printed this cursor')
    .option('--json', 'print { records, next }')
    .action(async (options: { limit: number; before?: string; json?: boolean }, command: Command) => {
      const query = new URLSearchParams({ limit: String(options.limit) })
      if (options.before) query.set('before', options.before)
      const page = await clientOf(command).request<FeedResponse>(`/v1/feed?${query}`)
      if (options.json) return printJson(page)
      if (page.records.length === 0)
        process.stdout.write('(nothing yet: post something, or follow someone)\n')
      for (const record of page.records) process.stdout.write(`${formatRecord(record)}\n\n`)
      if (page.next) process.stdout.write(`more: capsule feed --before ${page.next}\n`)
    })

  program
    .command('tail')
    .description('print records as they arrive, from you and from the mesh, until interrupted')
    .option('--json', 'print one JSON object per line')
    .action(async (options: { json?: boolean }, command: Command) => {
      const controller = new AbortController()
      const stop = () => controller.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      const stream = clientOf(command).stream<TailItem>('/v1/tail', {
        signal: controller.signal,
        onOpen: () => process.stderr.write('(tailing: records appear as they arrive; Ctrl-C stops)\n'),
      })
      for await (const item of stream) {
        const { origin, record } = item
        if (options.json) process.stdout.write(`${JSON.stringify(item)}\n`)
        else
          process.stdout.write(
            `[${origin}] ${record.kind} by ${shortId(record.author)}\n${formatRecord(record)}\n\n`,
          )
      }
    })

  program
    .command('profile')
    .description('show your profile, or change it with the options (signed and published)')
    .option('--name <name>', 'display name')
    .option('--bio <text>', 'a few words about you')
    .option('--site <url>', 'your site, an https:// URL')
    .option('--json', 'print JSON')
    .action(
      async (options: { name?: string; bio?: string; site?: string; json?: boolean }, command: Command) => {
        const client = clientOf(command)
        const { json, ...update } = options
        if (Object.keys(update).length > 0)
          return printCreated(await client.request<Created>('/v1/profile', { body: update }), json)
        const { profile } = await client.request<{ profile?: RecordJson }>('/v1/profile')
        if (json) return printJson({ profile })
        process.stdout.write(
          profile ? `${formatRecord(profile)}\n` : '(no profile yet: capsule profile --name "…")\n',
        )
      },
    )
}
