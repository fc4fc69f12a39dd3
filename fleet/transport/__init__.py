"""Reaching robots: SSH connections (and, over them, the robots' Docker daemons)."""
