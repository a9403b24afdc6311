"""Pseudonyms for people and the columns that must never be stored.

Source person ids become ``HMAC-SHA256(key, id)`` pseudonyms. The key comes
from ``ENGAGE_PSEUDONYM_KEY`` and is never stored, logged or written: with
the same key the same child always gets the same ``child_ref``, so repeat
episodes link up, and without it nobody can go back from a ref to an id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import numpy as np
import pandas as pd

from geo.errors import PseudonymKeyError

KEY_ENV = "ENGAGE_PSEUDONYM_KEY"
MIN_KEY_CHARS = 32
REF_HEX_CHARS = 20  # 80 bits: collisions are negligible for any force's caseload
REF_PREFIX = "c-"

_WEAK = {"changeme", "secret", "password", "test", "key", "default"}

# Column names that identify a person. Matched on whole tokens of the
# normalised column name, so `venue_name` in a venue file is judged by the
# caller's allow-list, and `stationery` never matches `dob`.
_PERSON_PATTERNS = (
    r"(^|_)(first|last|given|family|full|fore|sur|middle|maiden|child|person|mother|father|carer|parent)_?names?($|_)",
    r"^(name|forename|forenames|surname|surnames|names|alias|aliases|nickname)$",
    r"(^|_)(dob|date_of_birth|birth_date|birthdate|birthday|d_o_b)($|_)",
    r"(^|_)address(_?line)?(_?\d)?($|_)",
    r"^(street|house_number|house_name|flat|town_address|home_address|postcode|post_code|postal_code)$",
    r"(^|_)(phone|telephone|tel|mobile|mobile_number|phone_number|landline)($|_)",
    r"(^|_)(email|e_mail)($|_)",
    r"(^|_)(nhs_number|ni_number|national_insurance|upn|pnc_id|pnc_number)($|_)",
)
_PERSON_RE = [re.compile(p) for p in _PERSON_PATTERNS]


def identifying_columns(columns: list[str], *, allowed: tuple[str, ...] = ()) -> list[str]:
    """Columns (normalised names) that identify a person, in input order."""
    return [c for c in columns if c not in allowed and any(p.search(c) for p in _PERSON_RE)]


def check_key(key: str | None) -> bytes:
    """The key as bytes, or a clear refusal when it is missing or weak."""
    if not key:
        msg = (
            f"`{KEY_ENV}` is not set. Person ids are pseudonymised with a secret key that is "
            "never stored; set it before ingesting, e.g. "
            "`export ENGAGE_PSEUDONYM_KEY=$(python -c "
            "'import secrets; print(secrets.token_hex(32))')`"
            " and keep it safe: the same key must be used for every ingest so repeat episodes link."
        )
        raise PseudonymKeyError(msg)
    if len(key) < MIN_KEY_CHARS or key.strip().lower() in _WEAK or len(set(key)) < 8:
        msg = (
            f"`{KEY_ENV}` is too weak ({len(key)} characters). Use a random secret of at least "
            f"{MIN_KEY_CHARS} characters, e.g. "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )
        raise PseudonymKeyError(msg)
    return key.encode("utf-8")


def generate_key() -> str:
    """A fresh random key (for the synthetic demo only)."""
    return secrets.token_hex(32)


def pseudonymise(ids: pd.Series, key: bytes) -> pd.Series:
    """``c-`` + the first 20 hex digits of HMAC-SHA256(key, id) for each id.

    Each distinct id is hashed once (children report many episodes), then
    mapped back onto the rows. Blank ids stay None.
    """
    text = ids.astype("string").str.strip()
    text = text.mask(text == "")
    uniques = text.dropna().unique()
    refs = np.array(
        [
            REF_PREFIX
            + hmac.new(key, str(u).encode("utf-8"), hashlib.sha256).hexdigest()[:REF_HEX_CHARS]
            for u in uniques
        ],
        dtype=object,
    )
    lookup = pd.Series(refs, index=pd.Index(uniques, dtype="string"), dtype=object)
    out = text.map(lookup).astype(object)
    return out.where(pd.notna(out), None)
