"""The lab's network: one bridge, one namespace and veth pair per robot, optional tc shaping."""

from __future__ import annotations

from fleet.lab.sh import LabError, output, run
from fleet.lab.spec import NETNS_PREFIX, LabSpec, Robot


def create_bridge(spec: LabSpec) -> None:
    run(["ip", "link", "add", spec.bridge, "type", "bridge"])
    # With snooping on, the bridge can drop multicast it has not seen a join for; mDNS must cross.
    run(["ip", "link", "set", spec.bridge, "type", "bridge", "mcast_snooping", "0"])
    run(["ip", "addr", "add", f"{spec.bridge_address}/{spec.prefix_len}", "dev", spec.bridge])
    run(["ip", "link", "set", spec.bridge, "up"])


def create_robot_link(spec: LabSpec, robot: Robot) -> None:
    """A namespace whose only interface is eth0 on the bridge.

    No default route and no DNS: a robot can reach the lab and nothing else.
    """
    ns = robot.netns
    peer = f"{robot.veth}p"
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", robot.veth, "type", "veth", "peer", "name", peer])
    run(["ip", "link", "set", peer, "netns", ns])
    run(["ip", "link", "set", robot.veth, "master", spec.bridge, "up"])
    run(["ip", "-n", ns, "link", "set", peer, "name", "eth0"])
    run(["ip", "-n", ns, "addr", "add", f"{robot.address}/{spec.prefix_len}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    if spec.link_rate:
        shape_link(robot, spec.link_rate)


def shape_link(robot: Robot, rate: str) -> None:
    """Token-bucket both ends like a classroom WiFi link (this kernel has tbf, not netem)."""
    tbf = ["tbf", "rate", rate, "burst", "64kb", "latency", "200ms"]
    run(["tc", "qdisc", "replace", "dev", robot.veth, "root", *tbf])
    run(["ip", "netns", "exec", robot.netns, "tc", "qdisc", "replace", "dev", "eth0", "root", *tbf])


def lab_namespaces() -> list[str]:
    """Every namespace named like a lab robot's, whether or not the state file knows it."""
    listed = output(["ip", "netns", "list"]).splitlines()
    names = [line.split()[0] for line in listed if line.strip()]
    return [n for n in names if n.startswith(NETNS_PREFIX)]


def namespace_pids(netns: str) -> list[int]:
    done = run(["ip", "netns", "pids", netns], check=False)
    return [int(p) for p in done.stdout.split()]


def delete_namespace(netns: str) -> None:
    run(["ip", "netns", "delete", netns], check=False)


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", name], check=False).returncode == 0


def delete_link(name: str) -> None:
    # A robot's veth also goes when its network namespace is freed, which the kernel does
    # a moment after `ip netns delete`: it may vanish between the check and the delete.
    if not link_exists(name):
        return
    done = run(["ip", "link", "delete", name], check=False)
    if done.returncode != 0 and link_exists(name):
        detail = done.stderr.decode(errors="replace").strip()
        raise LabError(f"`ip link delete {name}` failed: {detail}")


def require_free(spec: LabSpec) -> None:
    if link_exists(spec.bridge):
        raise LabError(
            f"interface {spec.bridge} already exists; another lab may be up "
            "(run `fleet lab down`, with the same FLEET_LAB_DIR)"
        )
