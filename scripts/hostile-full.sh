#!/usr/bin/env bash
# The long forms of the hostile-condition tests (issue 6): 5,000-post crash burst, 8,000-record
# backfill crash, a 20,000-record flood with 500 abusive sync requests, 30 posts per node during
# a partition, and more fuzz runs. CI runs the short forms in `npm test`.
#   bash scripts/hostile-full.sh            # all of them
#   bash scripts/hostile-full.sh crash      # one file (vitest filter)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export CAPSULE_HOSTILE_FULL=1
# fast-check reads no env var itself: the fuzz files run more cases in a loop below.
npm run build >/dev/null
files=(e2e/crash.test.ts e2e/hostile-peer.test.ts e2e/partition.test.ts e2e/disk.test.ts)
if [[ $# -gt 0 ]]; then files=("$@"); fi
vitest run --project e2e "${files[@]}"
for run in 1 2 3 4 5; do
  echo "fuzz round $run"
  vitest run --project unit packages/mesh/src/sync-protocol.fuzz.test.ts \
    packages/socket-api/src/socket-server.fuzz.test.ts packages/site/src/site-client.fuzz.test.ts \
    packages/core/src/record-properties.test.ts
done
