"""A lab robot's non-root login with sudo, for `ansible_become`: a user holding the lab
key and a password, and a sudoers rule that wants that password (or NOPASSWD).

The robots' root filesystems are minbase trees without sudo. Rather than rebuild every
cached tree, this machine's apt fetches the sudo package once into the lab cache, and
the robot's own dpkg installs it into the robot's overlay: it is gone with the lab, and
no other robot has it. The host's Debian release is the robots' (bookworm) and only a
robot of the host's architecture can take the host's package, so only native robots
(profile amd64 on an amd64 host) can have one.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from fleet.lab.paths import LabPaths
from fleet.lab.robot import RobotDirs, in_robot
from fleet.lab.sh import LabError, output, run
from fleet.lab.spec import PROFILES, Robot

_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def sudo_package(paths: LabPaths) -> Path:
    """sudo's .deb for this machine's architecture, downloaded once into the lab cache."""
    folder = paths.cache / "debs"
    found = sorted(folder.glob("sudo_*.deb"))
    if found:
        return found[-1]
    folder.mkdir(parents=True, exist_ok=True)
    done = run(
        ["sh", "-c", 'cd "$1" && apt-get download sudo', "sh", str(folder)],
        check=False,
        timeout=300,
    )
    found = sorted(folder.glob("sudo_*.deb"))
    if done.returncode != 0 or not found:
        said = done.stderr.decode(errors="replace").strip()[-300:]
        raise LabError(f"could not download the sudo package (run apt-get update?): {said}")
    return found[-1]


def sudo_user_script(user: str, nopasswd: bool) -> str:
    """What runs as root inside the robot (its stdin: `user:password` for chpasswd)."""
    rule = f"{user} ALL=(ALL:ALL) {'NOPASSWD: ' if nopasswd else ''}ALL"
    quoted = shlex.quote(user)
    return "\n".join(
        [
            "set -e",
            "command -v sudo >/dev/null || dpkg -i /tmp/fleet-sudo.deb >/dev/null",
            "rm -f /tmp/fleet-sudo.deb",
            f"id {quoted} >/dev/null 2>&1 || useradd -m -s /bin/sh {quoted}",
            "chpasswd",
            f"install -d -m 700 -o {quoted} -g {quoted} /home/{user}/.ssh",
            f"install -m 600 -o {quoted} -g {quoted} /root/.ssh/authorized_keys "
            f"/home/{user}/.ssh/authorized_keys",
            f"printf '%s\\n' {shlex.quote(rule)} > /etc/sudoers.d/fleet-{user}",
            f"chmod 440 /etc/sudoers.d/fleet-{user}",
            f"visudo -cq -f /etc/sudoers.d/fleet-{user}",
        ]
    )


def add_sudo_user(
    paths: LabPaths, robot: Robot, user: str, password: str, *, nopasswd: bool = False
) -> None:
    """Give `robot` a login `user` (the lab key lets it in) whose sudo wants `password`
    (NOPASSWD: asks for none). Run again, it changes the rule and the password."""
    if not _USER.fullmatch(user) or user == "root":
        raise LabError(f"{user!r} is not a user name for a lab robot")
    if "\n" in password:
        raise LabError("the password must be one line")
    host_arch = output(["dpkg", "--print-architecture"]).strip()
    if PROFILES[robot.profile].debootstrap_arch != host_arch:
        raise LabError(
            f"{robot.name} is a {robot.profile} robot: only robots of this machine's "
            f"architecture ({host_arch}) can have sudo in the lab"
        )
    deb = sudo_package(paths)
    dirs = RobotDirs(paths, robot)
    # The robot's /tmp is a tmpfs of its own mount namespace: copy the package in there.
    run(["nsenter", f"--mount={dirs.mount_ns}", "cp", str(deb), f"{dirs.root}/tmp/fleet-sudo.deb"])
    run(
        in_robot(dirs, robot, "sh", "-c", sudo_user_script(user, nopasswd)),
        input=f"{user}:{password}\n".encode(),
        timeout=300,
    )


def remove_sudo_user(paths: LabPaths, robot: Robot, user: str) -> None:
    """Undo add_sudo_user (sudo itself stays installed in the robot's overlay)."""
    quoted = shlex.quote(user)
    script = f"rm -f /etc/sudoers.d/fleet-{user}; userdel -r {quoted} 2>/dev/null || true"
    run(in_robot(RobotDirs(paths, robot), robot, "sh", "-c", script))
