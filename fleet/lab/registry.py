"""The lab's registry: the Distribution registry with TLS from the lab CA and htpasswd accounts."""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from fleet.files import write_file
from fleet.lab import pki, procs
from fleet.lab.paths import LabPaths
from fleet.lab.sh import LabError

# A publisher pushes the demo images; robots get the read account, as a site would.
ACCOUNTS = ("publisher", "robot")


@dataclass(frozen=True)
class RegistryAccounts:
    registry: str
    passwords: dict[str, str]

    def save(self, path: Path) -> None:
        data = json.dumps({"registry": self.registry, "accounts": self.passwords}, indent=2)
        write_file(path, data + "\n")

    @classmethod
    def load(cls, path: Path) -> RegistryAccounts:
        data = json.loads(path.read_text())
        return cls(registry=data["registry"], passwords=data["accounts"])


def write_authfile(path: Path, accounts: RegistryAccounts, user: str) -> None:
    """A containers-auth.json (docker config.json shape) for tools such as skopeo."""
    token = base64.b64encode(f"{user}:{accounts.passwords[user]}".encode()).decode()
    write_file(path, json.dumps({"auths": {accounts.registry: {"auth": token}}}))


def htpasswd_lines(passwords: dict[str, str]) -> str:
    """The registry's htpasswd file: bcrypt only, the one scheme it accepts."""
    return "".join(
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=10)).decode()}\n"
        for user, pw in passwords.items()
    )


def registry_config(paths: LabPaths, listen: str) -> dict[str, object]:
    reg = paths.registry_dir
    return {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(reg / "data")},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": listen,
            "tls": {"certificate": str(reg / "server.crt"), "key": str(reg / "server.key")},
        },
        "auth": {"htpasswd": {"realm": "fleet-lab", "path": str(reg / "htpasswd")}},
    }


def prepare(paths: LabPaths, address: str, port: int) -> RegistryAccounts:
    """Write the CA, certificate, accounts and config; return the accounts."""
    reg = paths.registry_dir
    (reg / "data").mkdir(parents=True, exist_ok=True)
    pki.make_ca_and_server_cert(reg, address)
    accounts = RegistryAccounts(
        registry=f"{address}:{port}",
        passwords={user: secrets.token_urlsafe(18) for user in ACCOUNTS},
    )
    accounts.save(paths.credentials)
    (reg / "htpasswd").write_text(htpasswd_lines(accounts.passwords))
    # JSON is YAML, so the registry reads this as its config file.
    (reg / "config.yml").write_text(json.dumps(registry_config(paths, f"{address}:{port}")))
    return accounts


def start(paths: LabPaths) -> int:
    reg = paths.registry_dir
    pid = procs.start_detached(
        ["docker-registry", "serve", str(reg / "config.yml")], reg / "registry.log"
    )
    (reg / "registry.pid").write_text(f"{pid}\n")
    return pid


def running_pid(paths: LabPaths) -> int | None:
    try:
        pid = int((paths.registry_dir / "registry.pid").read_text())
    except (OSError, ValueError):
        return None
    if procs.alive(pid) and "docker-registry" in " ".join(procs.cmdline(pid)):
        return pid
    return None


def v2_status(paths: LabPaths, registry: str, auth: tuple[str, str] | None = None) -> int | None:
    """HTTP status of GET /v2/ (401 without an account, 200 with one); None if no answer."""
    context = ssl.create_default_context(cafile=str(paths.ca_cert))
    request = urllib.request.Request(f"https://{registry}/v2/")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ssl.SSLError):
        return None


def wait_ready(paths: LabPaths, registry: str, timeout: float = 20) -> None:
    if not procs.wait_for(lambda: v2_status(paths, registry) == 401, timeout):
        raise LabError(
            f"the lab registry did not answer on https://{registry}/v2/ within {timeout:g} s; "
            f"see {paths.registry_dir / 'registry.log'}"
        )
