"""`fleet lab up`, `down` and `status`: build the simulated fleet, take it apart, report on it."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fleet import procs
from fleet.files import write_file
from fleet.lab import binfmt, images, inventory, mounts, network, registry, robot, rootfs
from fleet.lab.paths import LabPaths
from fleet.lab.sh import LabError, run
from fleet.lab.spec import (
    BRIDGE,
    HUB_ADDRESS,
    HUB_NETNS,
    HUB_PORT,
    HUB_VETH,
    PROFILES,
    TOKEN_PORT,
    VETH_PREFIX,
    LabSpec,
    Robot,
)

Progress = Callable[[str], None]

REQUIRED_COMMANDS = {
    "ip": "iproute2",
    "tc": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "chroot": "coreutils",
    "debootstrap": "debootstrap",
    "ssh-keygen": "openssh-client",
    "avahi-daemon": "avahi-daemon",
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
}
ROBOT_START_TIMEOUT = 60.0
LAB_PROCESS_NAMES = {"docker-registry", "nsenter", "unshare", "chroot", "sh", "avahi-daemon"}
PARALLEL_ROBOT_STARTS = 4


@dataclass
class UpResult:
    spec: LabSpec
    inventory: Path
    already_up: bool = False
    seconds: float = 0.0


@dataclass
class RobotStatus:
    name: str
    address: str
    profile: str
    duckiebot: bool
    daemons: dict[str, bool]


@dataclass
class LabStatus:
    up: bool
    phase: str | None = None
    registry: str | None = None
    registry_running: bool = False
    hub: str | None = None
    hub_running: bool = False
    inventory: Path | None = None
    credentials: Path | None = None
    robots: list[RobotStatus] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return (
            self.up
            and self.registry_running
            and self.hub_running
            and all(all(r.daemons.values()) for r in self.robots)
        )


def check_host() -> None:
    if platform.system() != "Linux":
        raise LabError("fleet lab needs Linux (network namespaces, overlayfs)")
    if os.geteuid() != 0:
        raise LabError("fleet lab needs root: rerun with sudo")
    missing = sorted({pkg for cmd, pkg in REQUIRED_COMMANDS.items() if not shutil.which(cmd)})
    if missing:
        raise LabError(
            "missing system packages for the lab; install them with: "
            f"apt-get update && apt-get install -y {' '.join(missing)}"
        )


def _read_state(paths: LabPaths) -> dict[str, object] | None:
    try:
        return json.loads(paths.state_file.read_text())
    except (OSError, ValueError):
        return None


def _write_state(paths: LabPaths, spec: LabSpec, phase: str) -> None:
    paths.state_file.write_text(json.dumps({"phase": phase, "spec": spec.to_dict()}, indent=2))


def up(spec: LabSpec, paths: LabPaths, progress: Progress = lambda _: None) -> UpResult:
    check_host()
    started = time.monotonic()
    previous = _read_state(paths)
    if previous is not None:
        current = status(paths)
        if previous.get("phase") == "up" and current.healthy:
            if LabSpec.from_dict(previous["spec"]) == spec:  # type: ignore[arg-type]
                return UpResult(spec, paths.inventory, already_up=True)
            raise LabError(
                f"a different lab is already up ({len(current.robots)} robots in {paths.state}); "
                "run `fleet lab down` first"
            )
        progress("clearing what an earlier, unfinished lab left behind")
    # Always clean first: a crashed `up` may have left pieces the state file never recorded.
    down(paths)
    network.require_free(spec)

    paths.state.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.state, 0o700)
    _write_state(paths, spec, "building")
    profiles = [PROFILES[name] for name in spec.profiles_used]
    host_arch = binfmt.host_debian_arch()
    binfmt.ensure_emulators(
        binfmt.emulators_needed({arch for p in profiles for arch in p.debian_arches}, host_arch)
    )
    # Root filesystems build in parallel: downloads overlap with emulated package setup.
    with ThreadPoolExecutor(len(profiles)) as pool:
        trees = list(pool.map(lambda p: rootfs.ensure_rootfs(paths, p, progress), profiles))
    lowers = {p.name: tree for p, tree in zip(profiles, trees, strict=True)}
    progress("preparing demo images")
    layout = paths.images_cache / "layout"
    images.ensure_layout(layout)

    run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet-lab", "-f", str(paths.lab_key)]
    )
    paths.ns_dir.mkdir()
    # Mount-namespace files may only be bind-mounted under a mount with private propagation.
    run(["mount", "--bind", str(paths.ns_dir), str(paths.ns_dir)])
    run(["mount", "--make-private", str(paths.ns_dir)])

    progress(f"creating bridge {spec.bridge} ({spec.bridge_address}/{spec.prefix_len})")
    network.create_bridge(spec)
    progress(f"starting the registry on {spec.registry}")
    accounts = registry.prepare(paths, spec.bridge_address, spec.registry_port, str(HUB_ADDRESS))
    registry.start(paths)
    registry.wait_ready(paths, spec.registry)
    _push_demo_images(paths, accounts, layout, progress)
    _start_hub(spec, paths, accounts, progress)

    public_key = paths.lab_key.with_suffix(".pub").read_text()

    def start(one: Robot) -> None:
        progress(f"starting {one.name} ({one.profile}, {one.address})")
        network.create_robot_link(spec, one)
        lower = lowers[one.profile]
        dirs = robot.prepare_upper(paths, spec, one, lower, public_key)
        robot.mount_root(dirs, one, PROFILES[one.profile], lower)
        pids = robot.start_daemons(dirs, one)
        emulated = set(PROFILES[one.profile].debian_arches) != {host_arch}
        robot.wait_ready(dirs, one, pids, ROBOT_START_TIMEOUT * (3 if emulated else 1))

    with ThreadPoolExecutor(PARALLEL_ROBOT_STARTS) as pool:
        # list() re-raises the first robot's failure here.
        list(pool.map(start, spec.robots))

    paths.inventory.write_text(inventory.render(spec, paths.lab_key))
    _write_state(paths, spec, "up")
    return UpResult(spec, paths.inventory, seconds=time.monotonic() - started)


def _start_hub(
    spec: LabSpec, paths: LabPaths, accounts: registry.RegistryAccounts, progress: Progress
) -> None:
    """Docker Hub's stand-in: token auth, public and private repositories, in its own
    namespace behind the uplink (shaped once it holds the demo images)."""
    progress(f"starting the hub on {spec.hub} (token auth on {spec.token_service})")
    network.create_hub_link(spec)
    hub = paths.hub_dir
    registry.prepare_hub(
        hub, str(HUB_ADDRESS), HUB_PORT, TOKEN_PORT, accounts.passwords, paths.registry_dir
    )
    registry.copy_storage(paths.registry_dir / "data", hub / "data")
    registry.start_hub(hub, HUB_NETNS)
    registry.wait_hub_ready(hub, paths.ca_cert)
    saved = json.loads(paths.credentials.read_text())
    write_file(paths.credentials, json.dumps({**saved, "hub": spec.hub}, indent=2) + "\n")
    if spec.uplink_rate:
        progress(f"shaping the uplink to the hub at {spec.uplink_rate}")
        network.shape_uplink(spec.uplink_rate)


def _push_demo_images(
    paths: LabPaths, accounts: registry.RegistryAccounts, layout: Path, progress: Progress
) -> None:
    progress("pushing demo images")
    # skopeo reads the publisher's password from an auth file, never from its arguments.
    authfile = paths.registry_dir / "publisher-auth.json"
    registry.write_authfile(authfile, accounts, "publisher")
    trust = paths.registry_dir / "trust"  # a folder holding only ca.crt, as skopeo wants
    trust.mkdir(exist_ok=True)
    shutil.copy(paths.ca_cert, trust / "ca.crt")
    for repository, tag in images.demo_references():
        source = f"oci:{layout}:{images.layout_ref_name(repository, tag)}"
        target = f"docker://{accounts.registry}/{repository}:{tag}"
        run(
            [
                "skopeo",
                "copy",
                "--all",
                "--quiet",
                "--dest-authfile",
                str(authfile),
                "--dest-cert-dir",
                str(trust),
                source,
                target,
            ],
            timeout=600,
        )


def down(paths: LabPaths) -> list[str]:
    """Remove everything the lab made; safe to run twice, after a crash or a half `up`."""
    removed: list[str] = []
    for netns in network.lab_namespaces():
        procs.stop(network.namespace_pids(netns))
    stragglers = _processes_mentioning(paths.state)
    if stragglers:
        procs.stop(stragglers)
        removed.append(f"{len(stragglers)} processes")
    removed += mounts.unmount_all_under(paths.state)
    for netns in network.lab_namespaces():
        network.delete_namespace(netns)
        removed.append(f"namespace {netns}")
    for link in _lab_links():
        network.delete_link(link)
        removed.append(f"interface {link}")
    if paths.state.exists():
        shutil.rmtree(paths.state)
        removed.append(str(paths.state))
    return removed


def _lab_links() -> list[str]:
    names = []
    for entry in Path("/sys/class/net").iterdir():
        if entry.name in (BRIDGE, HUB_VETH) or (
            entry.name.startswith(VETH_PREFIX) and entry.name[len(VETH_PREFIX) :].isdigit()
        ):
            names.append(entry.name)
    return names


def _processes_mentioning(state: Path) -> list[int]:
    """Lab daemons found by the state directory in their command line (the registry, and
    any robot daemon whose namespace is already gone). Only the lab's own kinds of
    process: a user's `less /var/lib/fleet-lab/inventory.yaml` is left alone."""
    needle = str(state)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        args = procs.cmdline(int(entry.name))
        if args and Path(args[0]).name in LAB_PROCESS_NAMES and any(needle in a for a in args):
            found.append(int(entry.name))
    return found


def status(paths: LabPaths) -> LabStatus:
    saved = _read_state(paths)
    if saved is None:
        return LabStatus(up=False)
    spec = LabSpec.from_dict(saved["spec"])  # type: ignore[arg-type]
    return LabStatus(
        up=True,
        phase=str(saved.get("phase")),
        registry=spec.registry,
        registry_running=registry.running_pid(paths) is not None,
        hub=spec.hub,
        hub_running=len(registry.running_hub_pids(paths.hub_dir)) == 2,
        inventory=paths.inventory if paths.inventory.exists() else None,
        credentials=paths.credentials if paths.credentials.exists() else None,
        robots=[
            RobotStatus(r.name, r.address, r.profile, r.duckiebot, robot.health(paths, r))
            for r in spec.robots
        ],
    )


def lab_robot(paths: LabPaths, name: str) -> Robot:
    """A robot of the running lab, by name (`robot01` or `robot01.local`)."""
    saved = _read_state(paths)
    if saved is None:
        raise LabError("no lab is up")
    spec = LabSpec.from_dict(saved["spec"])  # type: ignore[arg-type]
    short = name.removesuffix(".local")
    for one in spec.robots:
        if one.name == short:
            return one
    raise LabError(f"the lab has no robot {name}; it has {', '.join(r.name for r in spec.robots)}")


def stop_daemon(paths: LabPaths, name: str, daemon: str) -> None:
    pid = robot.daemon_pid(paths, lab_robot(paths, name), daemon)
    if pid:
        procs.stop([pid])


def start_daemon(paths: LabPaths, name: str, daemon: str) -> None:
    one = lab_robot(paths, name)
    robot.restart_daemon(paths, one, daemon)


def stop_registry(paths: LabPaths) -> None:
    pid = registry.running_pid(paths)
    if pid:
        procs.stop([pid])


def stop_hub(paths: LabPaths) -> None:
    procs.stop(registry.running_hub_pids(paths.hub_dir))


def start_hub(paths: LabPaths) -> None:
    stop_hub(paths)
    if _read_state(paths) is None:
        raise LabError("no lab is up")
    registry.start_hub(paths.hub_dir, HUB_NETNS)
    registry.wait_hub_ready(paths.hub_dir, paths.ca_cert)


def start_registry(paths: LabPaths) -> None:
    stop_registry(paths)
    saved = _read_state(paths)
    if saved is None:
        raise LabError("no lab is up")
    spec = LabSpec.from_dict(saved["spec"])  # type: ignore[arg-type]
    registry.start(paths)
    registry.wait_ready(paths, spec.registry)
