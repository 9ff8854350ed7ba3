"""Server policy: floors an operator sets, which the repo's config may tighten, never loosen.

Pure: floors in (already read from the database by services/policy.py), the request's
config in, the effective config out with where each threshold came from and a note for
each floor the request tried to loosen. docs/config.md ("Server policy") explains it.

What "tighter" means, per floor field (FLOORS):
    at_most        a number the request may lower, never raise; null ("no limit") is the
                   loosest value (limits.*, sufficiency.max_loss_ratio,
                   stability.canary_min_windows: fewer windows needed = more news)
    at_least       a number the request may raise, never lower (thresholds.*_score:
                   a higher score threshold pauses/warns sooner; sufficiency.min_*)
    includes       a list the policy's entries are always part of (sensitive_paths.paths,
                   stability.one_off_rules)
    forbids        glob patterns over the request's entries of an allow-list: a matching
                   entry is dropped (forbid_allow.execs: ["*[*]*"] drops every entry
                   with a wildcard, such as `/*`)
    required_true  a switch the request may not turn off (sensitive_paths.use_defaults,
                   rate_shift.enabled)
    within         globs the request's entries must lie within (known_write_paths: an entry
                   no floor glob covers is dropped, so `/*` cannot make every write known)
A global floor and a service's floor both hold: the tighter of the two applies.

A limit floor also bounds the fields that would get around it (IMPLIED): with a floor on
limits.max_sensitive_access the built-in sensitive paths stay on and no exclusion or
allow-listed file may overlap a required sensitive glob (a sub-path, the exact secret, or
a wider glob); with one on limits.max_new_write_paths known_write_paths stays within the
built-in scratch directories unless a known_write_paths floor says otherwise.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import BaseModel, TypeAdapter, ValidationError

from gate_server.analysis.config import (DEFAULT_KNOWN_WRITE_PATHS, DEFAULT_SENSITIVE_PATHS, GateConfig,
                                         NewFeatureRule, PathGlob, Weights)
from gate_server.analysis.config_errors import ConfigError
from gate_server.analysis.patterns import glob_within, globs_overlap
from gate_contract.kinds import ALLOW_LISTS as KIND_ALLOW_LISTS, Kind

GLOBAL = ""  # the scope of a floor that holds for every service
ALLOW_LISTS = tuple(KIND_ALLOW_LISTS)

Count = Optional[int]
FLOORS: dict[str, tuple[str, Any]] = {
    **{f"limits.{name}": ("at_most", Count) for name in (
        "max_new_execs", "max_new_destinations", "max_new_listeners", "max_new_write_paths",
        "max_sensitive_access", "max_new_syscalls", "max_new_files", "max_new_risky_capabilities")},
    "thresholds.pause_score": ("at_least", float),
    "thresholds.warn_score": ("at_least", float),
    "sufficiency.min_windows": ("at_least", int),
    "sufficiency.min_syscalls": ("at_least", int),
    "sufficiency.max_loss_ratio": ("at_most", float),
    "stability.canary_min_windows": ("at_most", int),
    "stability.one_off_rules": ("includes", list[NewFeatureRule]),
    "sensitive_paths.paths": ("includes", list[PathGlob]),
    "sensitive_paths.use_defaults": ("required_true", bool),
    **{f"forbid_allow.{name}": ("forbids", list[str]) for name in ALLOW_LISTS},
    # A lighter weight lowers the score a change costs; so do the knobs of the rate test.
    **{f"weights.{name}": ("at_least", float) for name in Weights.model_fields},
    "rate_shift.enabled": ("required_true", bool),
    "rate_shift.kinds": ("includes", list[Kind]),
    "rate_shift.fdr_q": ("at_least", float),
    "rate_shift.min_ratio": ("at_most", float),
    "rate_shift.min_rate": ("at_most", float),
    # A higher fraction makes fewer baseline features stable, so fewer are reported missing.
    "stability.baseline_min_fraction": ("at_most", float),
    "stability.missing_min_rate": ("at_most", float),
    "known_write_paths": ("within", list[PathGlob]),
}
# A limit floor and the fields that would get around it: (field, the value it implies).
IMPLIED: dict[str, tuple[tuple[str, Any], ...]] = {
    "limits.max_sensitive_access": (("sensitive_paths.use_defaults", True),),
    "limits.max_new_write_paths": (("known_write_paths", list(DEFAULT_KNOWN_WRITE_PATHS)),),
}


@dataclass(frozen=True)
class Floor:
    field: str  # a key of FLOORS
    value: Any
    service: str = GLOBAL  # GLOBAL or a service name

    @property
    def source(self) -> str:
        return f"policy (service {self.service})" if self.service else "policy (global)"

    @property
    def owner(self) -> str:
        return "the service's floor" if self.service else "the global floor"


@dataclass
class Effective:
    config: GateConfig
    sources: dict[str, str]  # dotted field -> "repo" | "default" | "policy (...)" | "repo + policy (...)"
    notes: list[str] = field(default_factory=list)  # the floors the request tried to loosen


def check_floor(name: str, value: Any) -> Any:
    """The floor's value validated for its field; ConfigError names the field."""
    if name not in FLOORS:
        raise ConfigError(f"{name}: not a policy floor (floors: {', '.join(FLOORS)})", name)
    kind, value_type = FLOORS[name]
    if kind == "at_most" and value is None:
        raise ConfigError(f"{name}: a floor cannot be null (no limit is what a floor forbids)", name)
    try:
        checked = TypeAdapter(value_type).validate_python(value)
    except ValidationError as exc:
        raise ConfigError(f"{name}: {exc.errors(include_url=False)[0]['msg']} (got {value!r})", name) from None
    # The same bounds the config has (ge=0, le=100, ...): a floor the config would refuse is refused.
    section, _, leaf = name.partition(".")
    if section != "forbid_allow":
        try:
            GateConfig.model_validate({section: {leaf: checked}} if leaf else {section: checked})
        except ValidationError as exc:
            raise ConfigError(f"{name}: {exc.errors(include_url=False)[0]['msg']} (got {value!r})", name) from None
    return checked


def explicit_fields(model: BaseModel, prefix: str = "") -> set[str]:
    """Dotted names of the leaves the request set itself (not defaults)."""
    names = set()
    for name in model.model_fields_set:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            names |= explicit_fields(value, f"{prefix}{name}.")
        else:
            names.add(f"{prefix}{name}")
    return names


def _leaves(model: BaseModel, prefix: str = "") -> list[str]:
    names = []
    for name, info in type(model).model_fields.items():
        if info.exclude:
            continue
        value = getattr(model, name)
        names += _leaves(value, f"{prefix}{name}.") if isinstance(value, BaseModel) else [f"{prefix}{name}"]
    return names


def _show(value: Any) -> str:
    return "null" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def with_implied(floors: list[Floor]) -> list[Floor]:
    """The floors and those their limit floors imply (IMPLIED), unless set in the same scope."""
    present = {(f.field, f.service) for f in floors}
    floors = list(floors)
    for floor in list(floors):
        for field, value in IMPLIED.get(floor.field, ()):
            if (field, floor.service) not in present:
                present.add((field, floor.service))
                floors.append(Floor(field, value, floor.service))
    return floors


def apply_policy(config: GateConfig, floors: list[Floor]) -> Effective:
    """The request's config with every floor applied (pure)."""
    floors = with_implied(floors)
    asked = explicit_fields(config)
    sources = {name: "repo" if name in asked else "default" for name in _leaves(config)}
    values = {section: dict(getattr(config, section)) for section in type(config).model_fields
              if isinstance(getattr(config, section), BaseModel)}
    known_writes = list(config.known_write_paths)
    notes: list[str] = []
    for floor in sorted(floors, key=lambda f: (f.field, f.service)):
        kind = FLOORS[floor.field][0]
        section, _, leaf = floor.field.partition(".")
        if kind == "within":
            outside = [e for e in known_writes if not any(glob_within(e, bound) for bound in floor.value)]
            if outside:
                known_writes = [e for e in known_writes if e not in outside]
                sources[floor.field] = f"repo - {floor.source}"
                notes.append(f"{floor.field}: the request listed {outside}, outside {floor.owner} "
                             f"{list(floor.value)}; dropped")
            continue
        if kind == "forbids":
            entries = values["allow"][leaf]
            dropped = [e for e in entries if any(fnmatch.fnmatchcase(e, p) for p in floor.value)]
            if dropped:
                values["allow"][leaf] = [e for e in entries if e not in dropped]
                sources[f"allow.{leaf}"] = f"repo - {floor.source}"
                notes.append(f"allow.{leaf}: the request allowed {dropped}, {floor.owner} forbids entries "
                             f"matching {list(floor.value)}; dropped")
            continue
        current = values[section][leaf]
        applied = _tighter(kind, current, floor.value)
        if applied == current:
            continue
        values[section][leaf] = applied
        if kind == "includes":
            sources[floor.field] = f"{sources[floor.field]} + {floor.source}"
        else:
            sources[floor.field] = floor.source
            if floor.field in asked:
                notes.append(f"{floor.field}: the request asked {_show(current)}, {floor.owner} is "
                             f"{_show(floor.value)}; {_show(applied)} applied")
    notes += _keep_required_sensitive(values["sensitive_paths"], values["allow"], floors, sources)
    thresholds = values["thresholds"]
    if thresholds["warn_score"] < thresholds["pause_score"]:  # a raised pause_score lifts warn_score with it
        thresholds["warn_score"] = thresholds["pause_score"]
        sources["thresholds.warn_score"] = sources["thresholds.pause_score"]
    effective = config.model_copy(update={
        **{section: getattr(config, section).model_copy(update=changed) for section, changed in values.items()},
        "known_write_paths": known_writes})
    return Effective(config=effective, sources=sources, notes=notes)


def _tighter(kind: str, current: Any, floor: Any) -> Any:
    if kind == "at_most":
        return floor if current is None or current > floor else current
    if kind == "at_least":
        return max(current, floor)
    if kind == "includes":
        return list(current) + [entry for entry in floor if entry not in current]
    return True if floor else current  # required_true


def _keep_required_sensitive(section: dict, allow: dict, floors: list[Floor], sources: dict[str, str]) -> list[str]:
    """Neither sensitive_paths.exclude nor allow.files may take out a path the policy requires
    as sensitive: an entry that overlaps a required glob (the exact secret, a sub-path such as
    /root/.ssh/id_rsa of ~/.ssh/*, or a wider glob) is dropped."""
    required = [p for f in floors if f.field == "sensitive_paths.paths" for p in f.value]
    if any(f.field == "sensitive_paths.use_defaults" and f.value for f in floors):
        required += DEFAULT_SENSITIVE_PATHS
    notes = []
    for entries, field in ((section, "sensitive_paths.exclude"), (allow, "allow.files")):
        name = field.rpartition(".")[2]
        taken = [glob for glob in entries[name] if any(globs_overlap(glob, path) for path in required)]
        if not taken:
            continue
        entries[name] = [glob for glob in entries[name] if glob not in taken]
        sources[field] = "repo - policy"
        notes.append(f"{field}: the request {'excluded' if name == 'exclude' else 'allowed'} {taken}, which "
                     "overlap paths the policy requires as sensitive; not applied")
    return notes
