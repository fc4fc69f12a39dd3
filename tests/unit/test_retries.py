"""Which faults a pull retries: a broken connection (however the library reports it) is
retried; a robot whose SSH connection is gone ends unreachable, not failed."""

from __future__ import annotations

import pytest
import requests
import urllib3

from fleet.errors import Unreachable
from fleet.tasks.images import ImageError, with_retries

BROKEN = [
    urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(0 bytes read)"),
    requests.exceptions.ConnectionError("Connection aborted"),
    requests.exceptions.ChunkedEncodingError("Connection broken"),
]


@pytest.mark.parametrize("fault", BROKEN, ids=lambda e: type(e).__name__)
def test_a_broken_connection_is_retried(fault):
    calls = []

    def action():
        calls.append(1)
        if len(calls) == 1:
            raise fault
        return "pulled"

    assert with_retries(action, attempts=3, backoff=0) == ("pulled", 1)


@pytest.mark.parametrize("fault", BROKEN, ids=lambda e: type(e).__name__)
def test_a_connection_that_stays_broken_gives_up_with_the_reason(fault):
    def action():
        raise fault

    with pytest.raises(ImageError, match="gave up after 3 attempts"):
        with_retries(action, attempts=3, backoff=0)


def test_the_ssh_connection_gone_on_retry_is_unreachable():
    calls = []

    def action():
        calls.append(1)
        if len(calls) == 1:
            raise urllib3.exceptions.ProtocolError("Connection broken")
        raise Unreachable("the SSH connection to robot03.local closed")

    with pytest.raises(Unreachable):
        with_retries(action, attempts=3, backoff=0)
    assert len(calls) == 2
