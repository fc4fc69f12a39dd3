"""Registry credentials: the local store, docker config.json edits, verification."""
