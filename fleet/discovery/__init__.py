"""Finding robots on the LAN over mDNS."""
