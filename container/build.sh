#!/usr/bin/env bash
# Owns `make image` and `make image-archive`: stages the build context (the static binary, the
# host's CA bundle, an empty data/), builds container/Containerfile with the first tool at hand
# (buildah, podman, or docker with a running daemon) and, when asked, writes the image as an OCI
# archive (and a Docker archive) to carry across an air gap. Nothing is fetched from the network.
# See docs/container.md.
#
# usage: container/build.sh [--archive FILE] [--docker-archive FILE]
#   --archive FILE         write the image as an OCI archive (podman load, skopeo; no HEALTHCHECK)
#   --docker-archive FILE  write it as a Docker archive (docker load, podman load; keeps HEALTHCHECK)
#   PROXY_BINARY      the binary to pack (default target/static/proxy; must be statically linked)
#   IMAGE             image name, tagged :VERSION and :latest (default localhost/proxy)
#   IMAGE_TOOL        buildah, podman or docker (default: the first one that works)
#   IMAGE_TOOL_FLAGS  global flags for buildah/podman, e.g. "--root DIR --runroot DIR --storage-driver vfs"
#   IMAGE_CONTEXT     where the build context is staged (default target/image)
#   IMAGE_SOURCE      the org.opencontainers.image.source label (default: git remote origin)
#   CA_BUNDLE         CA bundle to copy in (default $SSL_CERT_FILE, else Debian's)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

ARCHIVE= DOCKER_ARCHIVE=
while [ $# -gt 0 ]; do
  case $1 in
    --archive) ARCHIVE=${2:?--archive needs a file}; shift 2 ;;
    --docker-archive) DOCKER_ARCHIVE=${2:?--docker-archive needs a file}; shift 2 ;;
    *) echo "usage: $0 [--archive FILE] [--docker-archive FILE]" >&2; exit 2 ;;
  esac
done

BIN=${PROXY_BINARY:-$ROOT/target/static/proxy}
IMAGE=${IMAGE:-localhost/proxy}
CONTEXT=${IMAGE_CONTEXT:-$ROOT/target/image}
CA=${CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
read -r -a TOOL_FLAGS <<<"${IMAGE_TOOL_FLAGS:-}"
die() { echo "container/build.sh: $*" >&2; exit 1; }

[ -x "$BIN" ] || die "$BIN not found: run make static (make image does)"
# A FROM scratch image has no C library: a dynamically linked binary would not start in it.
if command -v ldd >/dev/null && ldd "$BIN" 2>/dev/null | grep -q '=>'; then
  die "$BIN is dynamically linked; the image needs the static binary (make static)"
fi
[ -s "$CA" ] || die "no CA bundle at $CA (install ca-certificates, or set CA_BUNDLE)"
VERSION=$("$BIN" -version | awk '{print $2}')
[ -n "$VERSION" ] || die "$BIN -version printed no version"
REVISION=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
SOURCE=${IMAGE_SOURCE:-$(git -C "$ROOT" remote get-url origin 2>/dev/null || echo unknown)}
# File times and the image's creation time from the last commit: the same sources and binary give
# the same image digest, which an air-gapped site can compare.
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}

rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/data"
cp "$BIN" "$CONTEXT/proxy"
cp "$CA" "$CONTEXT/ca-certificates.crt"
cp "$ROOT/container/Containerfile" "$CONTEXT/Containerfile"

TOOL=${IMAGE_TOOL:-}
if [ -z "$TOOL" ]; then
  if command -v buildah >/dev/null; then TOOL=buildah
  elif command -v podman >/dev/null; then TOOL=podman
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then TOOL=docker
  else die "no image tool: install buildah or podman (apt-get install buildah), or start docker"
  fi
fi

ARGS=(--build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "SOURCE=$SOURCE"
      -t "$IMAGE:$VERSION" -t "$IMAGE:latest" -f "$CONTEXT/Containerfile")
case $TOOL in
  # The Docker format keeps HEALTHCHECK; the OCI format has no such field.
  buildah|podman) "$TOOL" "${TOOL_FLAGS[@]}" build --format docker --layers=false --timestamp "$EPOCH" "${ARGS[@]}" "$CONTEXT" ;;
  docker) docker build "${ARGS[@]}" "$CONTEXT" ;;
  *) die "IMAGE_TOOL=$TOOL: expected buildah, podman or docker" ;;
esac
echo "built $IMAGE:$VERSION with $TOOL"

# save FORMAT FILE: the image as an archive of that format (oci-archive or docker-archive).
save() {
  mkdir -p "$(dirname "$2")"
  rm -f "$2"
  case $TOOL in
    buildah) buildah "${TOOL_FLAGS[@]}" push "$IMAGE:$VERSION" "$1:$2:$IMAGE:$VERSION" ;;
    podman) podman "${TOOL_FLAGS[@]}" save --format "$1" -o "$2" "$IMAGE:$VERSION" ;;
    docker)
      if [ "$1" = docker-archive ]; then docker save -o "$2" "$IMAGE:$VERSION"
      else
        command -v skopeo >/dev/null || die "writing an OCI archive from docker needs skopeo"
        docker save "$IMAGE:$VERSION" >"$2.docker"
        skopeo copy "docker-archive:$2.docker" "oci-archive:$2:$IMAGE:$VERSION"
        rm -f "$2.docker"
      fi ;;
  esac
  echo "wrote $2 ($(stat -c %s "$2") bytes)"
}
[ -z "$ARCHIVE" ] || save oci-archive "$ARCHIVE"
[ -z "$DOCKER_ARCHIVE" ] || save docker-archive "$DOCKER_ARCHIVE"
