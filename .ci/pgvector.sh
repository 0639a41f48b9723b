#!/usr/bin/env bash
# Install pgvector (knowledge bases in PostgreSQL) for the local PostgreSQL server, if it is missing:
# Debian/Ubuntu's package for the server's major version. unyo itself runs
# `CREATE EXTENSION IF NOT EXISTS vector` in its database.
set -euo pipefail

major="${1:-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n1)}"
if [ -z "$major" ]; then
  echo "pgvector.sh: no PostgreSQL server found under /etc/postgresql (give its major version: $0 15)" >&2
  exit 1
fi
if [ -f "/usr/share/postgresql/$major/extension/vector.control" ]; then
  echo "pgvector is installed for PostgreSQL $major"
  exit 0
fi
sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_="sudo"
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "postgresql-$major-pgvector"
echo "pgvector installed for PostgreSQL $major"
