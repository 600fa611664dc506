#!/usr/bin/env bash
# Registry churn for comparing the agent's memory under Bun and Deno (docs/benchmarks.md,
# "Agent memory"). Usage, as root, from the repository:
#   deno task compile && ./dist/hg lab up --nodes 2 --name rssbun --agent
#   deno run -A cli/main.ts lab up --nodes 2 --name rssdeno --agent
#   bash bench/agent_memory_churn.sh rssbun 3000 & bash bench/agent_memory_churn.sh rssdeno 3000 &
#   ps -eo pid,rss,etimes,args | grep ' agent '   # now and then
# A fake host's lease comes and goes every ~0.6 s, so every agent adds and removes a route.
set -euo pipefail
lab=$1
end=$(($(date +%s) + $2))
hg=${HG_BIN:-$(dirname "$0")/../dist/hg}
store=etcd://10.0.12.2:2379
while [ "$(date +%s)" -lt "$end" ]; do
  ip netns exec "$lab-h1" "$hg" subnet alloc --store $store --node churn --public-ip 10.0.12.50 \
    --ttl 60 >/dev/null || true
  sleep 0.3
  ip netns exec "$lab-h1" "$hg" subnet release --store $store --node churn >/dev/null || true
  sleep 0.3
done
