#!/usr/bin/env bash
# Install everything fleet and its lab need on Debian 12 / Ubuntu 24.04, as root:
# the system packages, then fleet itself into .venv/ beside this script's repository.
# Safe to run again: apt and pip skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh installs system packages: run it as root (sudo bash scripts/setup.sh)" >&2
    exit 1
fi

packages=(
    python3 python3-venv python3-pip            # fleet itself
    openssh-client                              # ssh, ssh-keygen
    docker.io                                   # the robots' Docker Engine; the docker CLI
    docker-registry                             # the lab registry (Distribution v2)
    openssh-server avahi-daemon avahi-utils     # the robots' sshd and mDNS responder
    skopeo                                      # pushes the lab's demo images
    debootstrap debian-archive-keyring          # builds the robots' root filesystems
    qemu-user-static binfmt-support             # arm robots under emulation
    iproute2 util-linux procps ca-certificates
    sudo                                        # ansible_become tests against the real sudo
)
# Installing these packages starts their daemons on a systemd host. The lab runs its own
# copies inside the robots' namespaces, so a daemon that this install switched on is
# switched off again; one the machine already ran is left as it was.
services=(avahi-daemon docker containerd ssh)
enabled_before=()
if command -v systemctl >/dev/null; then
    for service in "${services[@]}"; do
        systemctl is-enabled --quiet "$service" 2>/dev/null && enabled_before+=("$service")
    done
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    for service in "${services[@]}"; do
        case " ${enabled_before[*]} " in *" $service "*) continue ;; esac
        systemctl disable --now "$service" "$service.socket" >/dev/null 2>&1 || true
    done
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"fleet needs Python 3.11 or newer; python3 here is {sys.version.split()[0]}")
PY
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
echo "fleet installed: $(.venv/bin/fleet --version) at $(pwd)/.venv/bin/fleet"
