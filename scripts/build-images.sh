#!/usr/bin/env bash
# `make images`: the server and agent images, built here from Debian packages and the
# project's wheel -- no base image from a registry. Each root filesystem is made by
# mmdebstrap (Debian bookworm, SOURCE_DATE_EPOCH from the last commit of its inputs) and
# `docker import`ed with the image's configuration. An image is rebuilt only when the
# digest of its inputs (the tree's sources, images/, this script) differs from the one
# on its label.  Usage: scripts/build-images.sh [server|agent ...]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'images: %s\n' "$*"; }
SUITE=bookworm
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
PREFIX=${IMAGE_PREFIX:-syscall-gate}
DIGEST_LABEL=org.syscall-gate.inputs
VENV=/opt/syscall-gate
CACHE=${IMAGE_CACHE:-/var/cache/syscall-gate/images}
BUILD=build/images
INPUTS=(pyproject.toml gate_contract gate_server host_probe bpf migrations images scripts/build-images.sh)
# the time of the last commit that changed an input: a commit of docs alone rebuilds nothing
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- "${INPUTS[@]}")}

command -v mmdebstrap >/dev/null || { log "mmdebstrap is missing: run \`make setup\`"; exit 2; }
docker version >/dev/null 2>&1 || { log "no Docker daemon answers (start dockerd; \`make setup\` installs docker.io)"; exit 2; }

inputs_digest() {
    { echo "$SUITE $SOURCE_DATE_EPOCH $1"
      git ls-files --cached --others --exclude-standard -z -- "${INPUTS[@]}" | sort -z |
          while IFS= read -r -d '' file; do
              if [ -L "$file" ]; then echo "$file -> $(readlink "$file")"; else sha256sum "$file"; fi
          done
    } | sha256sum | cut -c1-32
}

current_digest() {
    docker image inspect -f "{{ index .Config.Labels \"$DIGEST_LABEL\" }}" "$1" 2>/dev/null || true
}

wheel=""
project_wheel() {
    if [ -z "$wheel" ]; then
        rm -rf "$BUILD/wheel" && mkdir -p "$BUILD/wheel"
        .venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w "$BUILD/wheel" . 2>/dev/null
        wheel=$(ls "$BUILD"/wheel/syscall_gate-*.whl)
    fi
}

# The wheels an image installs, fetched on the host (pip's cache makes a rebuild offline
# but for the index's answer) and copied in: the image's pip never reaches the network.
wheelhouse() {  # name, pip arguments...
    local house="$BUILD/$1-wheels"; shift
    rm -rf "$house" && mkdir -p "$house"
    .venv/bin/python -m pip wheel -q --only-binary=:all: -c images/constraints.txt -w "$house" "$@" >&2
    echo "$house"
}

# Debian packages, each downloaded once: apt's archive is kept in $CACHE between builds.
# The tarball is imported only once whole: an import of a failed build would be labelled
# with the inputs' digest and never rebuilt.
rootfs() {  # image name, packages (comma-separated), then mmdebstrap's --customize-hook arguments
    local name=$1 packages=$2; shift 2
    mkdir -p "$CACHE/apt"
    if ! TMPDIR=/dev/shm mmdebstrap --quiet --mode=root --variant=essential --include="$packages" \
        --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --skip=essential/unlink --skip=download/empty \
        --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
        --setup-hook="sync-in $CACHE/apt /var/cache/apt/archives/" \
        --customize-hook="sync-out /var/cache/apt/archives $CACHE/apt" \
        "$@" --customize-hook='rm -rf "$1"/tmp/wheels' \
        "$SUITE" "$BUILD/$name.tar" 2> "$BUILD/$name-mmdebstrap.log"; then
        tail -20 "$BUILD/$name-mmdebstrap.log" >&2
        log "mmdebstrap failed for the $name image (whole log: $BUILD/$name-mmdebstrap.log)"
        exit 1
    fi
}

# Commands in the new root run with a clean environment: none of the builder's PIP_* or
# PYTHON* variables reach the image's pip; SOURCE_DATE_EPOCH makes its .pyc files hash-checked,
# so they do not carry the build's time.
IN_ROOT="chroot \"\$1\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"

install_hooks() {  # wheelhouse dir, pip arguments for the image's venv...
    local house=$1; shift
    printf -- '--customize-hook=%s\n' \
        "mkdir -p \"\$1\"/tmp/wheels && cp $PWD/$house/* \"\$1\"/tmp/wheels/" \
        "$VENV_COMMAND" \
        "$IN_ROOT $VENV/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check --find-links /tmp/wheels $*"
}

build_server() {
    local tag=$PREFIX-server:$VERSION digest
    digest=$(inputs_digest server)
    if [ "$(current_digest "$tag")" = "$digest" ]; then log "$tag is up to date ($digest)"; return; fi
    local whl house
    project_wheel; whl=$wheel; house=$(wheelhouse server "$whl")
    cp "$whl" "$house/"
    VENV_COMMAND="$IN_ROOT python3 -m venv $VENV"
    mapfile -t hooks < <(install_hooks "$house" syscall-gate)
    log "building $tag"
    # libstdc++6: the C++ runtime numpy and scipy wheels expect of the system (manylinux)
    rootfs server python3,python3-venv,ca-certificates,libstdc++6 "${hooks[@]}" \
        --customize-hook="$IN_ROOT $VENV/bin/pip uninstall -q -y pip setuptools" \
        --customize-hook='echo "gate:x:10001:10001:syscall-gate server:/var/lib/syscall-gate:/usr/sbin/nologin" >> "$1"/etc/passwd' \
        --customize-hook='echo "gate:x:10001:" >> "$1"/etc/group' \
        --customize-hook='mkdir -p "$1"/var/lib/syscall-gate && chown 10001:10001 "$1"/var/lib/syscall-gate'
    docker import \
        --change "ENTRYPOINT [\"$VENV/bin/gate-server\"]" --change 'CMD ["serve"]' \
        --change 'USER 10001:10001' --change 'WORKDIR /var/lib/syscall-gate' \
        --change "ENV PATH=$VENV/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change 'ENV GATE_BIND=0.0.0.0:8080' --change 'ENV GATE_DATA_DIR=/var/lib/syscall-gate' \
        --change 'EXPOSE 8080' \
        --change "LABEL $DIGEST_LABEL=$digest org.opencontainers.image.version=$VERSION org.opencontainers.image.title=$PREFIX-server" \
        "$BUILD/server.tar" "$tag" >/dev/null
    rm -f "$BUILD/server.tar"
    log "built $tag"
}

build_agent() {
    local tag=$PREFIX-agent:$VERSION digest
    digest=$(inputs_digest agent)
    if [ "$(current_digest "$tag")" = "$digest" ]; then log "$tag is up to date ($digest)"; return; fi
    local whl house
    project_wheel; whl=$wheel; house=$(wheelhouse agent -r images/agent-requirements.txt)
    cp "$whl" "$house/"
    # system site packages: Debian's bcc (python3-bpfcc) imports inside the venv
    VENV_COMMAND="$IN_ROOT python3 -m venv --system-site-packages $VENV"
    cp images/agent-requirements.txt "$house/"
    mapfile -t hooks < <(install_hooks "$house" -r /tmp/wheels/agent-requirements.txt)
    log "building $tag"
    # the project's wheel without its dependencies: the server's (flask, gunicorn, scipy) stay out,
    # and so do the wheel's server and Action packages (the agent imports neither: the boundary test)
    rootfs agent python3,python3-venv,python3-bpfcc,ca-certificates "${hooks[@]}" \
        --customize-hook="$IN_ROOT $VENV/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check --no-deps /tmp/wheels/$(basename "$whl")" \
        --customize-hook="$IN_ROOT $VENV/bin/pip uninstall -q -y pip setuptools" \
        --customize-hook="rm -rf \"\$1\"$VENV/lib/python3*/site-packages/gate_server \"\$1\"$VENV/lib/python3*/site-packages/action" \
        --customize-hook='mkdir -p "$1"/var/lib/syscall-gate-agent "$1"/run/syscall-gate'
    docker import \
        --change "ENTRYPOINT [\"$VENV/bin/host-probe\"]" --change 'CMD ["--help"]' \
        --change "ENV PATH=$VENV/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change 'ENV GATE_DATA_DIR=/var/lib/syscall-gate-agent' \
        --change 'EXPOSE 9464' \
        --change "LABEL $DIGEST_LABEL=$digest org.opencontainers.image.version=$VERSION org.opencontainers.image.title=$PREFIX-agent" \
        "$BUILD/agent.tar" "$tag" >/dev/null
    rm -f "$BUILD/agent.tar"
    log "built $tag"
}

for image in "${@:-server agent}"; do
    for name in $image; do
        case $name in
            server|agent) start=$(date +%s); "build_$name"; log "$name: $(( $(date +%s) - start )) s" ;;
            *) log "unknown image '$name' (server or agent)"; exit 2 ;;
        esac
    done
done
