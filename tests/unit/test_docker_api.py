"""How fleet reaches a robot's Engine API, short of a robot (the lab tests have those).

The contract test runs docker-py's real APIClient, requests and urllib3 over fleet's
adapter against a small HTTP server on a socket pair: it fails when a new docker-py,
requests or urllib3 stops taking the adapter the way fleet gives it.
"""

import json
import socket
import threading

from fleet.cli.pull import unencrypted_warning
from fleet.inventory.model import Host
from fleet.transport.docker_api import DIAL_STDIO, docker_host_url, robot_docker


class FakeChannel(socket.socket):
    """One end of a socket pair, answering the few calls fleet makes of an SSH channel."""

    commands: list[str]

    def exec_command(self, command):
        self.commands.append(command)

    def recv_stderr_ready(self):
        return False

    def exit_status_ready(self):
        return False


def serve(sock, answers, seen):
    """A keep-alive HTTP/1.1 server for one connection: path -> JSON answer."""
    buffer = b""
    with sock:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1].decode()
            seen.append(path)
            body = json.dumps(answers.get(path.split("?")[0], {"message": "no"})).encode()
            status = b"200 OK" if path.split("?")[0] in answers else b"404 Not Found"
            sock.sendall(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )


def test_the_engine_api_runs_over_one_dial_stdio_channel_at_the_daemons_version():
    server_end, client_end = socket.socketpair()
    channel = FakeChannel(fileno=client_end.detach())
    channel.commands = []
    opened = []

    class Transport:
        def open_session(self, timeout=None):
            opened.append(timeout)
            return channel

    answers = {
        "/version": {"ApiVersion": "1.41", "Arch": "arm", "Os": "linux"},
        "/v1.41/images/json": [{"Id": "sha256:abc", "RepoTags": ["a:b"]}],
        "/v1.41/images/a:b/json": {"Id": "sha256:abc", "Architecture": "arm"},
    }
    seen = []
    server = threading.Thread(target=serve, args=(server_end, answers, seen))
    server.start()
    try:
        api = robot_docker(Host("robot01.local", {}), lambda: Transport(), timeout=5)
        assert api.server["Arch"] == "arm"
        assert api.client.api_version == "1.41"
        assert api.client.images()[0]["Id"] == "sha256:abc"
        assert api.client.inspect_image("a:b")["Architecture"] == "arm"
        assert api.disk(timeout=0.05) is None  # this channel says nothing on stderr
        api.close()
    finally:
        channel.close()
        server.join(5)
    assert len(opened) == 1, "one channel for every endpoint: one dial-stdio on the robot"
    assert channel.commands[0].startswith("sh -c ") and DIAL_STDIO in channel.commands[0]
    assert seen == ["/version", "/v1.41/images/json?only_ids=0&all=0", "/v1.41/images/a:b/json"]


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
