"""What fleet takes from docker-py and urllib3 beyond their public interfaces.

fleet/transport/docker_api.py points an APIClient at its own adapter by setting
`base_url` (read by docker-py's private `_url`), and keeps one HTTP connection per robot
by overriding urllib3's private `HTTPConnectionPool._get_conn` and `_new_conn`.
pyproject.toml caps both packages below their next major version; these tests fail when
an installed version no longer has what fleet reaches for, so a cap is lifted only when
they pass. (tests/unit/test_docker_api.py runs it all end to end.)
"""

from __future__ import annotations

import inspect
import queue
import re
from importlib.metadata import version
from pathlib import Path

import docker
import docker.constants
import requests
import requests.adapters
import urllib3.connectionpool
from packaging.requirements import Requirement

from fleet.transport.docker_api import BASE_URL, _client

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def declared(name: str) -> Requirement:
    """The requirement pyproject.toml declares for `name`."""
    for line in re.findall(r'^\s*"([^"]+)",', PYPROJECT.read_text(), re.MULTILINE):
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"{name} is not a dependency in {PYPROJECT}")


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_the_installed_docker_and_urllib3_are_within_the_declared_caps():
    for name in ("docker", "urllib3"):
        requirement = declared(name)
        assert any(spec.operator == "<" for spec in requirement.specifier), f"{name}: no cap"
        assert requirement.specifier.contains(version(name)), (name, version(name))


def test_docker_py_builds_every_url_from_the_base_url_fleet_sets():
    client = _client("unused", "1.41", 5, requests.adapters.HTTPAdapter())
    try:
        assert isinstance(client, docker.APIClient)
        assert isinstance(client, requests.Session)  # mount() and adapters are requests'
        assert client.base_url == BASE_URL
        assert parameters(docker.APIClient._url)[:2] == ["self", "pathfmt"]
        assert client._url("/images/{0}/json", "a:b") == f"{BASE_URL}/v1.41/images/a:b/json"
        assert client._url("/version", versioned_api=False) == f"{BASE_URL}/version"
        assert set(client.adapters) == {BASE_URL}  # docker-py's own http(s) ones are gone
    finally:
        client.close()


def test_docker_py_names_the_api_version_it_speaks():
    assert re.fullmatch(r"\d+\.\d+", docker.constants.DEFAULT_DOCKER_API_VERSION)


def test_urllib3_takes_connections_through_the_pool_methods_fleet_overrides():
    pool_class = urllib3.connectionpool.HTTPConnectionPool
    assert parameters(pool_class._new_conn) == ["self"]
    assert parameters(pool_class._get_conn) == ["self", "timeout"]
    assert "self._get_conn(" in inspect.getsource(pool_class.urlopen)
    assert "self._new_conn()" in inspect.getsource(pool_class._get_conn)
    pool = pool_class("localhost", maxsize=1)
    try:
        # fleet's _get_conn takes from `pool` without blocking, and expects queue.Empty
        # (or the None urllib3 fills it with) when there is no connection to reuse.
        assert isinstance(pool.pool, queue.LifoQueue)
        assert pool.pool.get(block=False) is None
        try:
            pool.pool.get(block=False)
        except queue.Empty:
            pass
        else:
            raise AssertionError("an empty urllib3 pool no longer raises queue.Empty")
    finally:
        pool.close()


def test_requests_asks_the_adapter_for_a_pool_as_fleet_answers():
    adapter_class = requests.adapters.HTTPAdapter
    assert parameters(adapter_class.get_connection_with_tls_context)[:5] == [
        "self",
        "request",
        "verify",
        "proxies",
        "cert",
    ]
