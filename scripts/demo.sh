#!/usr/bin/env bash
# The newcomer's tour: install, bring up a simulated fleet of 3 robots (one a Duckiebot),
# and show it. `fleet lab down` takes it all away again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
fleet=.venv/bin/fleet

echo "== fleet lab up: 3 robots with sshd, Docker and avahi, plus a TLS registry"
inventory=$($fleet lab up --robots 3 --duckiebots 1)
$fleet lab status
echo "== the lab's inventory ($inventory)"
cat "$inventory"
echo "== each robot's Docker daemon, over SSH with the lab key"
key=$(dirname "$inventory")/id_ed25519
for address in $(grep -o 'ansible_host: .*' "$inventory" | cut -d' ' -f2); do
    printf '%s: ' "$address"
    ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR "root@$address" \
        'echo "$(hostname) $(uname -m), Docker $(docker version --format "{{.Server.Version}} {{.Server.Os}}/{{.Server.Arch}}")"'
done
echo
echo "The lab stays up for you to try: $fleet --help. Take it down with: $fleet lab down"
