"""Where a run's parameters come from: a file, the store's accepted ones, or the defaults.

A parameter file (``params.json``, written by ``engage tune``) records the
parameters, what they were tuned on (layer, category, study area) and the
evidence. ``engage tune --accept`` makes them the store's current ones.
A run that analyses one layer refuses accepted parameters tuned on another
layer or category (they would answer a different question) unless the user
names the file with ``--params``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api.usecases.store import opened_store
from geo.errors import ValidationError
from maps.files import atomic_write_text
from models.params import (
    DEFAULT_SOURCE,
    MFH_LAYERS,
    AnalysisParams,
    ParamsSource,
    TunedOn,
)

ACCEPTED_PARAMS = "params_accepted"
"""The run kind that records accepted parameters in the store."""


def params_json(params: AnalysisParams, tuned_on: TunedOn, evidence: dict[str, Any]) -> str:
    """The text of a parameter file."""
    body = {"parameters": params.as_dict(), "tuned_on": tuned_on.as_dict(), "evidence": evidence}
    return json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"


def write_params(
    path: Path, params: AnalysisParams, tuned_on: TunedOn, evidence: dict[str, Any]
) -> Path:
    """Write a parameter file atomically; returns its path."""
    return atomic_write_text(path, params_json(params, tuned_on, evidence))


def _tuned_on(body: Any) -> TunedOn | None:
    """What a file (or an accepted run's record) says the parameters were tuned on."""
    if not isinstance(body, dict):
        return None
    raw = body.get("tuned_on")
    if isinstance(raw, dict):
        return TunedOn(raw.get("layer"), raw.get("category"), raw.get("study_area"))
    # Files written before ``tuned_on`` was recorded carry the layer in their evidence.
    for record in (body, body.get("evidence")):
        if isinstance(record, dict) and "layer" in record:
            return TunedOn(record.get("layer"), record.get("category"), None)
    return None


def read_params(path: Path) -> ParamsSource:
    """Parameters from a file written by ``engage tune`` (checked), with what they were tuned on."""
    path = Path(path)
    try:
        body = json.loads(path.read_text())
        values = body["parameters"]
    except FileNotFoundError:
        msg = f"{path}: parameter file not found. Run `engage tune` to write one."
        raise ValidationError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read the parameter file ({exc})."
        raise ValidationError(msg) from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        msg = f"{path}: not a parameter file written by `engage tune` ({exc})."
        raise ValidationError(msg) from None
    params = AnalysisParams.from_mapping(values, source=str(path))
    return ParamsSource(params, origin="file", path=str(path), tuned_on=_tuned_on(body))


def accept_params(
    location: str, params: AnalysisParams, tuned_on: TunedOn, evidence: dict[str, Any]
) -> int:
    """Make ``params`` the store's current parameters (recorded as a run)."""
    with opened_store(location) as store:
        return store.record_run(
            ACCEPTED_PARAMS, params.as_dict(), {"tuned_on": tuned_on.as_dict(), **evidence}
        )


def accepted_params(location: str) -> ParamsSource | None:
    """The store's current parameters (the latest accepted), or None."""
    with opened_store(location) as store:
        runs = store.runs()
    if runs.empty:
        return None
    accepted = runs.loc[runs["kind"] == ACCEPTED_PARAMS]
    if accepted.empty:
        return None
    last = accepted.iloc[-1]
    params = AnalysisParams.from_mapping(last["params"], source="the store's accepted parameters")
    return ParamsSource(params, origin="accepted", tuned_on=_tuned_on(last["outputs"]))


def base_params(
    params_file: Path | None,
    location: str | None,
    *,
    layer: str = "all",
    category: str | None = None,
) -> ParamsSource:
    """The parameters a run starts from: ``--params FILE``, else the store's accepted ones
    (when ``location`` is given and they fit the run's layer and category), else the defaults.

    Raises
    ------
    ValidationError
        For an unreadable file, or accepted parameters tuned on another layer
        or category than the run's (name the file with ``--params`` to use them).
    """
    if params_file is not None:
        return read_params(params_file)
    accepted = accepted_params(location) if location is not None else None
    if accepted is None:
        return DEFAULT_SOURCE
    check_fits(accepted, layer=layer, category=category)
    return accepted


def check_fits(source: ParamsSource, *, layer: str, category: str | None) -> None:
    """Refuse accepted parameters tuned on another layer or category than the run's."""
    tuned = source.tuned_on
    run_is_mfh = layer in MFH_LAYERS
    if tuned is None:
        fits = False
        why = "with no record of the data they were tuned on"
    else:
        same_kind = (tuned.layer in MFH_LAYERS) if run_is_mfh else tuned.layer == layer
        same_category = (tuned.category or "").lower() == (category or "").lower()
        fits = same_kind and same_category
        why = f"on {tuned.text()}"
    if fits:
        return
    run = (
        "missing-from-home episodes and intelligence"
        if run_is_mfh
        else f"layer {layer}" + (f", category {category!r}" if category else "")
    )
    msg = (
        f"the store's accepted parameters were tuned {why}, but this run analyses {run}. "
        "Pass them explicitly with --params FILE to use them anyway, or tune and accept "
        "parameters on this data (engage tune --layer ... --accept)."
    )
    raise ValidationError(msg)
