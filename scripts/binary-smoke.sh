#!/usr/bin/env bash
# Smoke test of the single executable, alone: copies dist/capsule into an empty folder and runs it
# with an empty environment whose PATH holds no Node (so neither node_modules nor a system Node can
# help it): version, init, up, post, feed, two nodes gossiping, two copies racing on an empty addon
# cache, the code cache kept and used, and NODE_OPTIONS ignored. Prints PASS/FAIL lines; exits 1
# if anything failed.
# Usage: bash scripts/binary-smoke.sh [path/to/capsule]   (default dist/capsule)
set -uo pipefail

cd "$(dirname "$0")/.."
source_binary=${1:-dist/capsule}
if [ ! -x "$source_binary" ]; then
  echo "FAIL: $source_binary is missing: build it with npm run build:binary" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/capsule-smoke.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run_dir="$work/run"      # holds the executable and nothing else
empty_bin="$work/empty-bin" # the whole PATH: no node anywhere
mkdir -p "$run_dir" "$empty_bin" "$work/home"
cp "$source_binary" "$run_dir/capsule"
LISTEN=(--listen /ip4/127.0.0.1/tcp/0 --private-network)
failures=0

pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# Runs the executable from its folder with nothing in its environment but PATH and HOME (and any
# VAR=value words before ./capsule). `env` execs it, so a background job's $! is its own pid.
RUN=(env -i -C "$run_dir" PATH="$empty_bin" HOME="$work/home")

# Waits (bounded) until a file has a line matching a pattern; stops early if the process died.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3 seconds=$4
  local deadline=$((SECONDS + seconds))
  until grep -q -- "$pattern" "$file" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.05
  done
}

# Starts `capsule up` in the background for a home; sets $started_pid. Log: $work/<name>.log
start_node() {
  local name=$1
  shift
  "${RUN[@]}" ./capsule --home "$work/$name" up "${LISTEN[@]}" "$@" >"$work/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
}

# SIGTERM, then waits (bounded) for the process to exit; 0 if it exited by itself.
stop_node() {
  local pid=$1 deadline=$((SECONDS + 15))
  kill -TERM "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      return 1
    fi
    sleep 0.05
  done
  wait "$pid" 2>/dev/null
  return 0
}

first_multiaddr() { "${RUN[@]}" ./capsule --home "$work/$1" id --json | grep -o '/ip4/127\.0\.0\.1/tcp/[0-9]*/p2p/[1-9A-HJ-NP-Za-km-z]*' | head -n 1; }
peer_id() { "${RUN[@]}" ./capsule --home "$work/$1" id --json | grep -o '"peerId": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'; }

echo "binary-smoke: $(stat -c %s "$source_binary") bytes, run from $run_dir with PATH=$empty_bin"

# 0. No Node reachable: the executable must carry its own runtime.
if env -i PATH="$empty_bin" /bin/sh -c 'command -v node' >/dev/null 2>&1; then
  fail "a node is reachable through PATH=$empty_bin"
else
  pass "no node in PATH"
fi

# 1. --version names the version and the commit.
version=$("${RUN[@]}" ./capsule --version 2>&1)
if [[ $version =~ ^capsule\ [0-9]+\.[0-9]+\.[0-9]+[^\ ]*\ \(([0-9a-f]{7,}(-dirty)?|unknown)\)$ ]]; then
  head=$(git rev-parse --short HEAD 2>/dev/null || true)
  if [[ -n $head && $version != *"($head"* ]]; then
    echo "  (note: built from ${BASH_REMATCH[1]}, the checkout is at $head)"
  fi
  pass "--version prints version and commit: $version"
else
  fail "--version printed: $version"
fi

# 2. NODE_OPTIONS cannot inject code (execArgvExtension "none").
cat >"$work/evil.js" <<EOF
require('node:fs').writeFileSync('$work/evil-ran', 'injected')
process.stdout.write('INJECTED\n')
EOF
# Control: the same environment does inject code into a plain Node, so the check below means something.
if [ -x node_modules/node/bin/node ]; then
  env -i PATH="$empty_bin" NODE_OPTIONS="--require=$work/evil.js" node_modules/node/bin/node -e 0 >/dev/null 2>&1
  if [ -e "$work/evil-ran" ]; then rm "$work/evil-ran"; else fail "control: NODE_OPTIONS did not inject into plain Node"; fi
fi
evil_out=$("${RUN[@]}" NODE_OPTIONS="--require=$work/evil.js" ./capsule --version 2>&1)
if [[ ! -e $work/evil-ran && $evil_out != *INJECTED* && $evil_out == capsule* ]]; then
  pass "NODE_OPTIONS=--require=… is ignored"
else
  fail "NODE_OPTIONS injected code or broke the executable: $evil_out"
fi

# 3. init, then up, post and feed on one node.
if out=$("${RUN[@]}" ./capsule --home "$work/a" init --name Alice 2>&1); then
  pass "init: $out"
else
  fail "init: $out"
fi
start_node a
pid_a=$started_pid
if wait_for_line "$work/a.log" ' ready ' "$pid_a" 30; then
  pass "up: listening ($(grep -o 'multiaddrs=.*' "$work/a.log" | head -c 120))"
else
  fail "up did not log ready: $(cat "$work/a.log")"
fi
post_id=$("${RUN[@]}" ./capsule --home "$work/a" post "hello from the single executable" 2>&1)
if [[ $post_id =~ ^[a-z0-9]{20,}$ ]]; then pass "post: $post_id"; else fail "post: $post_id"; fi
feed=$("${RUN[@]}" ./capsule --home "$work/a" feed --json 2>&1)
if [[ $feed == *"hello from the single executable"* ]]; then
  pass "feed has the post"
else
  fail "feed: $feed"
fi

# 4. Two nodes: B joins A, follows A, A posts, B's feed has it within 10 s.
join_a=$(first_multiaddr a)
author_a=$(peer_id a)
start_node b --join "$join_a"
pid_b=$started_pid
if wait_for_line "$work/b.log" ' ready ' "$pid_b" 30; then
  pass "second node up, joined $join_a"
else
  fail "second node did not start: $(cat "$work/b.log")"
fi
if out=$("${RUN[@]}" ./capsule --home "$work/b" follow "$author_a" 2>&1); then
  pass "follow: B follows $author_a"
else
  fail "follow: $out"
fi
gossiped=$("${RUN[@]}" ./capsule --home "$work/a" post "gossip through the mesh" 2>&1)
deadline=$((SECONDS + 10))
until "${RUN[@]}" ./capsule --home "$work/b" feed --json 2>/dev/null | grep -q "$gossiped"; do
  if ((SECONDS >= deadline)); then break; fi
  sleep 0.1
done
if "${RUN[@]}" ./capsule --home "$work/b" feed --json 2>/dev/null | grep -q "\"text\": *\"gossip through the mesh\""; then
  pass "the follower's feed has A's post $gossiped"
else
  fail "B's feed never had A's post $gossiped: $(tail -n 5 "$work/b.log")"
fi
# B checked A's signatures with the libsodium packed in the executable, written to its cache.
sodium=$(ls -A "$work/home/.cache/capsule" 2>/dev/null | grep '^sodium-native-')
if [[ $sodium =~ ^sodium-native-[0-9a-f]{64}\.node$ &&
  $(sha256sum <"$work/home/.cache/capsule/$sodium" | cut -d' ' -f1) == "${sodium:14:64}" ]]; then
  pass "signatures were checked with the packed libsodium, cached as $sodium"
else
  fail "no libsodium addon in the cache: [$(ls -A "$work/home/.cache/capsule" 2>/dev/null)]"
fi
stop_node "$pid_b"
if stop_node "$pid_a" && grep -q ' stopped' "$work/a.log"; then pass "SIGTERM stops the node cleanly"; else fail "no clean stop: $(tail -n 3 "$work/a.log")"; fi

# 5. Two copies started at the same moment on an empty addon cache both start.
race_cache="$work/race-cache"
"${RUN[@]}" XDG_CACHE_HOME="$race_cache" ./capsule --home "$work/r1" up "${LISTEN[@]}" >"$work/r1.log" 2>&1 &
pid_r1=$!
"${RUN[@]}" XDG_CACHE_HOME="$race_cache" ./capsule --home "$work/r2" up "${LISTEN[@]}" >"$work/r2.log" 2>&1 &
pid_r2=$!
pids+=("$pid_r1" "$pid_r2")
ready=0
wait_for_line "$work/r1.log" ' ready ' "$pid_r1" 30 && ready=$((ready + 1))
wait_for_line "$work/r2.log" ' ready ' "$pid_r2" 30 && ready=$((ready + 1))
cached=$(ls -A "$race_cache/capsule" 2>/dev/null | grep -v '^code-')
if [[ $ready -eq 2 && $cached =~ ^better_sqlite3-[0-9a-f]{64}\.node$ &&
  $(sha256sum <"$race_cache/capsule/$cached" | cut -d' ' -f1) == "${cached:15:64}" ]]; then
  # The name is the hash the build took; the bytes written must have it.
  pass "two copies racing on an empty cache both started; cache holds $cached"
else
  fail "race on an empty cache: $ready of 2 ready; cache: [$cached]; logs: $(cat "$work/r1.log" "$work/r2.log")"
fi
stop_node "$pid_r1"
stop_node "$pid_r2"

# 6. The executable keeps the code a start compiled, and the next start runs from it: a cache
#    used is not written again (a rejected or missing one would be, once the node is ready).
code_cache=$(ls "$race_cache/capsule"/code-* 2>/dev/null)
if [[ -s $code_cache ]]; then
  before=$(stat -c %i "$code_cache")
  "${RUN[@]}" XDG_CACHE_HOME="$race_cache" ./capsule --home "$work/r1" up "${LISTEN[@]}" >"$work/r3.log" 2>&1 &
  pid_r3=$!
  pids+=("$pid_r3")
  if wait_for_line "$work/r3.log" ' ready ' "$pid_r3" 30 && stop_node "$pid_r3" &&
    [[ $(stat -c %i "$code_cache") == "$before" ]]; then
    pass "the compiled code is kept ($(stat -c %s "$code_cache") bytes) and the next start runs from it"
  else
    fail "the code cache was not used: $(tail -n 3 "$work/r3.log")"
  fi
else
  fail "no code cache after a start: $(ls -A "$race_cache/capsule")"
fi

# 7. A damaged cache file is noticed and rewritten.
if [[ -n $cached ]]; then
  printf 'damaged' >"$race_cache/capsule/$cached"
  if out=$("${RUN[@]}" XDG_CACHE_HOME="$race_cache" ./capsule --home "$work/r1" status 2>&1) &&
    [[ $(sha256sum <"$race_cache/capsule/$cached" | cut -d' ' -f1) == "${cached:15:64}" ]]; then
    pass "a damaged cache file is rewritten before use"
  else
    fail "damaged cache file: $out"
  fi
fi

if ((failures > 0)); then
  echo "binary-smoke: $failures check(s) FAILED"
  exit 1
fi
echo "binary-smoke: all checks passed"
