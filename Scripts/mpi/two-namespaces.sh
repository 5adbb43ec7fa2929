#!/bin/bash
# Two "hosts" on one machine: network namespaces bpA and bpB joined by a veth pair (10.77.0.1
# and 10.77.0.2, addresses that exist only inside these namespaces), one rank in each, started
# by MPICH's Hydra over TCP. Then the same run as two ranks on one host, and a comparison.
#
#   sudo Scripts/mpi/two-namespaces.sh .build/debug/backprop OUTDIR [backprop digits options...]
#   sudo Scripts/mpi/two-namespaces.sh --floor allreduce_floor COUNT   (the C floor over TCP)
#
# Writes OUTDIR/hosts.safetensors (two namespaces) and OUTDIR/local.safetensors (one host) and
# prints the bytes that crossed the veth link. Needs root (ip netns), mpich. Cleans up the
# namespaces on exit.
set -euo pipefail
floor=
if [[ $1 == --floor ]]; then floor=$(realpath "$2"); shift 2; binary=; out=; else binary=$(realpath "$1"); out=$(realpath "$2"); shift 2; fi
here=$(cd "$(dirname "$0")" && pwd)
hydra=$(command -v mpiexec.hydra)
suffix=$$
A=bpA$suffix; B=bpB$suffix
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip link add "va$suffix" type veth peer name "vb$suffix"
ip link set "va$suffix" netns "$A"; ip link set "vb$suffix" netns "$B"
# The same interface name on both sides, so one UCX_NET_DEVICES fits both ranks.
ip -n "$A" link set "va$suffix" name bp0; ip -n "$B" link set "vb$suffix" name bp0
ip -n "$A" addr add 10.77.0.1/24 dev bp0; ip -n "$B" addr add 10.77.0.2/24 dev bp0
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; ip -n "$ns" link set bp0 up; done
ip -n "$A" route get 10.77.0.2 >/dev/null

export BP_NETNS_MAP="10.77.0.1=$A 10.77.0.2=$B"
if [[ -n $floor ]]; then
  ip netns exec "$A" "$(command -v mpiexec.hydra)" -hosts 10.77.0.1:1,10.77.0.2:1 -n 2 -iface bp0 \
    -launcher ssh -launcher-exec "$here/netns-ssh.sh" \
    -genv UCX_TLS tcp,self -genv UCX_NET_DEVICES bp0 -genv MPIR_CVAR_CH4_SHM_ENABLE 0 "$floor" "$@"
  exit
fi
# One rank per host; MPICH's UCX device restricted to TCP over bp0 (its shared-memory transport
# would otherwise bypass the network, since both namespaces share this machine's memory).
ip netns exec "$A" "$hydra" -hosts 10.77.0.1:1,10.77.0.2:1 -n 2 -iface bp0 \
  -launcher ssh -launcher-exec "$here/netns-ssh.sh" \
  -genv UCX_TLS tcp,self -genv UCX_NET_DEVICES bp0 -genv MPIR_CVAR_CH4_SHM_ENABLE 0 \
  "$binary" digits --distributed --quiet --checkpoint "$out/hosts.safetensors" "$@"
echo "veth bytes (bpA): $(ip -n "$A" -s -j link show bp0 | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print("tx", s["tx"]["bytes"], "rx", s["rx"]["bytes"])' 2>/dev/null || ip -n "$A" -s link show bp0)"

"$hydra" -n 2 "$binary" digits --distributed --quiet --checkpoint "$out/local.safetensors" "$@"
