"""Gathering: a robot's state over the run's one SSH connection, and what the registry
says of each reference it needs (I/O). Only what the desired state needs is asked.

Everything a robot or a registry says enters here and leaves as the typed values of
`fleet.tasks.state`: lists bounded, strings cut to length, wrong types dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fleet.become import become_for
from fleet.cache.deliver import CacheDelivery
from fleet.cache.service import PROXY
from fleet.credentials import dockerconfig
from fleet.credentials.names import display_name
from fleet.credentials.store import Credential
from fleet.inventory.model import Host
from fleet.platform import Platform
from fleet.reference import Reference
from fleet.registry import AuthRequired, NotFound, Rejected, Resolver, Unverifiable
from fleet.registry.model import PlatformManifest, ResolvedImage
from fleet.session import Session
from fleet.tasks import images as image_ops
from fleet.tasks.desired import DesiredState
from fleet.tasks.plan import (
    RegistryAnswer,
    Unresolved,
    chosen_manifest,
    secret_sha256,
    wanted_references,
)
from fleet.tasks.robot_config import ConfigFile, UserShell, helper_get, read_config
from fleet.tasks.state import (
    ConfigStatus,
    DiskFacts,
    DockerConfigFacts,
    DockerFacts,
    HeldCredential,
    HeldImage,
    RobotState,
    repositories,
)
from fleet.transport.docker_api import RobotDocker, docker_host_url, robot_docker
from fleet.transport.forward import RemoteForwards
from fleet.transport.ssh import Connection

log = logging.getLogger(__name__)

MAX_IMAGES = 5000  # a robot's image list; more is not a robot fleet manages
MAX_NAMES = 200  # tags or digests of one image
MAX_TEXT = 512


class Robot:
    """One robot's I/O for a run: its SSH connection and Docker API, each opened once."""

    def __init__(
        self,
        session: Session,
        host: Host,
        docker_user: str | None = None,
        on_reached: Callable[[], None] = lambda: None,
    ) -> None:
        self.session = session
        self.host = host
        self.docker_user = docker_user
        self.config_file: ConfigFile | None = None  # as gathered; the executor writes from it
        self._docker: RobotDocker | None = None
        self._forwards: RemoteForwards | None = None
        self._shell: UserShell | None = None
        self._on_reached = on_reached

    @property
    def conn(self) -> Connection:
        conn = self.session.connection(self.host)
        self._on_reached()
        return conn

    @property
    def shell(self) -> UserShell:
        """Where steps as the Docker user run (through sudo when the inventory says become)."""
        if self._shell is None:
            become = become_for(self.host.name, self.host.vars)
            self._shell = UserShell(
                self.conn, self.docker_user, become, self.session.become_password
            )
        return self._shell

    def docker(self) -> RobotDocker:
        if self._docker is None:
            tcp = docker_host_url(self.host).startswith("tcp://")
            self._docker = robot_docker(self.host, None if tcp else lambda: self.conn.transport)
            self._on_reached()
        return self._docker

    def forward(self, local_port: int) -> int:
        """A port on the robot's loopback leading to `local_port` here (`ssh -R`)."""
        if self._forwards is None:
            self._forwards = RemoteForwards(self.conn.transport, self.host.name)
        return self._forwards.open(local_port)

    def close(self) -> None:
        if self._docker is not None:
            self._docker.close()
            self._docker = None
        if self._forwards is not None:
            self._forwards.close()
            self._forwards = None


def gather(robot: Robot, desired: DesiredState) -> RobotState:
    state = RobotState(robot.host.name)
    if desired.images:
        api = robot.docker()
        state = RobotState(robot.host.name, docker=docker_facts(api), disk=disk_facts(api))
        names = repositories(wanted_references(desired, state))
        keep = any(image.keep is not None for image in desired.images)
        state = RobotState(
            state.host, state.docker, state.disk, held_images(api, names, containers=keep)
        )
    if desired.credentials:
        registries = [c.registry for c in desired.credentials]
        config = config_facts(robot, registries)
        state = RobotState(state.host, state.docker, state.disk, state.images, config)
    return state


def docker_facts(api: RobotDocker) -> DockerFacts:
    server = api.server
    arch = _text(server.get("Arch"))
    # The kernel only tells ARMv6 from ARMv7 under a 32-bit arm daemon: ask only then.
    kernel = _text(api.client.info().get("Architecture")) if arch == "arm" else None
    return DockerFacts(
        os=_text(server.get("Os")),
        arch=arch,
        version=_text(server.get("Version")),
        api_version=_text(server.get("ApiVersion")),
        kernel_arch=kernel,
    )


def disk_facts(api: RobotDocker) -> DiskFacts | None:
    disk = api.disk()
    if not disk:
        return None
    return DiskFacts(
        str(disk.get("data_root") or "/var/lib/docker")[:MAX_TEXT], disk.get("free_bytes")
    )


def held_images(
    api: RobotDocker, names: Iterable[str], *, containers: bool
) -> tuple[HeldImage, ...]:
    """The images the robot holds in these repositories, with platform and layers."""
    wanted = set(names)
    if not wanted:
        return ()
    listed = api.client.images() or []
    in_use: set[str] = set()
    if containers:
        in_use = {
            str(c.get("ImageID"))
            for c in api.client.containers(all=True) or []
            if isinstance(c, dict)
        }
    held = []
    for entry in listed[:MAX_IMAGES]:
        if not isinstance(entry, dict):
            continue
        names_held = _names(entry.get("RepoTags")) + _names(entry.get("RepoDigests"))
        if not any(_repository_of(name) in wanted for name in names_held):
            continue
        inspected = image_ops.inspect(api.client, str(entry.get("Id")))
        if inspected is not None:
            held.append(held_image(inspected, in_use))
    return tuple(held)


def held_image(inspected: Mapping[str, Any], in_use: set[str]) -> HeldImage:
    image_id = _text(inspected.get("Id")) or ""
    found = inspected.get("RootFS")
    rootfs: Mapping[str, Any] = found if isinstance(found, dict) else {}
    return HeldImage(
        id=image_id,
        repo_tags=tuple(_names(inspected.get("RepoTags"))),
        repo_digests=tuple(_names(inspected.get("RepoDigests"))),
        platform=Platform.from_mapping(inspected),
        created=_text(inspected.get("Created")) or "",
        layers=tuple(_names(rootfs.get("Layers"))),
        in_use=image_id in in_use,
    )


def _repository_of(name: str) -> str:
    if "@" in name:
        return name.partition("@")[0]
    return name.rpartition(":")[0] if ":" in name.rsplit("/", 1)[-1] else name


def _names(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v[:MAX_TEXT] for v in value[:MAX_NAMES] if isinstance(v, str) and v != "<none>:<none>"]


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


# -- the Docker user's config.json --


def config_facts(robot: Robot, registries: Iterable[str]) -> DockerConfigFacts:
    file = read_config(robot.shell)
    robot.config_file = file
    if file.unsafe:
        return DockerConfigFacts(file.path, ConfigStatus.UNSAFE, problem=file.unsafe)
    try:
        config = dockerconfig.parse(file.text or "")
    except dockerconfig.CorruptConfig as exc:
        return DockerConfigFacts(file.path, ConfigStatus.CORRUPT, file.sha256, problem=str(exc))
    status = ConfigStatus.MISSING if file.text is None else ConfigStatus.OK
    held = [
        HeldCredential(
            registry[:MAX_TEXT],
            user[:MAX_TEXT],
            secret_sha256(secret) if secret is not None else None,
        )
        for registry, user, secret in dockerconfig.held_accounts(config)
    ]
    facts = DockerConfigFacts(
        file.path,
        status,
        file.sha256,
        creds_store=_text(config.get("credsStore")),
        cred_helpers=tuple(
            (str(name)[:MAX_TEXT], helper[:MAX_TEXT])
            for name, helper in (config.get("credHelpers") or {}).items()
            if isinstance(helper, str) and helper
        )
        if isinstance(config.get("credHelpers"), dict)
        else (),
    )
    for registry in registries:
        helper = facts.helper_for(registry)
        if helper:
            got = helper_get(robot.shell, helper, registry)
            if got is not None:
                held.append(HeldCredential(registry, got[0], secret_sha256(got[1]), via=helper))
    return DockerConfigFacts(
        facts.path,
        facts.status,
        facts.sha256,
        credentials=tuple(held),
        creds_store=facts.creds_store,
        cred_helpers=facts.cred_helpers,
    )


# -- what the registry says --

CredentialFor = Callable[[Reference], Credential | None]


class RegistryView:
    """What each reference points to, for each robot's platform: asked of the registry from
    this machine (per-platform manifests, image IDs, download sizes; once per run, however
    many robots ask), or of the robot's own daemon when this machine cannot reach the
    registry (it then says less: no sizes, no per-platform digests)."""

    def __init__(self, ca_cert: Path | None = None, resolver: Resolver | None = None) -> None:
        self.resolver = resolver or Resolver(ca_cert)
        self.platforms = image_ops.ImagePlatforms(ca_cert)
        self._daemon_answers: dict[tuple[str, str | None], RegistryAnswer] = {}
        self._locks: dict[tuple[str, str | None], threading.Lock] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        self.resolver.close()

    def __enter__(self) -> RegistryView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answers(
        self,
        robot: Robot,
        references: Iterable[Reference],
        credential_for: CredentialFor,
        platform: Platform | None,
        cache: CacheDelivery | None = None,
    ) -> dict[str, RegistryAnswer]:
        return {
            str(ref): self.answer(robot, ref, credential_for(ref), platform, cache)
            for ref in references
        }

    def answer(
        self,
        robot: Robot,
        ref: Reference,
        credential: Credential | None,
        platform: Platform | None,
        cache: CacheDelivery | None = None,
    ) -> RegistryAnswer:
        """With `cache`, asked of the pull-through cache: it asks upstream when it can, and
        answers from what it holds when it cannot (robots in the field)."""
        asked, account, details = ref, credential, (ref, credential)
        offline = False
        if cache is not None and not ref.digest:
            instance, _ = cache.cache_for(ref.registry_key, credential)
            asked, account = Reference(instance.address, ref.repository, ref.tag), None
            # The platform's manifest and config from upstream while it answers: through
            # the proxy, a blob it lacks would cross the uplink twice.
            offline = instance.mode != PROXY
            details = (asked, account) if offline else (ref, credential)
        try:
            resolved = self.resolver.resolve(asked, account)
            return self._with_platform_details(*details, resolved, platform)
        except AuthRequired:
            registry = display_name(ref.registry_key)
            return Unresolved(f"authentication required for {registry}; run fleet login {registry}")
        except Rejected as exc:
            return Unresolved(
                f"authentication required for {display_name(ref.registry_key)}: {exc}"
            )
        except NotFound as exc:
            if offline:
                return Unresolved(
                    f"the cache does not hold {ref} for this robot's platform and its upstream "
                    "is offline (warm it while the upstream answers: fleet cache warm)"
                )
            return Unresolved(f"{ref}: not found in the registry ({exc})")
        except Unverifiable as exc:
            log.debug("asking the robot's daemon about %s: %s", ref, exc)
            return self._daemon_answer(robot, ref, credential)

    def _with_platform_details(
        self,
        ref: Reference,
        credential: Credential | None,
        resolved: ResolvedImage,
        platform: Platform | None,
    ) -> ResolvedImage:
        """The index with the robot's entry filled in (image ID, layers, sizes)."""
        if platform is None or not resolved.is_index:
            return resolved
        entry = chosen_manifest(resolved, platform)
        if entry is None or entry.digest is None:
            return resolved
        detailed = self.resolver.platform_manifest(ref, credential, entry.digest)
        manifests = tuple(detailed if m is entry else m for m in resolved.manifests)
        return replace(resolved, manifests=manifests)

    def _daemon_answer(
        self, robot: Robot, ref: Reference, credential: Credential | None
    ) -> RegistryAnswer:
        key = (str(ref), _identity(credential))
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._daemon_answers:
                return self._daemon_answers[key]
            answer = self._ask_daemon(robot, ref, credential)
            if isinstance(answer, ResolvedImage):
                self._daemon_answers[key] = answer
            return answer

    def _ask_daemon(
        self, robot: Robot, ref: Reference, credential: Credential | None
    ) -> RegistryAnswer:
        """The robot's own daemon asks the registry (`docker manifest inspect` through the
        Engine API): it reaches registries this machine may not, with the robot's trust."""
        try:
            descriptor = image_ops.inspect_distribution(robot.docker().client, ref, credential)
        except image_ops.ImageError as exc:
            return Unresolved(str(exc))
        media_type = str(descriptor["Descriptor"].get("mediaType") or "")
        digest = str(descriptor["Descriptor"]["digest"])
        platforms = [
            Platform.from_mapping(p)
            for p in descriptor.get("Platforms") or []
            if isinstance(p, dict)
        ]
        resolved = ResolvedImage(ref.registry, ref.repository, ref.tag, digest, media_type, ())
        if resolved.is_index:
            entries = tuple(PlatformManifest(p, None) for p in platforms)
        else:
            if not platforms:
                # Docker 20.10 does not say a single manifest's platform; its config blob does.
                seen = self.platforms.of(ref, digest, credential)
                if isinstance(seen, str):
                    return Unresolved(seen)
                platforms = [seen]
            entries = (PlatformManifest(platforms[0], digest),)
        return replace(resolved, manifests=entries)


def _identity(credential: Credential | None) -> str | None:
    if credential is None:
        return None
    return f"{credential.registry}|{credential.username}|{secret_sha256(credential.secret)}"
