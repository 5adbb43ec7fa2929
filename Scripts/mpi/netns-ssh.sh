#!/bin/bash
# Stands in for ssh as MPICH Hydra's launcher (-launcher ssh -launcher-exec THIS): "ssh [options]
# HOST COMMAND..." runs COMMAND inside the network namespace that owns HOST's address
# (BP_NETNS_MAP="10.77.0.1=bpA 10.77.0.2=bpB"), on this machine. No network login happens.
set -euo pipefail
while [[ $# -gt 0 && $1 == -* ]]; do shift; done
host=$1; shift
for pair in ${BP_NETNS_MAP:?}; do
  if [[ ${pair%%=*} == "$host" ]]; then exec ip netns exec "${pair#*=}" sh -c "$*"; fi
done
echo "netns-ssh: no namespace for host $host (BP_NETNS_MAP=$BP_NETNS_MAP)" >&2
exit 255
