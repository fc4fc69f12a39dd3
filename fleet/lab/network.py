"""The lab's network: one bridge, one namespace and veth pair per robot, optional tc shaping."""

from __future__ import annotations

from fleet.lab.sh import LabError, output, run
from fleet.lab.spec import HUB_ADDRESS, HUB_NETNS, HUB_VETH, NETNS_PREFIX, LabSpec, Robot


def create_bridge(spec: LabSpec) -> None:
    run(["ip", "link", "add", spec.bridge, "type", "bridge"])
    # With snooping on, the bridge can drop multicast it has not seen a join for; mDNS must cross.
    run(["ip", "link", "set", spec.bridge, "type", "bridge", "mcast_snooping", "0"])
    run(["ip", "addr", "add", f"{spec.bridge_address}/{spec.prefix_len}", "dev", spec.bridge])
    run(["ip", "link", "set", spec.bridge, "up"])


def _namespace_on_bridge(spec: LabSpec, netns: str, veth: str, address: str) -> None:
    """A namespace whose only interface is eth0 on the bridge.

    No default route and no DNS: what runs there reaches the lab and nothing else.
    """
    peer = f"{veth}p"
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer])
    run(["ip", "link", "set", peer, "netns", netns])
    run(["ip", "link", "set", veth, "master", spec.bridge, "up"])
    run(["ip", "-n", netns, "link", "set", peer, "name", "eth0"])
    run(["ip", "-n", netns, "addr", "add", f"{address}/{spec.prefix_len}", "dev", "eth0"])
    run(["ip", "-n", netns, "link", "set", "eth0", "up"])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])


def create_robot_link(spec: LabSpec, robot: Robot) -> None:
    _namespace_on_bridge(spec, robot.netns, robot.veth, robot.address)
    if spec.link_rate:
        shape_link(robot, spec.link_rate)


def create_hub_link(spec: LabSpec) -> None:
    """The hub's namespace: the lab's "internet", behind one link of its own."""
    _namespace_on_bridge(spec, HUB_NETNS, HUB_VETH, str(HUB_ADDRESS))


def shape_link(robot: Robot, rate: str) -> None:
    """Token-bucket both ends like a classroom WiFi link (this kernel has tbf, not netem)."""
    shape(robot.veth, robot.netns, rate)


def shape_uplink(rate: str) -> None:
    """The site's uplink: everything to and from the hub, robots and this machine alike."""
    shape(HUB_VETH, HUB_NETNS, rate)


def shape(veth: str, netns: str, rate: str) -> None:
    tbf = ["tbf", "rate", rate, "burst", "64kb", "latency", "200ms"]
    run(["tc", "qdisc", "replace", "dev", veth, "root", *tbf])
    run(["ip", "netns", "exec", netns, "tc", "qdisc", "replace", "dev", "eth0", "root", *tbf])


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
