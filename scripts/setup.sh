#!/usr/bin/env bash
# Idempotent set-up: installs only what is missing. Called by `make setup`
# (and so by `make test`, `make demo`, `make bench`).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Debian packages: bcc (python bindings + tools for bpftrace comparison),
# Postgres, kernel headers for bcc's run-time compile, strace/bpftrace for the
# benchmark baselines, chromium for the dashboard test.
APT_PACKAGES=(python3-bpfcc python3-venv python3-dev postgresql linux-headers-amd64
              bpftrace strace gcc make chromium
              runc busybox-static   # runc + busybox-static: the exported seccomp profile is enforced in a test
              nginx-light wrk       # the agent_scale benchmark's real server under real load
              redis-server postgresql-plpython3-15)  # daemons of the evaluation set (python -m bench evaluation --record)
APT_PACKAGES+=(mmdebstrap eatmydata)  # `make images`: root filesystems from Debian packages, dpkg without fsync
# docker.io: the containers discovery source is tested against a real dockerd (not over
# another vendor's Docker, such as a CI runner's docker-ce, which its containerd would conflict with)
command -v dockerd >/dev/null || APT_PACKAGES+=(docker.io)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
    log "Debian packages present"
fi

# bcc compiles its C at load time against /lib/modules/$(uname -r)/build. This
# kernel has no matching Debian package, so link Debian's generic headers there
# -- only when nothing is there already (never overwrite a real tree).
KDIR="/lib/modules/$(uname -r)"
common_dir=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -1)
if [ ! -e "$KDIR/build" ]; then
    amd64_dir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1)
    if [ -n "$amd64_dir" ] && [ -n "$common_dir" ]; then
        log "linking kernel headers $amd64_dir under $KDIR"
        $SUDO mkdir -p "$KDIR"
        $SUDO ln -sfn "$amd64_dir" "$KDIR/build"
        [ -e "$KDIR/source" ] || $SUDO ln -sfn "$common_dir" "$KDIR/source"
    else
        log "WARNING: no Debian kernel headers found; bcc programs will not compile"
    fi
else
    log "kernel headers present at $KDIR/build"
fi

# arm64 kernel headers, for the test that compiles the probe for arm64 (its
# argument-register branch) with bcc's ARCH=arm64. Fetched with apt's own lists
# in a private directory, so the host's dpkg architectures are left alone; the
# tree is Debian's split pair merged into one, as BCC_KERNEL_SOURCE needs.
ARM64_DIR=/var/cache/syscall-gate/arm64-headers
if [ -n "$common_dir" ] && [ ! -f "$ARM64_DIR/merged/.complete" ]; then
    abi=$(basename "$common_dir"); abi=${abi#linux-headers-}; abi=${abi%-common}
    log "fetching linux-headers-$abi-arm64 (for the arm64 compile test)"
    apt_private=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
                 -o Dir::State::Lists="$ARM64_DIR/lists" -o Dir::Cache="$ARM64_DIR/cache")
    $SUDO mkdir -p "$ARM64_DIR/lists/partial" "$ARM64_DIR/cache/archives/partial" "$ARM64_DIR/deb"
    if $SUDO apt-get -qq "${apt_private[@]}" update &&
       (cd "$ARM64_DIR/deb" && $SUDO apt-get -qq "${apt_private[@]}" download "linux-headers-$abi-arm64" 2>/dev/null); then
        $SUDO rm -rf "$ARM64_DIR/root" "$ARM64_DIR/merged"
        $SUDO dpkg-deb -x "$(ls "$ARM64_DIR"/deb/linux-headers-"$abi"-arm64_*.deb | tail -1)" "$ARM64_DIR/root"
        $SUDO mkdir -p "$ARM64_DIR/merged"
        $SUDO cp -as "$common_dir/." "$ARM64_DIR/merged/"
        $SUDO cp -a "$ARM64_DIR/root/usr/src/linux-headers-$abi-arm64/." "$ARM64_DIR/merged/"
        $SUDO touch "$ARM64_DIR/merged/.complete"
    else
        log "WARNING: could not fetch linux-headers-$abi-arm64; the arm64 compile test cannot run"
    fi
else
    log "arm64 kernel headers present (or no -common headers to match)"
fi

# The venv is made by Debian's python3 with system site packages, so that the
# Debian-packaged bcc imports inside it; everything else comes from PyPI.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
    log "creating .venv with /usr/bin/python3 (system site packages for bcc)"
    rm -rf .venv
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    log "installing the project (editable, with dev extras) into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
else
    log "python dependencies present"
fi
log "ok"
