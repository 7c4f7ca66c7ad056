#!/usr/bin/env bash
# Installs the real servers and tools the tests use, from Debian's packages, when they are missing:
# pebble (ACME server), chromium (pages), sqlite3 (opens the database in tests), curl, openssl,
# strace (counts the store's disk flushes).
set -euo pipefail

missing=()
command -v pebble >/dev/null || [ -x /usr/bin/pebble ] || missing+=(pebble)
command -v chromium >/dev/null || missing+=(chromium)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
command -v strace >/dev/null || missing+=(strace)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
