"""Pseudonyms: HMAC-SHA256 checked against the standard library directly."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from geo.errors import PseudonymKeyError
from geo.pseudonym import check_key, identifying_columns, pseudonymise

KEY = "k3y-for-tests-only-0123456789abcdef"


def test_refs_are_hmac_sha256_truncated() -> None:
    key = check_key(KEY)
    refs = pseudonymise(pd.Series(["SYN-C0001", " SYN-C0001 ", "SYN-C0002", None, ""]), key)
    expected = "c-" + hmac.new(key, b"SYN-C0001", hashlib.sha256).hexdigest()[:20]
    assert refs.iloc[0] == expected
    assert refs.iloc[1] == expected  # white space does not split a child in two
    assert refs.iloc[2] != expected
    assert refs.iloc[3] is None and refs.iloc[4] is None


def test_a_different_key_gives_unlinkable_refs() -> None:
    a = pseudonymise(pd.Series(["X1"]), check_key(KEY))
    b = pseudonymise(pd.Series(["X1"]), check_key(KEY[::-1]))
    assert a.iloc[0] != b.iloc[0]


@pytest.mark.parametrize("bad", [None, "", "short", "changeme", "a" * 40])
def test_missing_or_weak_keys_are_refused(bad: str | None) -> None:
    with pytest.raises(PseudonymKeyError, match="ENGAGE_PSEUDONYM_KEY"):
        check_key(bad)


def test_identifying_columns() -> None:
    cols = [
        "episode_id",
        "child_id",
        "name",
        "first_name",
        "surname",
        "dob",
        "date_of_birth",
        "address_line_1",
        "address",
        "postcode",
        "phone",
        "mobile_number",
        "email",
        "last_seen_lat",
        "stationery",
        "risk_level",
        "venue_name",
    ]
    found = identifying_columns(cols)
    assert found == [
        "name",
        "first_name",
        "surname",
        "dob",
        "date_of_birth",
        "address_line_1",
        "address",
        "postcode",
        "phone",
        "mobile_number",
        "email",
    ]
    assert "name" not in identifying_columns(["name"], allowed=("name",))
