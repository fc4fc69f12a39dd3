from pathlib import Path

from fleet.lab import inventory, spec
from tests.unit.tools import ansible_list

REPO = Path(__file__).resolve().parents[2]
LAB_KEY = Path("/var/lib/fleet-lab/id_ed25519")


def test_repo_example_is_what_the_default_lab_writes():
    rendered = inventory.render(spec.plan(robots=3, duckiebots=1), LAB_KEY)
    assert (REPO / "inventory" / "lab.yaml").read_text() == rendered


def test_ansible_reads_the_lab_inventory_with_the_same_hosts_and_vars(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(inventory.render(spec.plan(robots=4, duckiebots=2), LAB_KEY))
    listed = ansible_list(path)
    assert listed["lab"]["hosts"] == [f"robot0{i}.local" for i in range(1, 5)]
    assert listed["duckiebots"]["hosts"] == ["robot01.local", "robot02.local"]
    robot3 = listed["_meta"]["hostvars"]["robot03.local"]
    assert robot3 == {
        "ansible_host": "198.18.0.13",
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(LAB_KEY),
        "fleet_lab_profile": "amd64",
        "fleet_registries": {"198.18.0.1:5000": "robot"},
        "fleet_images": [
            "198.18.0.1:5000/duckietown/dt-core:daffy-{arch}",
            "198.18.0.1:5000/duckietown/dt-core:daffy",
        ],
    }
