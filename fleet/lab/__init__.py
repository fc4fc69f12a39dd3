"""`fleet lab`: a simulated fleet of robots on one Linux machine.

Each robot is a network namespace on a private bridge with its own copy-on-write root
filesystem, running a real sshd, a real Docker Engine and a real avahi-daemon. A real
Distribution registry with TLS and htpasswd accounts sits on the bridge.
"""
