"""Importing what the user's own `docker login` stored on this machine (I/O).

docker-py reads the file and asks the credential helpers, so fleet finds an account exactly
where `docker` (and every docker-py program) finds it: `DOCKER_CONFIG`, ~/.docker/config.json
or the legacy ~/.dockercfg; Docker Hub under any of its spellings (`docker.io`,
`index.docker.io`, `https://index.docker.io/v1/`); `credHelpers` for that registry, else
`credsStore`, else the `auths` entry. The helper gets the registry on stdin and answers on
stdout (`docker.credentials.Store`): the secret is never in an argument.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from docker import auth, credentials, errors
from docker.utils import config as docker_config

from fleet.credentials.names import display_name
from fleet.credentials.store import Credential
from fleet.errors import FleetError

_HELPER_SAID = 200  # characters of a failing helper's answer worth showing


def import_credential(registry: str) -> Credential:
    """The account `docker login` stored for `registry` (a config.json key, as
    `fleet.credentials.names.config_key` spells it)."""
    path = _config_path()
    config = _load(path)
    index = auth.resolve_index_name(registry)  # Docker Hub's URL -> docker.io, as docker-py wants
    helper = config.get_credential_store(index)
    if helper and shutil.which(credentials.PROGRAM_PREFIX + helper) is None:
        raise FleetError(
            f"{path} keeps {display_name(registry)}'s credential in "
            f"docker-credential-{helper}, which is not installed (not on PATH)"
        )
    found = _resolve(config, index, helper, path)
    return _credential(registry, found, path, helper)


def _config_path() -> Path:
    found = docker_config.find_config_file()
    if not found:
        where = docker_config.config_path_from_environment() or Path(
            docker_config.home_dir(), docker_config.DOCKER_CONFIG_FILENAME
        )
        raise FleetError(f"{where} does not exist: run docker login first")
    return Path(found)


def _load(path: Path) -> auth.AuthConfig:
    # docker-py takes a file that is not JSON for the legacy format and, failing that, for
    # an empty one: "no credential" would then hide the real problem.
    try:
        json.loads(path.read_text())
    except OSError as exc:
        raise FleetError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        if path.suffix == ".json":
            raise FleetError(f"{path} is not valid JSON: {exc}") from None
    try:
        return auth.load_config(str(path))
    except errors.InvalidConfigFile as exc:
        raise FleetError(f"{path}: {exc}") from None
    except (ValueError, TypeError, UnicodeError):  # never quote it: it holds secrets
        raise FleetError(
            f'{path}: an auths entry\'s "auth" is not base64 of user:password'
        ) from None


def _resolve(config: auth.AuthConfig, index: str, helper: str | None, path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # docker-py warns, on stderr, of a missing helper
        try:
            return config.resolve_authconfig(index)
        except errors.DockerException as exc:
            cause = exc.__cause__
            said = str(cause or exc).replace("\n", " ").strip()[:_HELPER_SAID]
            raise FleetError(
                f"docker-credential-{helper} (named in {path}) failed: {said}"
            ) from None
        except (ValueError, KeyError, TypeError):  # json.loads or data["Username"] in Store.get
            raise FleetError(
                f"docker-credential-{helper} (named in {path}) answered something that is not "
                "a credential"
            ) from None


def _credential(registry: str, found: Any, path: Path, helper: str | None) -> Credential:
    name = display_name(registry)
    if not found:  # None, or {} for an `auths` entry that leaves the secret to a helper
        where = f"docker-credential-{helper}, then auths" if helper else "auths"
        raise FleetError(f"{path} holds no credential for {name} (looked in {where})")
    if "IdentityToken" in found:
        raise FleetError(
            f"{path} holds an identity token for {name} (an OAuth refresh token from a browser "
            "login), which fleet cannot pass on to robots: log in with a user name and an "
            "access token (`docker login -u USER --password-stdin`) and import again, or use "
            "`fleet login --username USER`"
        )
    username = found.get("username") or found.get("Username")
    secret = found.get("password") or found.get("Password")
    if not username or not secret:
        raise FleetError(f"{path} has an entry for {name} without a user name or a password")
    return Credential(registry, str(username), str(secret))
