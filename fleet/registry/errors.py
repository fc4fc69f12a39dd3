"""What can go wrong when fleet asks a registry, and how a registry's words are shown (pure).

Every message says what was asked and where; none holds a secret or a token. Text that
came from the registry (error messages, headers) is hostile: it is cut short and its
control characters are escaped before it reaches a message.
"""

from __future__ import annotations

REMOTE_TEXT_LIMIT = 200


class RegistryError(Exception):
    """Base of the registry errors; never raised itself."""


class Unverifiable(RegistryError):
    """The registry could not be asked (network, TLS, 5xx, odd answers, a refused redirect)."""


class Rejected(RegistryError):
    """The registry refused this account (401/403 after authenticating with it)."""


class AuthRequired(RegistryError):
    """The registry wants an account and none was given."""


class NotFound(RegistryError):
    """No such repository, tag or digest (404, MANIFEST_UNKNOWN, NAME_UNKNOWN)."""


def remote_text(text: str | bytes, limit: int = REMOTE_TEXT_LIMIT) -> str:
    """`text` from a registry made safe to print: control characters escaped, at most
    `limit` characters (an ellipsis says when it was cut)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    shown = "".join(_escape(c) for c in text[:limit])
    return shown + ("…" if len(text) > limit else "")


def _escape(char: str) -> str:
    if char.isprintable() or char == " ":
        return char
    return char.encode("unicode_escape").decode("ascii")
