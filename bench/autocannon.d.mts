// The part of autocannon 8 that bench/site.mts uses (the package ships no types).
declare module 'autocannon' {
  interface Histogram {
    average: number
    p50: number
    p99: number
  }
  interface Result {
    requests: Histogram
    latency: Histogram
    throughput: Histogram
    errors: number
    non2xx: number
  }
  function autocannon(options: { url: string; connections?: number; duration?: number }): Promise<Result>
  export default autocannon
}
