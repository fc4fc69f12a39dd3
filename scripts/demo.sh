#!/usr/bin/env bash
# The newcomer's tour: install, bring up a simulated fleet of mixed boards (three PCs, the
# first a Duckiebot, a Jetson Nano, a Raspberry Pi 3 and a Raspberry Pi 4 on a 32-bit OS,
# the arm ones emulated), then find them, ask what they are, give them the registry
# account, pull the image each one can run, and finally converge every robot to what the
# lab's inventory declares (`fleet apply`) and see the drift (`fleet status`).
# `fleet lab down` takes it all away again.
# The first run builds the robots' root filesystems (a few minutes); later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
fleet=.venv/bin/fleet

echo "== fleet lab up: 6 robots with sshd, Docker and avahi, plus a TLS registry"
inventory=$($fleet lab up --profile amd64:3 --profile jetson-nano --profile raspberrypi3 \
    --profile raspberrypi4-32 --duckiebots 1 --uplink-rate 100mbit)
lab=$(dirname "$inventory")
registry=198.18.0.1:5000
# The lab's robots get new host keys with every lab: trust them in a file of the lab's own.
trust=(--known-hosts "$lab/known_hosts" --accept-new)

echo "== fleet discover: the robots announce themselves over mDNS"
$fleet discover --interface fleetlab0 --timeout 3

echo "== fleet facts: what each robot is, and the image variant it can run"
$fleet facts -i "$inventory" "${trust[@]}"

echo "== fleet login: the registry account, checked, stored, and written to each robot"
python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["accounts"]["robot"])' \
    "$lab/credentials.json" |
    $fleet login "$registry" --username robot --password-stdin --ca-cert "$lab/registry/ca.crt" \
        -i "$inventory" "${trust[@]}"

echo "== fleet pull: one reference, the right variant on every robot"
$fleet pull "$registry/duckietown/dt-core:daffy" -i "$inventory" "${trust[@]}"

echo "== fleet apply --check: what the inventory declares, and what each robot still lacks"
# The inventory's fleet_registries and fleet_images; --check changes nothing.
$fleet apply --check -i "$inventory" "${trust[@]}" --ca-cert "$lab/registry/ca.crt"

echo "== fleet apply: every robot converges (a second run would change nothing)"
$fleet apply -i "$inventory" "${trust[@]}" --ca-cert "$lab/registry/ca.crt"

echo "== fleet status: drift at a glance, read-only"
$fleet status -i "$inventory" "${trust[@]}" --ca-cert "$lab/registry/ca.crt"

echo
echo "The lab stays up for you to try: $fleet --help. Take it down with: $fleet lab down"
