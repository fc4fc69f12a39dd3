from pathlib import Path

from fleet.lab.mounts import mounts_under

MOUNTINFO = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
80 22 254:0 /var/lib/fleet-lab/ns /var/lib/fleet-lab/ns rw - ext4 /dev/vda rw
81 80 0:4 mnt:[4026532249] /var/lib/fleet-lab/ns/robot01.mnt rw - nsfs nsfs rw
82 80 0:4 mnt:[4026532250] /var/lib/fleet-lab/ns/robot02.mnt rw - nsfs nsfs rw
83 22 0:50 / /var/lib/fleet-lab-cache/x rw - tmpfs tmpfs rw
84 22 0:51 / /var/lib/fleet-lab/with\\040space rw - tmpfs tmpfs rw
"""


def test_only_mounts_under_the_prefix_deepest_first():
    points = mounts_under(MOUNTINFO, Path("/var/lib/fleet-lab"))
    assert points == [
        "/var/lib/fleet-lab/ns/robot02.mnt",
        "/var/lib/fleet-lab/ns/robot01.mnt",
        "/var/lib/fleet-lab/with space",
        "/var/lib/fleet-lab/ns",
    ]


def test_a_sibling_with_a_common_prefix_is_not_under():
    assert "/var/lib/fleet-lab-cache/x" not in mounts_under(MOUNTINFO, Path("/var/lib/fleet-lab"))
