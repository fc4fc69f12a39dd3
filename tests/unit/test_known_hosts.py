"""known_hosts as OpenSSH reads it, the host-key decision, and writing the file safely."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import paramiko
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from fleet import files
from fleet.transport.known_hosts import (
    KnownHosts,
    Marker,
    PublicKey,
    check_recordable,
    host_matches,
    parse_known_hosts,
)
from fleet.transport.trust import (
    KnownName,
    Outcome,
    decide_host_key,
    record_new_key,
    refusal,
)

DATA = YAML(typ="safe").load((Path(__file__).parent / "data/hostkey_cases.yaml").read_text())
KEYS = {name: PublicKey.parse(*text.split()) for name, text in DATA["keys"].items()}
CASES = DATA["cases"]


def _text(case: dict) -> str:
    return case["known_hosts"].format(**DATA["keys"])


def _names(case: dict) -> list[KnownName]:
    return [KnownName(n, case.get("port", 22)) for n in case["names"]]


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_host_key_decision(case):
    parsed = parse_known_hosts(_text(case))
    assert len(parsed.problems) == case.get("problems", 0), parsed.problems
    decision = decide_host_key(
        parsed.entries, _names(case), KEYS[case["offered"]], case["accept_new"]
    )
    assert decision.outcome == Outcome(case["outcome"])
    assert decision.accept is case["accept"]
    if "write" in case:
        assert list(decision.write) == case["write"]
    for field in ("name", "line"):
        if field in case:
            assert getattr(decision, field) == case[field]
    assert decision.cert_authority is case.get("cert_authority", False)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_what_trust_on_first_use_writes(case, tmp_path):
    """The file after `record_new_key`: one new line under all names when the decision
    is unknown (even without --accept-new: recording is the caller's choice), the file
    untouched otherwise; and the next decision trusts the key."""
    path = tmp_path / "known_hosts"
    path.write_text(_text(case))
    offered, names = KEYS[case["offered"]], _names(case)
    decision = record_new_key(KnownHosts(path), names, offered)
    after = path.read_text()
    if case["outcome"] == "unknown" and not case.get("cert_authority"):
        patterns = case.get("write") or [n.pattern for n in names]
        assert after == _text(case) + f"{','.join(patterns)} {DATA['keys'][case['offered']]}\n"
        again = decide_host_key(parse_known_hosts(after).entries, names, offered, False)
        assert again.outcome is Outcome.TRUSTED
    else:
        assert decision.outcome == Outcome(case["outcome"])
        assert after == _text(case)


def test_refusals_say_what_to_do():
    key = KEYS["ed_a"]

    def refused(known_hosts: str) -> str:
        entries = parse_known_hosts(known_hosts.format(**DATA["keys"])).entries
        decision = decide_host_key(entries, [KnownName("robot01.local")], key, True)
        return refusal(decision, "robot01.local", key, "/home/u/.ssh/known_hosts")

    changed = refused("robot01.local {ed_b}")
    assert "CHANGED" in changed and "`fleet forget robot01.local`" in changed
    assert "/home/u/.ssh/known_hosts line 1" in changed and key.fingerprint in changed
    unknown = decide_host_key((), [KnownName("robot01.local")], key, False)
    assert "rerun with --accept-new" in refusal(unknown, "robot01.local", key, "kh")
    assert "does not verify host certificates" in refused("@cert-authority * {ec_a}")
    assert "@revoked" in refused("@revoked * {ed_a}")


def test_fingerprints_are_openssh_s(tmp_path):
    pub = tmp_path / "k.pub"
    pub.write_text(DATA["keys"]["ed_a"] + "\n")
    done = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("ssh-keygen is not installed")
    assert done.stdout.split()[1] == KEYS["ed_a"].fingerprint


def test_a_paramiko_key_compares_equal_to_its_known_hosts_line():
    for generated in (paramiko.ECDSAKey.generate(), paramiko.RSAKey.generate(1024)):
        line = f"robot {generated.get_name()} {generated.get_base64()}"
        assert parse_known_hosts(line).entries[0].key == PublicKey.of(generated)


@pytest.mark.parametrize(
    "name",
    [
        "robot01.local",
        "192.0.2.1",
        "fe80::1",
        "::1",
        "[robot01.local]:2222",
        "[::1]:2222",
        "jetson-b",
    ],
)
def test_recordable_names(name):
    assert check_recordable(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "*.local",
        "!robot",
        "robot,other",
        "robot local",
        "robot\nevil ssh-ed25519 AAAA",
        "@revoked",
        "|1|x|y",
        "[robot]:0",
        "[robot]:99999",
        "robot#1",
        "",
        "-robot",
        "a..b",
        "roböt.local",
    ],
)
def test_names_that_are_not_host_names_are_never_written(tmp_path, name):
    known = KnownHosts(tmp_path / "known_hosts")
    with pytest.raises(ValueError):
        known.add([name], 22, KEYS["ed_a"])
    with pytest.raises(ValueError):
        record_new_key(known, [KnownName(name)], KEYS["ed_a"])
    assert not known.path.exists()


def test_forget_removes_every_line_for_the_names_hashed_and_wildcards_too(tmp_path):
    keys = DATA["keys"]
    path = tmp_path / "known_hosts"
    text = textwrap.dedent(
        f"""\
        # mine
        other.local {keys["ed_c"]}
        [jetson-b.local]:2222,[192.0.2.12]:2222 {keys["ed_a"]}
        jetson-b.local {keys["ec_a"]}
        |1|6Q1RRBmYehX7rIUpV+KqWKvB4yw=|sWxHRC1v9AkbKS52s1gefLwKIiU= {keys["ed_b"]}
        @revoked [jetson-b.local]:2222 {keys["rsa_a"]}
        @cert-authority *.local {keys["ec_b"]}
        not parseable
        """
    )
    path.write_text(text)
    known = KnownHosts(path)
    # jetson-b.local on port 2222: the port-22 entry of the same name is another server.
    assert known.forget(["[jetson-b.local]:2222", "[robot10.local]:2222"]) == 2
    left = path.read_text().splitlines()
    assert left == [
        "# mine",
        f"other.local {keys['ed_c']}",
        f"jetson-b.local {keys['ec_a']}",
        f"@revoked [jetson-b.local]:2222 {keys['rsa_a']}",
        f"@cert-authority *.local {keys['ec_b']}",
        "not parseable",
    ]
    path.write_text(f"*.local {keys['ed_a']}\n")
    assert known.forget(["robot01.local"]) == 1  # as `ssh-keygen -R robot01.local` does


def test_forget_and_ssh_keygen_agree(tmp_path):
    """What OpenSSH's own `ssh-keygen -R` removes for a name, fleet removes too."""
    keys = DATA["keys"]
    text = (
        f"robot09.local {keys['ed_a']}\n"
        f"[robot09.local]:2222 {keys['ed_b']}\n"
        f"robot0?.local {keys['ed_c']}\n"
        f"|1|9s/VSfB7jNyYJXq3tCLEXf9wd/c=|MyT7USPdy83BwWRjIxOtLWSTKrU= {keys['ec_a']}\n"
        f"robot10.local {keys['rsa_a']}\n"
    )
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.write_text(text)
    theirs.write_text(text)
    done = subprocess.run(
        ["ssh-keygen", "-R", "robot09.local", "-f", str(theirs)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("ssh-keygen is not installed")
    KnownHosts(ours).forget(["robot09.local"])
    assert ours.read_text() == theirs.read_text()


def test_a_full_disk_while_forgetting_keeps_every_trusted_key(tmp_path, monkeypatch):
    path = tmp_path / "known_hosts"
    text = f"robot01.local {DATA['keys']['ed_a']}\nrobot02.local {DATA['keys']['ed_b']}\n"
    path.write_text(text)

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "write", no_space)
    with pytest.raises(OSError):
        KnownHosts(path).forget(["robot01.local"])
    with pytest.raises(OSError):
        KnownHosts(path).add(["robot03.local"], 22, KEYS["ed_c"])
    monkeypatch.undo()
    assert path.read_text() == text


def test_parallel_trust_and_forget_from_several_processes_all_land(tmp_path):
    path = tmp_path / "ssh" / "known_hosts"
    keep = f"robot-keep.local {DATA['keys']['ec_a']}\n"
    doomed = "".join(f"gone{i:02d}.local {DATA['keys']['ed_c']}\n" for i in range(12))
    path.parent.mkdir()
    path.write_text(keep + doomed)
    go = tmp_path / "go"
    program = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from fleet.transport.known_hosts import KnownHosts, PublicKey
        from fleet.transport.trust import KnownName, record_new_key
        i = int(sys.argv[1])
        key = PublicKey.parse(*{DATA["keys"]["ed_a"]!r}.split())
        known = KnownHosts(Path({str(path)!r}))
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        record_new_key(known, [KnownName(f"robot{{i:02d}}.local"), KnownName("192.0.2.1")], key)
        known.add([f"added{{i:02d}}.local"], 2222, key)
        assert known.forget([f"gone{{i:02d}}.local"]) == 1
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", program, str(i)]) for i in range(12)]
    go.touch()
    assert [p.wait(timeout=120) for p in processes] == [0] * 12
    entries = parse_known_hosts(path.read_text()).entries
    assert path.read_text().startswith(keep)
    for i in range(12):
        assert any(e.matches(f"[added{i:02d}.local]:2222") for e in entries)
        assert not any(e.matches(f"gone{i:02d}.local") for e in entries)
    # The first robot recorded the shared address; the others found it known and matching
    # (trusted), so exactly one line names it.
    assert sum(e.matches("192.0.2.1") for e in entries) == 1


# -- properties of the parser: any text is read without an exception --

_fields = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(st.lists(_fields, max_size=8).map("\n".join))
def test_any_text_parses_without_raising(text):
    parsed = parse_known_hosts(text)
    for entry in parsed.entries:
        entry.matches("robot01.local")


@given(
    st.lists(st.sampled_from(["a", "b", "*", "?", ".", "!", "[", "]", ":", "1"]), max_size=12),
    st.text(alphabet="ab.[]:1", max_size=12),
)
def test_host_matching_never_raises_and_negation_vetoes(pattern_chars, name):
    pattern = "".join(pattern_chars)
    host_matches(pattern, name)
    if name and not name.startswith("!"):
        assert host_matches(f"*,!{name}", name) is False


@given(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}\.){0,3}local", fullmatch=True))
def test_a_recorded_name_is_found_again_and_only_it(name):
    line = KEYS["ed_a"].line(name)
    entry = parse_known_hosts(line).entries[0]
    assert entry.marker is Marker.NONE and entry.matches(name)
    assert not entry.matches(name + "x")
