"""Image references as `docker pull` reads them, and their per-robot forms (pure).

`[registry[:port]/][namespace/.../]name[:tag][@sha256:digest]`; a first component with
a dot, a colon or `localhost` is a registry, otherwise Docker Hub (`library/` for one
name). `{arch}` in a reference becomes the robot's variant (`dt-core:daffy-{arch}`), and
`--arch-suffix` appends `-VARIANT` to the tag (the Duckietown convention).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from fleet.credentials.names import DOCKER_HUB_KEY

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_HOST = re.compile(r"(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?")


class BadReference(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    registry: str  # "docker.io" for Docker Hub
    repository: str  # e.g. duckietown/dt-core, library/ubuntu
    tag: str | None = None
    digest: str | None = None

    @property
    def registry_key(self) -> str:
        """The registry as config.json and fleet's store name it."""
        return DOCKER_HUB_KEY if self.registry == "docker.io" else self.registry

    @property
    def name(self) -> str:
        """What `docker pull` and the Engine API call the repository."""
        if self.registry == "docker.io":
            short = self.repository.removeprefix("library/")
            if "/" not in short:
                return short
            # `my.org/x` would name the registry my.org: keep Docker Hub's name in front.
            first = self.repository.split("/", 1)[0]
            looks_like_registry = "." in first or ":" in first or first == "localhost"
            return f"docker.io/{self.repository}" if looks_like_registry else self.repository
        return f"{self.registry}/{self.repository}"

    @property
    def pull_tag(self) -> str:
        """The tag argument of the API's pull: the digest when there is one."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = self.name
        if self.tag or not self.digest:
            text += f":{self.tag or 'latest'}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse(text: str) -> Reference:
    original = text
    text = text.strip()
    if not text or any(c.isspace() for c in text):
        raise BadReference(f"{original!r} is not an image reference")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise BadReference(f"{original!r}: a digest is sha256: and 64 lowercase hex digits")
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise BadReference(f"{original!r}: bad tag {tag!r}")
    parts = text.split("/")
    registry = "docker.io"
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry = parts.pop(0)
        if not _HOST.fullmatch(registry):
            raise BadReference(f"{original!r}: bad registry {registry!r}")
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = "docker.io"
    if not parts or not all(_COMPONENT.fullmatch(p) for p in parts):
        raise BadReference(
            f"{original!r}: repository names are lowercase letters, digits and . _ - separators"
        )
    repository = "/".join(parts)
    if registry == "docker.io" and len(parts) == 1:
        repository = f"library/{repository}"
    if len(repository) > 255:
        raise BadReference(f"{original!r}: the repository name is too long")
    return Reference(registry, repository, tag, digest)


def check_template(text: str, arch_suffix: bool) -> None:
    """Fail before any robot is contacted when no variant could make a valid reference."""
    for variant in ("arm32v7", "arm64v8", "amd64"):
        for_robot(text, variant, arch_suffix)


def for_robot(text: str, variant: str, arch_suffix: bool) -> Reference:
    """The reference a robot of `variant` pulls."""
    if "{arch}" in text:
        text = text.replace("{arch}", variant)
    elif "{" in text or "}" in text:
        raise BadReference(f"{text!r}: the only placeholder is {{arch}}")
    reference = parse(text)
    if arch_suffix:
        if reference.digest:
            raise BadReference(f"{text!r}: --arch-suffix needs a tag, not a digest")
        reference = replace(reference, tag=f"{reference.tag or 'latest'}-{variant}")
        if not _TAG.fullmatch(reference.tag or ""):
            raise BadReference(f"{text!r}: the tag with -{variant} is over 128 characters")
    return reference
