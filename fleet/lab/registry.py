"""The lab's registry: the Distribution registry with TLS from the lab CA and htpasswd accounts."""

from __future__ import annotations

import base64
import functools
import json
import secrets
import shutil
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from fleet import procs
from fleet.files import write_file
from fleet.lab import pki, tokenauth
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


def _config(root: Path, listen: str, tls: Path, auth: dict[str, object]) -> dict[str, object]:
    """A Distribution config: filesystem storage under `root`, TLS from `tls` (server.crt,
    server.key), access log on (tests count requests in it)."""
    return {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": listen,
            "tls": {"certificate": str(tls / "server.crt"), "key": str(tls / "server.key")},
        },
        "auth": auth,
    }


def registry_config(paths: LabPaths, listen: str) -> dict[str, object]:
    reg = paths.registry_dir
    return _config(
        reg, listen, reg, {"htpasswd": {"realm": "fleet-lab", "path": str(reg / "htpasswd")}}
    )


# The registry that plays Docker Hub: token auth, public and private repositories.
HUB_SERVICE = "fleet-lab-hub"  # Docker Hub's is registry.docker.io
HUB_ISSUER = "fleet-lab-token"
HUB_PUBLIC = ("duckietown/*", "demo/*", "library/*")  # anyone pulls; any other is private
HUB_PUBLISHERS = ("publisher",)


def token_registry_config(
    root: Path, listen: str, tls: Path, *, realm: str, rootcertbundle: Path
) -> dict[str, object]:
    """Distribution in token mode: it trusts tokens signed by the certificate in
    `rootcertbundle` and sends clients to `realm` for them."""
    token = {
        "realm": realm,
        "service": HUB_SERVICE,
        "issuer": HUB_ISSUER,
        "rootcertbundle": str(rootcertbundle),
    }
    return _config(root, listen, tls, {"token": token})


def prepare_hub(
    directory: Path, address: str, port: int, token_port: int, passwords: dict[str, str], tls: Path
) -> RegistryAccounts:
    """Write a token-mode registry's config and its token service's into `directory`.

    `tls` holds server.crt and server.key for `address` (the htpasswd registry's serve: a
    certificate names an address, not a port), so robots trust both through one CA.
    """
    (directory / "data").mkdir(parents=True, exist_ok=True)
    signer_cert, signer_key = pki.make_token_signer(directory)
    (directory / "htpasswd").write_text(htpasswd_lines(passwords))
    token_listen = f"{address}:{token_port}"
    service = tokenauth.TokenConfig(
        listen=token_listen,
        certificate=tls / "server.crt",
        key=tls / "server.key",
        signing_certificate=signer_cert,
        signing_key=signer_key,
        issuer=HUB_ISSUER,
        service=HUB_SERVICE,
        htpasswd=directory / "htpasswd",
        public=HUB_PUBLIC,
        publishers=HUB_PUBLISHERS,
        log=directory / "tokenauth-requests.log",
    )
    write_file(directory / "tokenauth.json", service.to_json())
    config = token_registry_config(
        directory,
        f"{address}:{port}",
        tls,
        realm=f"https://{token_listen}/token",
        rootcertbundle=signer_cert,
    )
    (directory / "config.yml").write_text(json.dumps(config))
    return RegistryAccounts(registry=f"{address}:{port}", passwords=dict(passwords))


def start_hub(directory: Path, netns: str | None = None) -> tuple[int, int]:
    """Start the token service, then the registry that sends clients to it, in network
    namespace `netns` if given; (registry pid, token service pid), also written to
    registry.pid and tokenauth.pid."""
    enter = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
    token_pid = procs.start_detached(
        [
            *enter,
            sys.executable,
            "-m",
            "fleet.lab.tokenauth",
            "--config",
            str(directory / "tokenauth.json"),
        ],
        directory / "tokenauth.log",
    )
    registry_pid = procs.start_detached(
        [*enter, "docker-registry", "serve", str(directory / "config.yml")],
        directory / "registry.log",
    )
    (directory / "tokenauth.pid").write_text(f"{token_pid}\n")
    (directory / "registry.pid").write_text(f"{registry_pid}\n")
    return registry_pid, token_pid


def prepare(paths: LabPaths, address: str, port: int, *others: str) -> RegistryAccounts:
    """Write the CA, certificate (for `address` and the `others` that serve with it),
    accounts and config; return the accounts."""
    reg = paths.registry_dir
    (reg / "data").mkdir(parents=True, exist_ok=True)
    pki.make_ca_and_server_cert(reg, address, *others)
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


def running_hub_pids(directory: Path) -> list[int]:
    """The hub's registry and token service that still run, from their pid files (checked
    against their command lines: a pid may have been reused)."""
    found = []
    for pid_file, marker in (("registry.pid", "docker-registry"), ("tokenauth.pid", "tokenauth")):
        try:
            pid = int((directory / pid_file).read_text())
        except (OSError, ValueError):
            continue
        if procs.alive(pid) and marker in " ".join(procs.cmdline(pid)):
            found.append(pid)
    return found


# A private repository on the hub (an account is needed to pull it): the dt-core images.
PRIVATE_COPIES = {"private/dt-core": "duckietown/dt-core"}


def copy_storage(source: Path, target: Path) -> None:
    """The hub starts with what the lab registry holds (both are Distribution's filesystem
    storage: copying is instant where pushing again would take a while), and a private
    repository besides."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    repositories = target / "docker" / "registry" / "v2" / "repositories"
    for private, public in PRIVATE_COPIES.items():
        shutil.copytree(repositories / public, repositories / private, dirs_exist_ok=True)


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
    return https_status(f"https://{registry}/v2/", paths.ca_cert, auth)


def _answers_with(url: str, status: int, ca_cert: Path) -> bool:
    return https_status(url, ca_cert) == status


def https_status(url: str, ca_cert: Path, auth: tuple[str, str] | None = None) -> int | None:
    """HTTP status of GET `url`, trusting `ca_cert`; None if no answer."""
    context = ssl.create_default_context(cafile=str(ca_cert))
    request = urllib.request.Request(url)
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


def wait_hub_ready(directory: Path, ca_cert: Path, timeout: float = 20) -> None:
    """Until the token service hands out an anonymous token and the registry answers 401."""
    config = json.loads((directory / "config.yml").read_text())
    token = config["auth"]["token"]
    checks = {
        f"{token['realm']}?service={token['service']}": 200,
        f"https://{config['http']['addr']}/v2/": 401,
    }
    for url, status in checks.items():
        if not procs.wait_for(functools.partial(_answers_with, url, status, ca_cert), timeout):
            raise LabError(
                f"{url} did not answer {status} within {timeout:g} s; see the logs in {directory}"
            )
