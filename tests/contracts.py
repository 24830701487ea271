"""Where the vendors' own contracts (OpenAPI specs, webhook docs) are, if they are here at all.

They live beside the repository, in ../shared/contracts (or RINGBACK_SHARED_DIR), and are read
in place, never copied in. A clone with nothing beside it still runs the whole suite: the fakes
answer without validating against the specs, and the few tests that exist only to compare
against a vendor document skip with one line saying why. Under CI (CI=true, or
RINGBACK_REQUIRE_CONTRACTS=1) the contracts are required and their absence is an error.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("RINGBACK_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CONTRACTS = SHARED / "contracts"
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("RINGBACK_REQUIRE_CONTRACTS") == "1"


def available() -> bool:
    return CONTRACTS.is_dir()


def find(relative: str) -> Path | None:
    """The contract file at ``relative`` (under contracts/), or None where the contracts are absent."""
    path = CONTRACTS / relative
    if path.is_file():
        return path
    if REQUIRED:
        raise FileNotFoundError(f"vendor contract {path} is required under CI and is missing")
    return None


def require(relative: str) -> Path:
    """The contract file for a test that only compares against it: skipped (failed under CI) without it."""
    path = find(relative)
    if path is None:
        pytest.skip(f"vendor contract {relative} not found in {CONTRACTS}: nothing to compare against")
    return path


def missing_message() -> str | None:
    if available():
        return None
    return (f"vendor contracts not found at {CONTRACTS}: the vendor fakes run without spec validation "
            "and the spec-comparison tests are skipped")
