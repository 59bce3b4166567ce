#!/usr/bin/env bash
# Build a stand-in for `python:3.11-slim` from the Debian package mirror, for air-gapped
# hosts that cannot pull from Docker Hub (as in many banks), and tag it with the name the
# Dockerfiles use, so both image builds take it with --pull=never.
#
#   deploy/containers/build-base-image.sh [ENGINE]      # ENGINE: podman (default) or docker
#
# Debian bookworm's python3 is 3.11 (3.11.2). The host's CA certificates are trusted inside
# (package registries may be reached through a TLS proxy that only the host's store trusts),
# and SSL_CERT_FILE is set because uv ignores the system store otherwise. Needs root and
# debootstrap (apt-get install debootstrap). Takes about a minute.
set -euo pipefail

ENGINE="${1:-podman}"
TAG="${BASE_IMAGE:-docker.io/library/python:3.11-slim}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "debootstrap is missing: apt-get install debootstrap (needs root)" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "building the base image with debootstrap needs root" >&2
  exit 2
fi

root="$(mktemp -d /var/tmp/fraud-base-XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap $SUITE from $MIRROR into $root"
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
  "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"

# python/pip as in the official image; pip may install system-wide (a container is the venv).
ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$root/usr/local/bin/pip"
rm -f "$root"/usr/lib/python3.*/EXTERNALLY-MANAGED
# Trust what the host trusts.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
chroot "$root" update-ca-certificates >/dev/null
# Keep the image small: package lists and docs are not needed at run time.
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*

tar -C "$root" -c . | "$ENGINE" import \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
  --change 'CMD ["python3"]' - "$TAG" >/dev/null
echo "built $TAG"
