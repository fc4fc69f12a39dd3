"""fleet: provision fleets of Raspberry Pi and Jetson robots from one laptop."""

__version__ = "0.1.0"
