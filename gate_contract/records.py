"""The records the probe produces and the server stores: one pydantic model each.

The same model is what the probe builds, what its spool writes to disk while the
destination is away (`to_dict` / `from_dict`, JSON), what the ingest API validates
an upload with, what the writer stores, and what the OpenAPI document describes
(generated from the model's JSON schema). Bounds live here, once: counts fit a
BIGINT, indexes an INTEGER, and no string carries a NUL byte (Postgres refuses them).

Pydantic, not SQLAlchemy: the probe imports this module before it loads the storage code.
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer,
    model_validator,
)

from gate_contract.keys import FeatureKey

from gate_contract.kinds import Kind

ROLES = ("baseline", "canary")  # the one place the roles are named
BASELINE, CANARY = ROLES
Role = Literal[ROLES]

MAX_BIGINT = 2**63 - 1
MAX_INTEGER = 2**31 - 1


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain a NUL byte (\\u0000)")
    return text


def _text(max_length: int, min_length: int = 0, pattern: Optional[str] = "^[^\\u0000]*$") -> Any:
    """A string column's type: bounded, without NUL bytes, never coerced from a number."""
    schema = {"pattern": pattern} if pattern else None
    return Annotated[str, Field(min_length=min_length, max_length=max_length, strict=True,
                                json_schema_extra=schema), AfterValidator(_no_nul)]


def _canonical_uuid(text: str) -> str:
    try:
        return str(uuid_module.UUID(text))
    except ValueError:
        raise ValueError(f"{text!r} is not a recording uuid") from None


# Whole numbers only: pydantic's lax mode would take 1.5 or "3" for a count.
Count = Annotated[int, Field(ge=0, le=MAX_BIGINT, strict=True)]
Positive = Annotated[int, Field(ge=1, le=MAX_INTEGER, strict=True)]
WindowIndex = Annotated[int, Field(ge=0, le=MAX_INTEGER, strict=True)]
Name = _text(200, min_length=1)
RecordingUuid = Annotated[str, Field(strict=True, json_schema_extra={"format": "uuid"}),
                          AfterValidator(_canonical_uuid)]
Drops = dict[_text(50, pattern=None), Count]  # a key pattern would read as JSON Schema's patternProperties
Key = _text(4096, min_length=1)


def _triples_from_counts(value: Any) -> Any:
    # Built in Python as {(kind, key): count}; sent and spooled as [[kind, key, count], ...].
    if isinstance(value, dict):
        return [(kind, key, count) for (kind, key), count in value.items()]
    return value


def _counts_from_triples(triples: list[tuple[str, str, int]]) -> dict[FeatureKey, int]:
    counts: dict[FeatureKey, int] = {}
    for kind, key, count in triples:
        if (kind, key) in counts:
            raise ValueError(f"feature ({kind}, {key!r}) is listed twice")
        counts[(kind, key)] = count
    return counts


def _triples(counts: dict[FeatureKey, int]) -> list[tuple[str, str, int]]:
    return [(kind, key, count) for (kind, key), count in counts.items()]


def _feature_triples(description: str) -> Any:
    """(kind, normalised key) -> count; in JSON a list of [kind, key, count], each pair once."""
    return Annotated[
        list[tuple[Kind, Key, Count]],
        BeforeValidator(_triples_from_counts),
        AfterValidator(_counts_from_triples),
        PlainSerializer(_triples, return_type=list[tuple[Kind, Key, Count]]),
        Field(description=description),
    ]


Features = _feature_triples("[kind, normalised key, count], each (kind, key) pair once.")
# What the processes already held when the recording attached (read from /proc): "seen in
# this recording", not events of the window, so never summed with `features`.
Inventory = _feature_triples(
    "Features the workload already held when the recording attached to running processes "
    "(listening sockets, connections, open files, the executable), as [kind, normalised key, count]: "
    "seen in this recording, not events of this window. Only in the first window of such a recording.")


# Lineage bounds: a window names at most this many programs, each with this many features.
MAX_PROGRAMS = 64
MAX_PROGRAM_FEATURES = 4096


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: what the spool writes and the ingest API takes."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return cls.model_validate(data)


def _ends_after_start(record: Any) -> Any:
    if record.ended_at is not None and record.ended_at < record.started_at:
        raise ValueError("ended_at is before started_at")
    return record


# Recording totals probes sent before migration 0003 dropped their columns (nothing
# read them): accepted and ignored, so spools written by such a probe still replay.
LEGACY_RECORDING_FIELDS = ("events_seen", "drops")


class RecordingInfo(_Record):
    """One probe run: one service version observed on one host. Sent when it starts
    and again, with `ended_at`, when it ends."""

    uuid: RecordingUuid = Field(description="Made by the probe, so a replayed upload is stored once.")
    service: Name
    version: Name
    started_at: AwareDatetime
    role: Role = "baseline"
    host: _text(255) = ""
    kernel: _text(255) = ""
    scope: _text(4096) = ""
    sample_every: Positive = Field(1, description="1-in-N sampling of detail events; 1 means every event.")
    rate_limit: Optional[Positive] = None
    probe_version: _text(50) = ""
    ended_at: Optional[AwareDatetime] = None
    startup: Optional[Literal["observed", "partly", "not_observed"]] = Field(
        None, description="What the probe saw of the workload's start-up: observed (it watched before the "
                          "first process), partly (attached to running processes, then saw them start again), "
                          "not_observed (attached to running processes). null: a probe that did not say.")

    check_times = model_validator(mode="after")(_ends_after_start)

    @model_validator(mode="before")
    @classmethod
    def _without_legacy_totals(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(name in data for name in LEGACY_RECORDING_FIELDS):
            data = {name: value for name, value in data.items() if name not in LEGACY_RECORDING_FIELDS}
        return data


class ProgramActivity(_Record):
    """What the processes running one program did in a window: lineage, so a check can
    say which program a new behaviour came from."""

    program: Key = Field(description="The program's exec key, as `features` names it (e.g. \"/bin/sh\").")
    started_by: list[Key] = Field(default_factory=list, max_length=MAX_PROGRAMS, description=(
        "Exec keys of the programs whose processes exec'd it in this window. Empty: not exec'd in this "
        "window, or exec'd by a process the probe did not see exec (one running when it attached)."))
    features: list[tuple[Kind, Key]] = Field(default_factory=list, max_length=MAX_PROGRAM_FEATURES, description=(
        "[kind, key] of the window's features these processes made (syscalls, files, execs, sockets), "
        "each once. Also made by other processes or not is not said here."))


class WindowRecord(_Record):
    """One profile window of a recording: totals, losses by reason, feature counts, whether
    it covers a start-up, and (first window of an attached recording) the inventory."""

    recording_uuid: RecordingUuid
    index: WindowIndex
    started_at: AwareDatetime
    ended_at: AwareDatetime
    syscalls_total: Count = 0
    events_total: Count = 0
    sample_every: Positive = 1
    drops: Drops = Field(default_factory=dict, description="Detail events lost in the window, by reason.")
    features: Features = Field(default_factory=dict)
    # Both default, so a window spooled by a probe older than them still replays.
    startup: bool = Field(False, strict=True, description=(
        "The window covers the first seconds after a process of the workload started (exec)."))
    inventory: Inventory = Field(default_factory=dict)
    # None for a window of a probe older than the field (its spool still replays).
    workload_started_at: Optional[AwareDatetime] = Field(None, description=(
        "When the workload's oldest process started (its latest start, where the probe saw its processes "
        "start again): the window's end minus this is the workload's age, so a check can tell behaviour "
        "at an age the baseline was never watched at (a task run once a minute, first reached by the "
        "canary's recording). null: no process yet, or a probe that did not say."))
    # Empty for a window of a probe older than the field (its spool still replays).
    hooks: dict[_text(50, min_length=1), _text(200, min_length=1)] = Field(
        default_factory=dict, max_length=32, description=(
            "Which kernel hook produced each kind of feature in this window, e.g. "
            "{\"file\": \"fentry:security_file_open\", \"exec\": \"tracepoint:sched_process_exec\"}: "
            "file opens keyed in kernel by the opened file's path, or by their text at sys_enter and "
            "resolved by the probe (docs/probe.md)."))
    # Empty for a window of a probe older than the field, or of processes it never saw exec.
    programs: list[ProgramActivity] = Field(default_factory=list, max_length=MAX_PROGRAMS, description=(
        "Lineage: per program (exec key) its processes ran, what they made in this window and which "
        "programs started it. Processes the probe did not see exec (attached while running) are in no entry."))
    unnamed: list[tuple[Kind, Key]] = Field(default_factory=list, max_length=MAX_PROGRAM_FEATURES, description=(
        "Lineage: [kind, key] of the features in `programs` that processes the probe did not see exec "
        "(attached while running) also made in this window."))

    check_times = model_validator(mode="after")(_ends_after_start)
