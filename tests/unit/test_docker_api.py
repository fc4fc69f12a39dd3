"""How fleet reaches a robot's Engine API, short of a robot (the lab tests have those)."""

from fleet.cli.pull import unencrypted_warning
from fleet.inventory.model import Host
from fleet.transport.docker_api import _ChannelAdapter, docker_host_url


class _Client:
    """Stands in for an authenticated paramiko client: the pool only asks for its transport."""

    def get_transport(self):
        return object()


def test_every_endpoint_shares_one_pool_so_one_dial_stdio():
    adapter = _ChannelAdapter(_Client(), timeout=5)
    pools = {
        id(adapter.get_connection(f"http+docker://ssh/v1.41/{path}"))
        for path in ("version", "distribution/x/json", "images/x/json", "images/create")
    }
    assert len(pools) == 1


def test_docker_host_defaults_to_ssh_and_takes_a_template():
    robot = Host("robot01.local", {"ansible_host": "198.18.0.11", "ansible_user": "duckie"})
    assert docker_host_url(robot) == "ssh://duckie@198.18.0.11"
    exposed = Host("robot02.local", {"fleet_docker_host": "tcp://{host}:2375"})
    assert docker_host_url(exposed) == "tcp://robot02.local:2375"


def test_only_a_tcp_robot_brings_the_unencrypted_warning():
    ssh = Host("robot01.local", {})
    tcp = Host("robot02.local", {"fleet_docker_host": "tcp://{host}:2375"})
    assert unencrypted_warning([ssh]) == []
    assert "not encrypted" in unencrypted_warning([ssh, tcp])[0]
