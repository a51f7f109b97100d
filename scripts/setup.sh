#!/usr/bin/env bash
# scripts/setup.sh — install the Debian packages colony needs to build and test.
#
# Called by `make run` and `make test` (and so by .ci/run). Idempotent: it asks dpkg
# which packages are missing and only then runs apt-get, so a warm machine pays ~50 ms.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libsodium-dev
  libcurl4-openssl-dev libyaml-dev libpq-dev libcmocka-dev
  sqlite3 curl postgresql wrk
  tzdata python3 python3-croniter python3-tz python3-dateutil
)
# tzdata: the IANA zones the cron engine reads (/usr/share/zoneinfo).
# python3-croniter (+ tz, dateutil): the reference the cron oracle test compares against
# (tests/cron/oracle.py, run with Debian's /usr/bin/python3).

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
