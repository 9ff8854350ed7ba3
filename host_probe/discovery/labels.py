"""Identity from an orchestrator's labels: the one rule the containers and Kubernetes sources share."""

from __future__ import annotations

import logging

from gate_contract.records import ROLES
from host_probe.discovery import Identity

log = logging.getLogger(__name__)


def identity_from_labels(labels: dict[str, str], *, service_label: str, version_label: str, role_label: str,
                         default_role: str, image: str, described: str) -> Identity | None:
    """The identity the labels give, or None when the workload is not to be watched
    (no service label, or a role that is not a role). Without a version label the
    version is the image's tag. `described` names the workload in the log line."""
    service = labels.get(service_label, "").strip()
    if not service:
        return None
    role = labels.get(role_label, "").strip() or default_role
    if role not in ROLES:
        log.warning("%s has %s=%r, not one of %s; not watched", described, role_label, role, ", ".join(ROLES))
        return None
    version = labels.get(version_label, "").strip() or image_tag(image)
    return Identity(service=service, version=version, role=role)


def image_tag(reference: str) -> str:
    """The tag of an image reference (`registry:5000/team/app:v42` -> `v42`), else its
    digest (`app@sha256:...`), else `latest`, which is what the runtime pulls for a bare name."""
    name, _, digest = reference.partition("@")
    last_component = name.rsplit("/", 1)[-1]  # a registry's ":port" is never in the last component
    _, colon, tag = last_component.partition(":")
    if colon and tag:
        return tag
    return digest or "latest"
