#!/usr/bin/env bash
# The newcomer's tour: install, bring up a simulated fleet of mixed boards (three PCs, the
# first a Duckiebot, a Jetson Nano, a Raspberry Pi 3 and a Raspberry Pi 4 on a 32-bit OS,
# the arm ones emulated), and show it. `fleet lab down` takes it all away again.
# The first run builds the robots' root filesystems (a few minutes); later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
fleet=.venv/bin/fleet

echo "== fleet lab up: 6 robots with sshd, Docker and avahi, plus a TLS registry"
inventory=$($fleet lab up --profile amd64:3 --profile jetson-nano --profile raspberrypi3 \
    --profile raspberrypi4-32 --duckiebots 1)
$fleet lab status
echo "== the lab's inventory ($inventory)"
cat "$inventory"
echo "== each robot's Docker daemon, over SSH with the lab key"
key=$(dirname "$inventory")/id_ed25519
for address in $(grep -o 'ansible_host: .*' "$inventory" | cut -d' ' -f2); do
    printf '%s: ' "$address"
    ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR "root@$address" \
        'model=$(tr -d "\0" < /sys/firmware/devicetree/base/model 2>/dev/null || echo PC)
         echo "$(hostname) ($model): kernel $(uname -m), userland $(dpkg --print-architecture),"\
              "Docker $(docker version --format "{{.Server.Os}}/{{.Server.Arch}}")"'
done
echo
echo "The lab stays up for you to try: $fleet --help. Take it down with: $fleet lab down"
