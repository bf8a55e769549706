#!/usr/bin/env bash
# Time to the first successful call of the test application (agent-testapp, grpc-java latest), without the agent,
# with the agent on an untouched channel, and with the agent on a mapped channel; alternating, N rounds (default 10).
# Prints each round and the medians. Starts its own etcd (port 23790) and echo server; builds first if needed.
#   scripts/agent-first-call.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-10}"
[ -f agent/target/connmgr-agent.jar ] && [ -f agent-testapp/grpc-latest/target/echo-app.jar ] \
  || mvn -q -B -DskipTests package -pl agent -am
mvn -q -o -B -Dstyle.color=never dependency:build-classpath -pl test-servers -Dmdep.outputFile=target/test-servers.cp >/dev/null
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
etcd --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
  --listen-peer-urls http://127.0.0.1:23800 >"$work/etcd.log" 2>&1 &
java -cp "test-servers/target/classes:proto/target/classes:$(cat test-servers/target/test-servers.cp)" \
  io.connmgr.testservers.EchoServerMain 1 querynode 45671 >"$work/server.log" 2>&1 &
until grep -q LISTENING "$work/server.log" 2>/dev/null; do sleep 0.2; done
until ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:23790 put by-dev/meta/session/querynode-1 \
  '{"ServerID":1,"ServerName":"querynode","Address":"127.0.0.1:45671","Exclusive":false,"Stopping":false}' \
  >/dev/null 2>&1; do sleep 0.2; done
app=agent-testapp/grpc-latest/target
agent="$PWD/agent/target/connmgr-agent.jar"
first_call() { # prints the JVM uptime (ms) at the first successful call
  printf 'channel managed 127.0.0.1:45671\necho 10000\nquit\n' \
    | java "$@" -cp "$app/echo-app.jar:$app/lib/*" io.connmgr.testapp.EchoApp 2>/dev/null \
    | sed -n 's/^ECHO OK .* uptime=//p'
}
first_call >/dev/null # warm the page cache and the unpacked agent world
a=(); b=(); c=()
for i in $(seq "$rounds"); do
  a+=("$(first_call)")
  b+=("$(first_call -javaagent:"$agent"="etcd=http://127.0.0.1:23790")")
  c+=("$(first_call -javaagent:"$agent"="etcd=http://127.0.0.1:23790;targets=127.0.0.1:45671=querynode")")
  echo "round $i: without ${a[-1]} ms, agent+untouched channel ${b[-1]} ms, agent+mapped channel ${c[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "median uptime at first successful call: without $(median "${a[@]}") ms," \
  "agent+untouched $(median "${b[@]}") ms, agent+mapped $(median "${c[@]}") ms" \
  "(agent jar $(du -h "$agent" | cut -f1))"
