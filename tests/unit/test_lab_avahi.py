import json
import xml.etree.ElementTree as ET

from fleet.lab import avahi


def _parse(xml_text):
    root = ET.fromstring(xml_text.split("\n", 2)[2])  # past the XML and DOCTYPE lines
    service = root.find("service")
    return {
        "name": root.findtext("name"),
        "type": service.findtext("type"),
        "port": int(service.findtext("port")),
        "txt": [t.text for t in service.findall("txt-record")],
    }


def test_plain_robot_publishes_ssh_only():
    services = avahi.robot_services("robot02", duckiebot=False)
    assert list(services) == ["ssh.service"]
    assert _parse(services["ssh.service"]) == {
        "name": "robot02",
        "type": "_ssh._tcp",
        "port": 22,
        "txt": [],
    }


def test_duckiebot_publishes_the_duckietown_records():
    parsed = [_parse(x) for x in avahi.robot_services("robot01", duckiebot=True).values()]
    dt = {p["name"]: p for p in parsed if p["type"] == "_duckietown._tcp"}
    assert set(dt) == {
        "DT::PRESENCE::robot01",
        "DT::ROBOT_TYPE::robot01",
        "DT::ROBOT_CONFIGURATION::robot01",
    }
    assert all(p["port"] == 0 for p in dt.values())
    # One TXT string holding JSON, as real Duckiebots publish it.
    assert [json.loads(t) for t in dt["DT::ROBOT_TYPE::robot01"]["txt"]] == [{"type": "duckiebot"}]
    assert [json.loads(t) for t in dt["DT::ROBOT_CONFIGURATION::robot01"]["txt"]] == [
        {"configuration": "DB21M"}
    ]


def test_daemon_conf_names_the_robot_and_keeps_to_its_interface():
    conf = avahi.daemon_conf("robot07")
    assert "host-name=robot07\n" in conf
    assert "allow-interfaces=eth0\n" in conf
    assert "enable-dbus=no\n" in conf
    assert "publish-workstation=yes\n" in conf
