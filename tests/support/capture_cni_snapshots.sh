#!/usr/bin/env bash
# Captures the doctor snapshots with runtime (CNI) containers that tests/unit/doctor/cni_test.ts
# reads, from a real two-host lab: hg's plugin ADDs containers into namespaces bound outside
# /run/netns (as Kubernetes runtimes make them), one of them with two interfaces.
#   cni-healthy.json           h1: c1 (hg netns add), pod "web" (eth0 and net1), pod "db"
#   cni-peer-route-missing     the same after "ip route del" of h2's subnet on h1
#   ok-cni-netns-hidden.json   taken where the pods' namespace paths are not visible
# Usage (root, from the repository): bash tests/support/capture_cni_snapshots.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
hg() { deno run -A cli/main.ts "$@"; }
lab=cnifx$RANDOM
dir=$(mktemp -d)
out=tests/fixtures/doctor
cleanup() {
  for ns in web db; do umount "$dir/$ns" 2>/dev/null || true; done
  hg lab down --name "$lab" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
hg lab up --nodes 2 --store file --name "$lab" >/dev/null
h1=$lab-h1
in_h1() { nsenter --net=/run/netns/$h1 "$@"; }
add() { # ID NAME IFNAME
  echo '{"cniVersion":"1.0.0","name":"hg","type":"hg"}' | in_h1 env CNI_COMMAND=ADD \
    CNI_CONTAINERID="$1" CNI_NETNS="$dir/$2" CNI_IFNAME="$3" \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2" \
    deno run -A cli/main.ts >/dev/null
}
for ns in web db; do touch "$dir/$ns" && unshare --net="$dir/$ns" true; done
add 5e1f00c0ffee0001 web eth0
add 5e1f00c0ffee0001 web net1
add 7a9b00c0ffee0002 db eth0
store=/run/hg/lab-$lab/subnets.json
snap() { in_h1 deno run -A cli/main.ts snapshot --store "$store" --node "$h1" | sed "s/$lab/lab/g; s#$dir#/var/run/netns#g"; }
snap >"$out/cni-healthy.json"
# Where the runtime's namespaces are not mounted (another mount namespace).
unshare --mount --propagation private sh -c "umount $dir/web $dir/db && nsenter --net=/run/netns/$h1 deno run -A cli/main.ts snapshot --store $store --node $h1" |
  sed "s/$lab/lab/g; s#$dir#/var/run/netns#g" >"$out/ok-cni-netns-hidden.json"
subnet2=$(nsenter --net=/run/netns/$lab-h2 deno run -A cli/main.ts status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bridge"]["subnet"])')
in_h1 ip route del "$subnet2"
snap >"$out/cni-peer-route-missing.json"
echo "captured into $out"
