"""Test dependencies' own commands: where they are, and how the tests run them."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ANSIBLE_INVENTORY = shutil.which(
    "ansible-inventory", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
)


def ansible_list(path: Path) -> dict:
    """What `ansible-inventory -i PATH --list` makes of an inventory file."""
    env = {**os.environ, "ANSIBLE_LOCAL_TEMP": str(path.parent / "ansible-tmp")}
    env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    done = subprocess.run(
        [ANSIBLE_INVENTORY, "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
