import type { Logger } from '@capsule/socket-api'

export type { Logger }

function formatFields(fields: Record<string, unknown> | undefined): string {
  if (fields === undefined) return ''
  return Object.entries(fields)
    .map(([key, value]) => ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join('')
}

/** One line per event on stdout: time, level, component, message, key=value fields. */
export function createLogger(
  component: string,
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger & {
  child(name: string): Logger
} {
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    write(`${new Date().toISOString()} ${level} ${component}: ${message}${formatFields(fields)}\n`)
  return {
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (name) => createLogger(`${component}/${name}`, write),
  }
}
