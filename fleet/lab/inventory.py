"""The lab's Ansible-YAML inventory: group `lab` with every robot, `duckiebots` with some."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from fleet.lab.spec import LabSpec

HEADER = (
    "Written by `fleet lab up`; the lab rewrites it on every `up`.\n"
    "An Ansible YAML inventory: `ansible-inventory -i FILE --list` reads it as fleet does.\n"
    "The lab key logs in as root; the robots' host keys are new and not yet trusted."
)


def render(spec: LabSpec, lab_key: Path) -> str:
    lab_hosts = CommentedMap()
    for robot in spec.robots:
        host_vars = CommentedMap()
        host_vars["ansible_host"] = robot.address
        host_vars["fleet_lab_profile"] = robot.profile
        lab_hosts[robot.hostname] = host_vars
    lab = CommentedMap()
    lab["vars"] = CommentedMap(
        [
            ("ansible_user", "root"),
            ("ansible_ssh_private_key_file", str(lab_key)),
            # What `fleet apply` makes every robot hold: the registry's read account and
            # dt-core, the per-arch tag and the multi-platform index.
            ("fleet_registries", CommentedMap([(spec.registry, "robot")])),
            (
                "fleet_images",
                [
                    f"{spec.registry}/duckietown/dt-core:daffy-{{arch}}",
                    f"{spec.registry}/duckietown/dt-core:daffy",
                ],
            ),
        ]
    )
    lab["hosts"] = lab_hosts
    children = CommentedMap([("lab", lab)])
    duckiebots = [r.hostname for r in spec.robots if r.duckiebot]
    if duckiebots:
        children["duckiebots"] = CommentedMap(
            [("hosts", CommentedMap((name, None) for name in duckiebots))]
        )
    document = CommentedMap([("all", CommentedMap([("children", children)]))])
    document.yaml_set_start_comment(HEADER)
    out = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.dump(document, out)
    return out.getvalue()
