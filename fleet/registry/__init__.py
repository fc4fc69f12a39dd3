"""Talking to image registries from this machine: checking an account, and what an image
reference points to, per platform (digests, image IDs, download sizes)."""

from fleet.registry.cache import ContentCache, default_cache_dir
from fleet.registry.challenge import Challenge, parse_challenge
from fleet.registry.client import Answer, RegistryClient, basic_auth, verify
from fleet.registry.errors import AuthRequired, NotFound, RegistryError, Rejected, Unverifiable
from fleet.registry.model import Layer, PlatformManifest, ResolvedImage
from fleet.registry.resolve import Resolver, manifest_platform

__all__ = [
    "Answer",
    "AuthRequired",
    "Challenge",
    "ContentCache",
    "Layer",
    "NotFound",
    "PlatformManifest",
    "RegistryClient",
    "RegistryError",
    "Rejected",
    "ResolvedImage",
    "Resolver",
    "Unverifiable",
    "basic_auth",
    "default_cache_dir",
    "manifest_platform",
    "parse_challenge",
    "verify",
]
