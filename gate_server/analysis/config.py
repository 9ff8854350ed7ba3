"""The threshold config: what a team commits as `.github/syscall-gate.yml`.

Every field has a default, so `{}` is a complete, sensible config. Unknown keys are
rejected (a typo must not silently fall back to a default). docs/config.md
documents each field; `gate-server config --schema` (gate_server/cli/config.py) prints
the JSON Schema the Action validates with (committed as config_schema.json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator,
)

from gate_server.analysis.config_errors import ConfigError, from_validation_error
from gate_server.analysis.patterns import check_glob, parse_destination
from gate_contract.kinds import (
    ALLOW_LISTS, GROUPS, LIMITS, ONE_OFF_RULES, RULE_NAMES, WEIGHTS, Kind, KeyShape, rules_of_group,
)
# the judge's and the probe's one list (the probe keys these files by inode too)
from gate_contract.sensitive import DEFAULT_SENSITIVE_PATHS

# Score groups, rules, weights and limits come from the feature-kind table (gate_contract/kinds.py).
Group = Literal[GROUPS]
# The rules a new feature can fall under (rules.py's Meaning.rule, the anomaly's `rule`).
# Recurrence is judged per rule, not per group: the `file` group holds both a read
# (recurrence filtered) and a write outside known directories (news from one occurrence).
NewFeatureRule = Literal[RULE_NAMES]
# What an attacker or a broken build does once and never again: one occurrence is news.
DEFAULT_ONE_OFF_RULES = ONE_OFF_RULES
# stability.one_off_kinds (deprecated) named score groups; each group's rules.
RULES_OF_GROUP: dict[str, tuple[str, ...]] = {group: rules_of_group(group) for group in GROUPS}
SCHEMA_PATH = Path(__file__).with_name("config_schema.json")

# Unix sockets of the host's own daemons, which glibc and the usual libraries reach on
# their own (the name service's first try before DNS, the journal, syslog, the system
# bus): a new connect there is what the service's libraries do, not a new destination.
DEFAULT_SYSTEM_DAEMON_SOCKETS = (
    "/var/run/nscd/socket", "/run/nscd/socket",
    "/run/systemd/journal/socket", "/run/systemd/journal/stdout", "/run/systemd/journal/dev-log", "/dev/log",
    "/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket", "/run/user/*/bus",
    "/run/systemd/userdb/*", "/run/systemd/resolve/io.systemd.Resolve",
)
# Sockets that control the host's containers or the node: whoever connects can start a
# privileged container. A new connect there is the worst a workload can do.
DEFAULT_CONTROL_SOCKETS = (
    "/*/docker.sock", "/*/containerd.sock", "/*/containerd/containerd.sock*", "/*/crio.sock", "/*/podman.sock",
    "/var/lib/kubelet/*", "/run/containerd/*", "/*/cri-dockerd.sock",
)

# Where a new write is expected churn (scratch space, terminals), not "a write
# outside known directories".
DEFAULT_KNOWN_WRITE_PATHS = ("/tmp/*", "/var/tmp/*", "/dev/shm/*", "/dev/null", "/dev/pts/*", "/dev/tty")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _check_destination(text: str) -> str:
    parse_destination(text)
    return text


# Validated per item, so an error names the item: "allow.destinations.2: ...".
PathGlob = Annotated[str, AfterValidator(check_glob)]
DestinationPattern = Annotated[str, AfterValidator(_check_destination)]


class Thresholds(_Section):
    """Score thresholds (score 100 = identical behaviour). Verdict pause when
    score <= pause_score, warn when score <= warn_score."""

    pause_score: float = Field(60.0, ge=0, le=100, description="pause the rollout when score <= this")
    warn_score: float = Field(90.0, ge=0, le=100, description="warn (proceed, notify) when score <= this")

    @field_validator("warn_score")
    @classmethod
    def _warn_not_below_pause(cls, value: float, info) -> float:
        pause = info.data.get("pause_score")
        if pause is not None and value < pause:
            raise ValueError(f"must be >= pause_score ({pause:g}), or every warn would already be a pause")
        return value


Limits = create_model(
    "Limits", __base__=_Section,
    __doc__="Hard limits on new behaviour: breaching one pauses whatever the score. null = no limit.",
    **{field: (Optional[int], Field(rule.limit_default, ge=0, description=rule.limit_description))
       for field, rule in LIMITS.items()})

Weights = create_model(
    "Weights", __base__=_Section,
    __doc__="Weight of each score group (a group per kind, plus 'sensitive' for sensitive-path files).",
    **{group: (float, Field(weight, ge=0, le=100)) for group, weight in WEIGHTS.items()})


class SensitivePaths(_Section):
    use_defaults: bool = Field(True, description="include the built-in list (docs/config.md)")
    paths: list[PathGlob] = Field(default_factory=list, description="extra sensitive path globs")
    exclude: list[PathGlob] = Field(default_factory=list, description="globs removed from the sensitive set")

    def effective(self) -> tuple[str, ...]:
        return (DEFAULT_SENSITIVE_PATHS if self.use_defaults else ()) + tuple(self.paths)


# An allow list's entries are checked as the patterns of its keys' shape.
ALLOW_ENTRY = {KeyShape.PATH: PathGlob, KeyShape.ADDRESS: DestinationPattern, KeyShape.NAME: str}

AllowList = create_model(
    "AllowList", __base__=_Section,
    __doc__="Allow-listed features are never news (not new, not missing, not a rate shift).",
    **{field: (list[ALLOW_ENTRY[allowed.shape]], Field(default_factory=list, description=allowed.description))
       for field, allowed in ALLOW_LISTS.items()})


class Stability(_Section):
    baseline_min_fraction: float = Field(
        0.8, gt=0, le=1, description="a baseline feature is stable when seen in at least this fraction of windows")
    canary_min_windows: int = Field(
        2, ge=1, description="a new canary feature counts only when seen in at least this many windows")
    one_off_rules: list[NewFeatureRule] = Field(
        default_factory=lambda: list(DEFAULT_ONE_OFF_RULES),
        description="rules under which a single canary window is enough to be new (a shell is spawned once)")
    one_off_kinds: Optional[list[Group]] = Field(
        None, exclude=True, json_schema_extra={"deprecated": True},
        description="deprecated: use one_off_rules. Groups whose rules are added to the default one_off_rules")
    persistent_min_fraction: float = Field(
        0.8, gt=0, le=1,
        description="a new feature seen in, or a rate shift beyond every baseline window's rate in, at least this "
                    "fraction of canary windows is at least a warn")
    missing_min_rate: float = Field(
        1.0, ge=0, description="a stable baseline feature is reported missing only above this rate per 1000 syscalls")

    @model_validator(mode="after")
    def _read_deprecated_one_off_kinds(self) -> "Stability":
        # The old name was written when one-off exec, connect and write were dropped;
        # it adds its groups' rules to the default and never takes those away.
        if self.one_off_kinds is not None:
            if "one_off_rules" in self.model_fields_set:
                raise ValueError("one_off_kinds is the deprecated name of one_off_rules; set only one_off_rules")
            rules = list(DEFAULT_ONE_OFF_RULES)
            rules += [rule for group in self.one_off_kinds for rule in RULES_OF_GROUP[group] if rule not in rules]
            self.one_off_rules = rules
        return self

    def notes(self) -> list[str]:
        if self.one_off_kinds is None:
            return []
        return [f"stability.one_off_kinds is deprecated: use stability.one_off_rules "
                f"(one_off_kinds {list(self.one_off_kinds)} was applied as one_off_rules {self.one_off_rules})"]


class RateShift(_Section):
    enabled: bool = True
    kinds: list[Kind] = Field(default_factory=lambda: ["syscall"], description="kinds whose rates are compared")
    fdr_q: float = Field(0.05, gt=0, lt=1, description="Benjamini-Hochberg false discovery rate")
    min_ratio: float = Field(2.0, gt=1, description="ratio of medians (either direction) a shift must reach")
    min_rate: float = Field(1.0, ge=0, description="ignore features below this mean rate per 1000 syscalls")


class Sufficiency(_Section):
    min_windows: int = Field(5, ge=1, description="windows required on each side")
    min_syscalls: int = Field(5000, ge=0, description="syscalls required on each side")
    max_loss_ratio: float = Field(0.05, ge=0, le=1, description="lost / (kept + lost) events allowed per side")
    max_sample_every: Optional[int] = Field(
        None, ge=1, exclude=True, json_schema_extra={"deprecated": True},
        description="deprecated and ignored: counts are exact, sample_every samples only record -v's event stream")

    def notes(self) -> list[str]:
        if self.max_sample_every is None:
            return []
        return ["sufficiency.max_sample_every is deprecated and ignored: the kernel counts every event, "
                "sample_every samples only the event stream of record -v"]


class LocalIpc(_Section):
    """Unix-socket connects rated as what they reach (docs/config.md, "Local IPC")."""

    system_daemons: list[PathGlob] = Field(
        default_factory=lambda: list(DEFAULT_SYSTEM_DAEMON_SOCKETS),
        description="unix socket path globs of the host's system daemons (name service, journald, syslog, D-Bus)")
    system_daemon_severity: Literal["low", "medium"] = Field(
        "low", description="severity of a new connect to a system daemon's socket (never a limit: at most a warn)")
    control_sockets: list[PathGlob] = Field(
        default_factory=lambda: list(DEFAULT_CONTROL_SOCKETS),
        description="unix socket path globs of container runtimes and orchestrators (docker, containerd, "
                    "the kubelet): a new connect is critical and counts against limits.max_new_destinations")


class Report(_Section):
    max_features: int = Field(50, ge=0, le=1000, description="rows in the verdict's feature table")


class GateConfig(_Section):
    """The whole threshold config (the YAML file's top level)."""

    thresholds: Thresholds = Field(default_factory=Thresholds)
    limits: Limits = Field(default_factory=Limits)
    weights: Weights = Field(default_factory=Weights)
    sensitive_paths: SensitivePaths = Field(default_factory=SensitivePaths)
    allow: AllowList = Field(default_factory=AllowList)
    known_write_paths: list[PathGlob] = Field(
        default_factory=lambda: list(DEFAULT_KNOWN_WRITE_PATHS),
        description="globs where new writes are expected churn (baseline write directories are known too)")
    stability: Stability = Field(default_factory=Stability)
    rate_shift: RateShift = Field(default_factory=RateShift)
    local_ipc: LocalIpc = Field(default_factory=LocalIpc)
    sufficiency: Sufficiency = Field(default_factory=Sufficiency)
    report: Report = Field(default_factory=Report)

    def notes(self) -> list[str]:
        """Remarks for the verdict's `notes`: deprecated names that were read, and how."""
        return self.stability.notes() + self.sufficiency.notes()


def load_config(data: Optional[dict]) -> GateConfig:
    """Validate a parsed config object; raises ConfigError naming the field and reason."""
    if data is None:
        return GateConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"config: must be a mapping of settings (got {type(data).__name__})", "")
    try:
        return GateConfig.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, GateConfig) from None


def json_schema() -> dict:
    return GateConfig.model_json_schema()
