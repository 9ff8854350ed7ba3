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
    required_true  a switch the request may not turn off (sensitive_paths.use_defaults)
A global floor and a service's floor both hold: the tighter of the two applies.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import BaseModel, TypeAdapter, ValidationError

from gate_server.analysis.config import DEFAULT_SENSITIVE_PATHS, GateConfig, NewFeatureRule, PathGlob
from gate_server.analysis.config_errors import ConfigError

GLOBAL = ""  # the scope of a floor that holds for every service
ALLOW_LISTS = ("files", "execs", "destinations", "listeners", "syscalls")

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
            GateConfig.model_validate({section: {leaf: checked}})
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


def apply_policy(config: GateConfig, floors: list[Floor]) -> Effective:
    """The request's config with every floor applied (pure)."""
    asked = explicit_fields(config)
    sources = {name: "repo" if name in asked else "default" for name in _leaves(config)}
    values = {section: dict(getattr(config, section)) for section in type(config).model_fields
              if isinstance(getattr(config, section), BaseModel)}
    notes: list[str] = []
    for floor in sorted(floors, key=lambda f: (f.field, f.service)):
        kind = FLOORS[floor.field][0]
        section, _, leaf = floor.field.partition(".")
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
    notes += _keep_required_sensitive(values["sensitive_paths"], floors, sources)
    thresholds = values["thresholds"]
    if thresholds["warn_score"] < thresholds["pause_score"]:  # a raised pause_score lifts warn_score with it
        thresholds["warn_score"] = thresholds["pause_score"]
        sources["thresholds.warn_score"] = sources["thresholds.pause_score"]
    effective = config.model_copy(update={
        section: getattr(config, section).model_copy(update=changed) for section, changed in values.items()})
    return Effective(config=effective, sources=sources, notes=notes)


def _tighter(kind: str, current: Any, floor: Any) -> Any:
    if kind == "at_most":
        return floor if current is None or current > floor else current
    if kind == "at_least":
        return max(current, floor)
    if kind == "includes":
        return list(current) + [entry for entry in floor if entry not in current]
    return True if floor else current  # required_true


def _keep_required_sensitive(section: dict, floors: list[Floor], sources: dict[str, str]) -> list[str]:
    """A request's sensitive_paths.exclude may not take out a path the policy requires."""
    required = [p for f in floors if f.field == "sensitive_paths.paths" for p in f.value]
    if any(f.field == "sensitive_paths.use_defaults" and f.value for f in floors):
        required += DEFAULT_SENSITIVE_PATHS
    excluded = [glob for glob in section["exclude"]
                if any(glob == path or fnmatch.fnmatchcase(path, glob) for path in required)]
    if not excluded:
        return []
    section["exclude"] = [glob for glob in section["exclude"] if glob not in excluded]
    sources["sensitive_paths.exclude"] = "repo - policy"
    return [f"sensitive_paths.exclude: the request excluded {excluded}, which the policy requires "
            "as sensitive; not excluded"]
