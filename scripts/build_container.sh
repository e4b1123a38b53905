#!/usr/bin/env bash
# Build the butlers image with no image registry: a Debian base made here with debootstrap,
# imported into podman, then the Containerfile built on it, smoke test included.
#
#   sudo scripts/build_container.sh              # -> localhost/butlers:latest
#
# Steps (each timed; the total is printed at the end):
#   1. base image: `debootstrap` a minimal Debian (bookworm) with python3, pip and tini from a
#      Debian package mirror, `podman import` it as $BASE_IMAGE. Reused when it already exists
#      (REBUILD_BASE=1 makes it again).
#   2. `podman build --target runtime`, tagged $IMAGE (the default target is the same image).
#   3. `podman build --target smoke`: scripts/container_smoke.sh run inside the build as the
#      image's user (butlerd --version, butlerctl check, butlerd serve on the embedded
#      PostgreSQL, butlerctl status, a clean SIGTERM stop); on failure $IMAGE is removed.
# `--isolation=chroot` because the build may itself run in a container with no user namespaces
# (this project's CI); on an ordinary host any isolation works.
#
# Settings (environment): DEBIAN_MIRROR (default: the Debian mirror apt uses here, else
# deb.debian.org), SUITE (bookworm), BASE_IMAGE, IMAGE, REBUILD_BASE=1, DEB_CACHE, PIP_INDEX_URL
# (uv and the project's dependencies; default PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=${SUITE:-bookworm}
BASE_IMAGE=${BASE_IMAGE:-localhost/butlers-python:3.11-${SUITE}}
IMAGE=${IMAGE:-localhost/butlers:latest}
BASE_PACKAGES=python3,python3-pip,tini,ca-certificates
DEB_CACHE=${DEB_CACHE:-/var/cache/butlers-debootstrap}  # the .deb files, kept for the next base

started=$(date +%s)
phase_started=$started
timings=()
phase_done() {
    local now
    now=$(date +%s)
    timings+=("$1: $((now - phase_started)) s")
    phase_started=$now
}

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is missing (apt-get install $2)" >&2; exit 1; }; }
need podman podman
[ "$(id -u)" = 0 ] || { echo "error: run as root (debootstrap and chroot builds need it)" >&2; exit 1; }

# The Debian mirror apt already reaches on this machine (deb822 `URIs:` or one-line `deb` entries).
detect_mirror() {
    local uri
    uri=$(grep -hsE '^\s*(URIs:|deb\s)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -n 1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

build_base() {
    need debootstrap debootstrap
    local mirror root
    mirror=${DEBIAN_MIRROR:-$(detect_mirror)}
    root=$(mktemp -d /var/tmp/butlers-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    echo "== base: debootstrap $SUITE from $mirror (packages: $BASE_PACKAGES)"
    mkdir -p "$DEB_CACHE"
    debootstrap --variant=minbase --cache-dir="$DEB_CACHE" --include="$BASE_PACKAGES" "$SUITE" "$root" "$mirror"
    # The base trusts what this host trusts: a local CA (a company or sandbox proxy that
    # re-signs HTTPS) is needed inside the build too, for pip and uv to reach the package index.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates
    fi
    # What an image needs of a rootfs, no more: package caches and lists go.
    rm -rf "${root:?}"/var/cache/apt/archives/*.deb "${root:?}"/var/lib/apt/lists/* "${root:?}"/tmp/* "${root:?}"/dev/*
    tar --numeric-owner -C "$root" -c . \
        | podman import --change 'CMD ["python3"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE"
    rm -rf "$root"
    trap - EXIT
}

if [ "${REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
    build_base
else
    echo "== base: $BASE_IMAGE exists (REBUILD_BASE=1 to make it again)"
fi
phase_done "base image"

# docker format: the OCI image format has no HEALTHCHECK (podman drops it with a warning).
build_args=(--isolation=chroot --format docker --build-arg "PYTHON_IMAGE=$BASE_IMAGE" -f Containerfile)
[ -z "${PIP_INDEX_URL:-}" ] || build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")

echo "== build: $IMAGE (target runtime)"
podman build "${build_args[@]}" --target runtime -t "$IMAGE" .
phase_done "image"

# Every layer but the last comes from the cache of the build above. A failing smoke test untags
# the image, so that no unchecked image is left as $IMAGE.
echo "== build: target smoke (the image's smoke test, as a build step)"
if ! podman build "${build_args[@]}" --target smoke -t localhost/butlers:smoke .; then
    podman rmi "$IMAGE" >/dev/null || true
    echo "error: the smoke test failed; $IMAGE removed" >&2
    exit 1
fi
podman rmi localhost/butlers:smoke >/dev/null
phase_done "smoke test"

podman image inspect "$IMAGE" --format 'user={{.Config.User}} entrypoint={{.Config.Entrypoint}} healthcheck={{.Config.Healthcheck.Test}}' \
    2>/dev/null || true
echo "== done: $IMAGE ($(podman image inspect "$IMAGE" --format '{{.Size}}') bytes)"
for line in "${timings[@]}"; do echo "   $line"; done
echo "   total: $(($(date +%s) - started)) s"
