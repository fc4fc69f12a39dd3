"""Where the test dependencies' own commands are: beside this interpreter, or on PATH."""

import os
import shutil
import sys
from pathlib import Path

ANSIBLE_INVENTORY = shutil.which(
    "ansible-inventory", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
)
