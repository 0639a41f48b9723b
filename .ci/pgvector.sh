#!/usr/bin/env bash
# Make the pgvector extension available to the local PostgreSQL (the knowledge base's PostgreSQL
# backend uses it). Debian's package first (postgresql-<major>-pgvector); where the suite lacks it
# (bookworm does), build Debian's own source of pgvector 0.8.0 (checksum pinned) against this
# server's headers. Idempotent: does nothing when the extension is already installed.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n1)}
[ -x "${PG_CONFIG:-}" ] || { echo "pgvector: no PostgreSQL server found" >&2; exit 1; }
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
if [ -f "$("$PG_CONFIG" --sharedir)/extension/vector.control" ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
if apt-get install -y -qq "postgresql-${major}-pgvector" 2>/dev/null; then
  exit 0
fi
apt-get install -y -qq "postgresql-server-dev-${major}" make gcc curl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=pgvector_0.8.0.orig.tar.gz
sha=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
curl -fsS -m 120 -o "$work/$tarball" "http://deb.debian.org/debian/pool/main/p/pgvector/$tarball"
echo "$sha  $work/$tarball" | sha256sum -c --quiet -
tar -xzf "$work/$tarball" -C "$work"
make -C "$work/pgvector-0.8.0" -s -j2 PG_CONFIG="$PG_CONFIG" OPTFLAGS="" with_llvm=no
make -C "$work/pgvector-0.8.0" -s install PG_CONFIG="$PG_CONFIG" with_llvm=no
echo "pgvector: built 0.8.0 from Debian's source for PostgreSQL ${major}"
