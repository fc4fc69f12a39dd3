"""Facts about a robot: each one a shell command and a pure parser of its output."""
