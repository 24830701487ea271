"""What every vendor's webhook tests share: the real payload fixtures, named
`tests/fixtures/<vendor>/<event>__<variant>.<json|xml>`, and the rule that each one has an
expectation in its vendor's test table (a fixture added without one, or an expectation whose
fixture is gone, fails). How each vendor signs and posts stays with its tests: the signatures
differ."""
from __future__ import annotations

import re
from pathlib import Path

FIXTURES = Path(__file__).with_name("fixtures")
NAME = re.compile(r"\A[a-z0-9_]+__[a-z0-9_]+\Z")  # <event>__<variant>


def folder(vendor: str) -> Path:
    return FIXTURES / vendor


def names(vendor: str) -> set[str]:
    """The vendor's fixture names, without their extension."""
    return {p.stem for p in folder(vendor).iterdir() if p.suffix in (".json", ".xml")}


def read(vendor: str, name: str) -> bytes:
    [path] = [p for p in folder(vendor).iterdir() if p.stem == name and p.suffix in (".json", ".xml")]
    return path.read_bytes()


def assert_every_fixture_expected(vendor: str, expected) -> None:
    """Every fixture of ``vendor`` has an expectation, every expectation a fixture, and every
    fixture is named `<event>__<variant>`."""
    found = names(vendor)
    assert found, f"no fixtures for {vendor}"
    assert not {n for n in found if not NAME.match(n)}, f"{vendor} fixtures not named <event>__<variant>"
    assert found - set(expected) == set(), f"{vendor} fixtures without an expectation"
    assert set(expected) - found == set(), f"{vendor} expectations without a fixture"
