"""Which certificates fleet trusts for a registry: what `docker login` on this machine
trusts, plus `--ca-cert`."""

from __future__ import annotations

import ssl
from pathlib import Path

from fleet.credentials.names import api_host

DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")


def docker_ca_file(registry_key: str, certs_dir: Path = DOCKER_CERTS_DIR) -> Path | None:
    """`/etc/docker/certs.d/HOST[:PORT]/ca.crt`, where Docker looks for a registry's CA."""
    host = api_host(registry_key)
    if not host or "/" in host or host.startswith("."):
        return None
    path = certs_dir / host / "ca.crt"
    return path if path.is_file() else None


def ssl_context(ca_cert: Path | None, registry_key: str) -> ssl.SSLContext:
    """The system store plus `ca_cert` plus Docker's CA for this registry; always verifying."""
    context = ssl.create_default_context()
    for extra in (ca_cert, docker_ca_file(registry_key)):
        if extra is not None:
            context.load_verify_locations(cafile=str(extra))
    return context
