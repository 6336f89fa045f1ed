#!/usr/bin/env bash
# Writes the commit history up to HEAD into DEST_DIR (default .devgit, git-ignored), for
# a GPU machine, whose copy of the working tree has no .git: scripts/gpu-validate.sh clones
# it so that asv's --set-commit-hash finds the commit and its date.
#
# DEST_DIR/repo.bundle: `git bundle create ... HEAD` (one file). In a shallow clone (CI
# checkouts often are) a bundle cannot be cloned, so DEST_DIR/repo.git is written instead,
# a bare clone of depth 1 holding the same commit.
# Usage: scripts/make-devgit.sh [DEST_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dest=${1:-.devgit}
mkdir -p "$dest"
rm -rf "$dest/repo.bundle" "$dest/repo.git"
if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    git clone -q --bare --depth 1 "file://$PWD" "$dest/repo.git"
    made="$dest/repo.git (shallow repository: a bare clone of depth 1)"
else
    git bundle create -q "$dest/repo.bundle" HEAD
    made="$dest/repo.bundle"
fi
echo "make-devgit: $made holds $(git rev-parse --short HEAD) ($(du -sh "$dest" | cut -f1))"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    echo "make-devgit: note: tracked files have uncommitted changes;" \
        "results will be recorded under $(git rev-parse --short HEAD)" >&2
fi
