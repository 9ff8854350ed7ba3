#!/bin/bash
# The Action's pinned dependencies as wheels, for a release tag: with action/wheels/ in the
# tag, the composite step installs with --no-index (action.yml), so a job needs no package
# index. Every CPython the Action supports (3.9-3.13) on both runner architectures; the
# pure-Python wheels are shared. Run from the repository's root (docs/action.md, "Releasing").
set -euo pipefail
dest="${1:-action/wheels}"
mkdir -p "$dest"
for python in 3.9 3.10 3.11 3.12 3.13; do
    for platform in manylinux2014_x86_64 manylinux2014_aarch64; do
        python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
            --implementation cp --python-version "$python" --platform "$platform" \
            --dest "$dest" -r action/requirements.txt
    done
done
du -sh "$dest"
