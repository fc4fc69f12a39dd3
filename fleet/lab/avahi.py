"""avahi-daemon configuration for one robot (pure: text in, text out).

Real Raspberry Pi OS and Jetson images run avahi with `publish-workstation`; Duckiebots
add one `_duckietown._tcp` service per fact, named `DT::<KEY>::<hostname>`, port 0,
whose TXT record is a single JSON string.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

DUCKIEBOT_CONFIGURATION = "DB21M"


def daemon_conf(hostname: str) -> str:
    return (
        "[server]\n"
        f"host-name={hostname}\n"
        "domain-name=local\n"
        "use-ipv4=yes\n"
        "use-ipv6=yes\n"
        "allow-interfaces=eth0\n"
        "enable-dbus=no\n"
        "[wide-area]\n"
        "enable-wide-area=no\n"
        "[publish]\n"
        "publish-workstation=yes\n"
        "publish-hinfo=no\n"
        "[reflector]\n"
        "[rlimits]\n"
    )


def service_file(name: str, service_type: str, port: int, txt: list[str] | None = None) -> str:
    records = "".join(f"<txt-record>{escape(t)}</txt-record>" for t in txt or [])
    return (
        '<?xml version="1.0" standalone="no"?>\n'
        '<!DOCTYPE service-group SYSTEM "avahi-service.dtd">\n'
        f"<service-group><name>{escape(name)}</name>"
        f"<service><type>{service_type}</type><port>{port}</port>{records}</service>"
        "</service-group>\n"
    )


def robot_services(hostname: str, duckiebot: bool) -> dict[str, str]:
    """File name -> content of every service the robot publishes besides the workstation."""
    services = {"ssh.service": service_file(hostname, "_ssh._tcp", 22)}
    if duckiebot:
        facts = {
            "PRESENCE": None,
            "ROBOT_TYPE": {"type": "duckiebot"},
            "ROBOT_CONFIGURATION": {"configuration": DUCKIEBOT_CONFIGURATION},
        }
        for key, value in facts.items():
            txt = [json.dumps(value)] if value is not None else []
            services[f"dt-{key.lower()}.service"] = service_file(
                f"DT::{key}::{hostname}", "_duckietown._tcp", 0, txt
            )
    return services
