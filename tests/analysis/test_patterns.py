"""Allow-list and sensitive-path matching."""

from __future__ import annotations

import pytest

from gate_server.analysis.patterns import DestinationSet, GlobSet, parse_destination
from gate_contract.keys import FileKey, parse_file_key


@pytest.mark.parametrize("entry, key, matches", [
    ("10.0.0.0/8:5432", "inet:10.3.2.1:5432", True),
    ("10.0.0.0/8:5432", "inet:10.3.2.1:5433", False),
    ("10.0.0.0/8:5432", "inet:11.0.0.1:5432", False),
    ("10.0.0.0/8", "inet:10.0.0.1:9999", True),
    ("10.0.0.0/8:*", "inet:10.0.0.1:1", True),
    ("10.0.0.5:8000-8099", "inet:10.0.0.5:8080", True),
    ("10.0.0.5:8000-8099", "inet:10.0.0.5:8100", False),
    ("[fd00::/8]:443", "inet6:[fd12::1]:443", True),
    ("[fd00::/8]:443", "inet6:[fe80::1]:443", False),
    ("[::1]:443", "inet6:[::1]:443", True),
    ("10.0.0.0/8:443", "inet6:[::ffff:10.0.0.1]:443", False),
    ("unix:/run/postgresql/*", "unix:/run/postgresql/.s.PGSQL.5432", True),
    ("unix:/run/postgresql/*", "inet:10.0.0.1:5432", False),
    ("inet:0.0.0.0:8080", "inet:0.0.0.0:8080", True),
])
def test_destination_matching(entry, key, matches):
    assert DestinationSet([entry]).matches(key) is matches


@pytest.mark.parametrize("bad", ["db.internal:5432", "10.0.0.0/33", "10.0.0.1:99999", "10.0.0.1:90-80", "10.0.0.1:x"])
def test_bad_destinations_are_refused(bad):
    with pytest.raises(ValueError):
        parse_destination(bad)


def test_home_globs_cover_root_and_users():
    globs = GlobSet(["~/.aws/credentials"])
    assert globs.matches("/root/.aws/credentials") and globs.matches("/home/ana/.aws/credentials")
    assert not globs.matches("/srv/.aws/credentials")


def test_star_crosses_directories():
    assert GlobSet(["/var/lib/app/*"]).matches("/var/lib/app/cache/2026/x")
    assert not GlobSet([]).matches("/anything")


def test_file_keys_split_into_path_and_mode():
    assert parse_file_key("/etc/shadow:r") == FileKey("/etc/shadow", "r")
    assert parse_file_key("/var/log/a.log:rw") == FileKey("/var/log/a.log", "rw")
    assert parse_file_key("/odd:name") == FileKey("/odd:name", "r")
