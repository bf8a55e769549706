#!/usr/bin/env bash
# Runs every test of every module: installs etcd first if it is missing, then `mvn verify`.
# Extra arguments go to Maven (for example -pl discovery -am, or -Dtest=EtcdDiscoveryTest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-etcd.sh
exec mvn -B verify "$@"
