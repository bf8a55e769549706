#!/usr/bin/env bash
# Installs etcd (Debian's etcd-server and etcd-client, 3.4.x) when it is missing. Idempotent; needs root or sudo.
# The tests start their own etcd processes on free loopback ports: nothing is started here, and the Debian
# service that the package may enable is stopped so it does not hold port 2379.
set -euo pipefail

if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then
  echo "etcd present: $(etcd --version 2>/dev/null | head -1)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "installing etcd-server and etcd-client from Debian's packages..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server etcd-client >/dev/null
# Debian enables a system etcd on 2379; the project never uses it.
($SUDO systemctl stop etcd 2>/dev/null || $SUDO service etcd stop 2>/dev/null || true) >/dev/null 2>&1
echo "etcd installed: $(etcd --version | head -1)"
