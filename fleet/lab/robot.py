"""One lab robot: its root filesystem view, its daemons, and how healthy they are.

Each robot has a persistent mount namespace (a file under the state directory's `ns/`)
in which an overlay of the cached root filesystem is mounted and chrooted into; sshd
and dockerd run there, in the robot's network namespace. Docker's data root is a plain
directory of the host's bound over /var/lib/docker: overlay2 cannot stack on the overlay
root, and vfs (which can) copies every layer below each new one, three times the disk
and CPU of a real robot's overlay2, all of it on the cores the robots share.
avahi-daemon comes from the host (minbase robots have no D-Bus for it) and runs in the
robot's network namespace with a private /run and the robot's own service files.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
from pathlib import Path

import docker

from fleet import procs
from fleet.files import write_file
from fleet.lab import avahi
from fleet.lab.paths import LabPaths
from fleet.lab.sh import LabError, run
from fleet.lab.spec import LabSpec, Profile, Robot

DAEMONS = ("sshd", "dockerd", "avahi")
SSHD_CONFIG = "LogLevel VERBOSE\nUseDNS no\nPasswordAuthentication no\n"


class RobotDirs:
    def __init__(self, paths: LabPaths, robot: Robot) -> None:
        self.base = paths.robot_dir(robot.name)
        self.upper = self.base / "upper"
        self.work = self.base / "work"
        self.root = self.base / "root"
        self.avahi = self.base / "avahi"
        self.docker = self.base / "docker"  # the robot's /var/lib/docker
        self.mount_ns = paths.ns_dir / f"{robot.name}.mnt"
        self.uts_ns = paths.ns_dir / f"{robot.name}.uts"
        self.pids = self.base / "pids.json"


def _write(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    write_file(path, content, mode)


def _mkdirs_like(lower: Path, upper: Path, relative: str) -> None:
    """Create upper/relative with the modes the lower tree has: in an overlay the upper
    directory's mode wins, and sshd refuses a /root that is group-writable."""
    current_upper, current_lower = upper, lower
    for part in Path(relative).parts:
        current_upper, current_lower = current_upper / part, current_lower / part
        if not current_upper.exists():
            mode = current_lower.stat().st_mode & 0o7777 if current_lower.exists() else 0o755
            current_upper.mkdir()
            os.chmod(current_upper, mode)


def prepare_upper(
    paths: LabPaths, spec: LabSpec, robot: Robot, lower: Path, lab_public_key: str
) -> RobotDirs:
    """Give the robot its identity before its overlay is mounted: hostname, fresh host
    keys (never trusted anywhere), the lab key, and trust in the lab CA."""
    dirs = RobotDirs(paths, robot)
    for directory in (dirs.upper, dirs.work, dirs.root, dirs.avahi / "services", dirs.docker):
        directory.mkdir(parents=True, exist_ok=True)
    trusted = (spec.registry, spec.hub, spec.token_service)
    for relative in (
        "etc/ssh/sshd_config.d",
        "root/.ssh",
        *(f"etc/docker/certs.d/{name}" for name in trusted),
        "var/lib/docker",
    ):
        _mkdirs_like(lower, dirs.upper, relative)
    up = dirs.upper
    _write(up / "etc/hostname", f"{robot.name}\n")
    _write(up / "etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{robot.name} {robot.hostname}\n")
    _write(
        up / "etc/resolv.conf", "# fleet lab robots have no DNS: they reach the lab by address\n"
    )
    _write(up / "etc/machine-id", secrets.token_hex(16) + "\n", 0o444)
    _write(up / "etc/ssh/sshd_config.d/fleet-lab.conf", SSHD_CONFIG)
    _write(up / "root/.ssh/authorized_keys", lab_public_key, 0o600)
    for name in trusted:
        _write(up / f"etc/docker/certs.d/{name}/ca.crt", paths.ca_cert.read_bytes())
    for kind in ("ed25519", "ecdsa", "rsa"):
        key = up / f"etc/ssh/ssh_host_{kind}_key"
        run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{robot.name}", "-f", str(key)])
    _write(dirs.avahi / "avahi-daemon.conf", avahi.daemon_conf(robot.name))
    for name, content in avahi.robot_services(robot.name, robot.duckiebot).items():
        _write(dirs.avahi / "services" / name, content)
    return dirs


def mount_root(dirs: RobotDirs, robot: Robot, profile: Profile, lower: Path) -> None:
    """Create the robot's mount and UTS namespaces (so `hostname` answers the robot's
    name) and mount its root filesystem view."""
    dirs.mount_ns.touch()
    dirs.uts_ns.touch()
    run(
        [
            "unshare",
            f"--mount={dirs.mount_ns}",
            f"--uts={dirs.uts_ns}",
            "--propagation",
            "private",
            "hostname",
            robot.name,
        ]
    )
    root = shlex.quote(str(dirs.root))
    overlay = f"lowerdir={lower},upperdir={dirs.upper},workdir={dirs.work}"
    script = "\n".join(
        [
            "set -e",
            f"mount -t overlay overlay -o {shlex.quote(overlay)} {root}",
            f"mount --bind {shlex.quote(str(dirs.docker))} {root}/var/lib/docker",
            f"mount -t proc proc {root}/proc",
            # sysfs mounted from inside the network namespace shows the robot's own interfaces.
            f"mount -t sysfs sysfs {root}/sys",
            # dockerd refuses to start without the cgroup hierarchy.
            f"mount --rbind /sys/fs/cgroup {root}/sys/fs/cgroup",
            f"mount --rbind /dev {root}/dev",
            f"mount -t tmpfs -o mode=0755 tmpfs {root}/run",
            f"mount -t tmpfs -o mode=1777 tmpfs {root}/tmp",
            f"mkdir -p {root}/run/sshd",
        ]
    )
    if profile.model:
        # A namespace has no device tree of its own. Boards expose the model at
        # /sys/firmware/devicetree/base/model (which /proc/device-tree links to), a string
        # ending in NUL; give the robot one there, hiding the host's DMI as an arm board would.
        firmware = f"{root}/sys/firmware"
        script += "\n" + "\n".join(
            [
                f"mount -t tmpfs -o mode=0755,size=64k tmpfs {firmware}",
                f"mkdir -p {firmware}/devicetree/base",
                f"printf '%s\\0' {shlex.quote(profile.model)} > {firmware}/devicetree/base/model",
                f"mount -o remount,ro,bind {firmware}",
            ]
        )
    run(_enter(dirs, robot) + ["sh", "-c", script])


def _enter(dirs: RobotDirs, robot: Robot) -> list[str]:
    return [
        "nsenter",
        f"--mount={dirs.mount_ns}",
        f"--uts={dirs.uts_ns}",
        f"--net=/run/netns/{robot.netns}",
    ]


def in_robot(dirs: RobotDirs, robot: Robot, *command: str) -> list[str]:
    return _enter(dirs, robot) + ["chroot", str(dirs.root), *command]


DOCKERD_ARGS = (
    "--storage-driver", "overlay2", "--iptables=false", "--ip-masq=false", "--bridge=none",
    "-H", "unix:///run/docker.sock", "--data-root", "/var/lib/docker",
    "--exec-root", "/run/docker", "--pidfile", "/run/docker.pid",
)  # fmt: skip


def _daemon_command(dirs: RobotDirs, robot: Robot, daemon: str) -> list[str]:
    if daemon == "sshd":
        return in_robot(dirs, robot, "/usr/sbin/sshd", "-D", "-E", "/var/log/sshd.log")
    if daemon == "dockerd":
        return in_robot(dirs, robot, "/usr/sbin/dockerd", *DOCKERD_ARGS)
    return _avahi_command(dirs, robot)


def start_daemon(dirs: RobotDirs, robot: Robot, daemon: str) -> int:
    """Start one of the robot's daemons and record its pid."""
    pid = procs.start_detached(_daemon_command(dirs, robot, daemon), dirs.base / f"{daemon}.log")
    try:
        pids = json.loads(dirs.pids.read_text())
    except (OSError, ValueError):
        pids = {}
    pids[daemon] = pid
    dirs.pids.write_text(json.dumps(pids))
    return pid


def start_daemons(dirs: RobotDirs, robot: Robot) -> dict[str, int]:
    return {daemon: start_daemon(dirs, robot, daemon) for daemon in DAEMONS}


def daemon_pid(paths: LabPaths, robot: Robot, daemon: str) -> int | None:
    try:
        return json.loads(RobotDirs(paths, robot).pids.read_text()).get(daemon)
    except (OSError, ValueError):
        return None


def restart_daemon(paths: LabPaths, robot: Robot, daemon: str) -> int:
    """Stop (if running) and start one daemon: a lab robot's service going away and back."""
    old = daemon_pid(paths, robot, daemon)
    if old:
        procs.stop([old])
    return start_daemon(RobotDirs(paths, robot), robot, daemon)


def _avahi_command(dirs: RobotDirs, robot: Robot) -> list[str]:
    # A private /run hides the host's avahi pid file and socket from this one.
    script = (
        "set -e; mount -t tmpfs -o mode=0755 tmpfs /run; mkdir /run/avahi-daemon; "
        f"mount --bind {shlex.quote(str(dirs.avahi / 'services'))} /etc/avahi/services; "
        f"exec avahi-daemon -f {shlex.quote(str(dirs.avahi / 'avahi-daemon.conf'))} "
        "--no-chroot --no-drop-root --no-rlimits"
    )
    return [
        "nsenter",
        f"--net=/run/netns/{robot.netns}",
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
    ]


def docker_socket(pid: int) -> str:
    """The robot's Docker socket as the host sees it, through dockerd's own root."""
    return f"unix:///proc/{pid}/root/run/docker.sock"


def docker_answers(pid: int) -> bool:
    try:
        client = docker.APIClient(base_url=docker_socket(pid), timeout=3)
        try:
            client.version()
        finally:
            client.close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


def ssh_answers(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=2) as conn:
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def wait_ready(dirs: RobotDirs, robot: Robot, pids: dict[str, int], timeout: float) -> None:
    checks = {
        "dockerd": lambda: docker_answers(pids["dockerd"]),
        "sshd": lambda: ssh_answers(robot.address),
    }
    for name, check in checks.items():
        if not procs.wait_for(check, timeout, interval=0.2):
            raise LabError(
                f"{robot.name}: {name} did not come up within {timeout:g} s; "
                f"see the logs in {dirs.base}"
            )


def health(paths: LabPaths, robot: Robot) -> dict[str, bool]:
    """Which of the robot's daemons are running (by the pids recorded at `up`)."""
    try:
        pids = json.loads(RobotDirs(paths, robot).pids.read_text())
    except (OSError, ValueError):
        return {name: False for name in DAEMONS}
    return {name: procs.alive(pids.get(name, -1)) for name in DAEMONS}
