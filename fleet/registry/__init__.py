"""Talking to container registries from this machine: accounts, manifests, platforms."""
