#!/usr/bin/env bash
# CI and tests only: installs a software Vulkan driver (Mesa's lavapipe) so the WebGPU
# tests have an adapter (test/unit/evaluation/webgpu*.test.ts). It may add an apt source,
# so the quickstart never runs it.
#
# Dawn (the `webgpu` package) refuses Debian 12's mesa-vulkan-drivers 22.3; 23 and later
# work. Where the machine's suites offer none that new (Debian 12), this adds the
# backports suite of the same release, on the mirror the machine's own Debian sources
# name, and installs mesa-vulkan-drivers and libvulkan1 from it. Nothing else is taken from
# backports: apt never prefers a backports suite by itself, and `-t` applies to this
# install only (it may bring along the Mesa libraries these two need at their version).
set -euo pipefail

MIN_MESA=23
packages=(mesa-vulkan-drivers libvulkan1)

installed() {
  { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } | awk '$3 == "installed" { print $4 }'
}

mesa=$(installed mesa-vulkan-drivers)
if [[ -n $mesa && -n $(installed libvulkan1) ]] && dpkg --compare-versions "$mesa" ge "$MIN_MESA"; then
  echo "setup-vulkan: mesa-vulkan-drivers $mesa and libvulkan1 present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup-vulkan: needs root to install ${packages[*]} (mesa-vulkan-drivers $MIN_MESA or later)" >&2
  exit 1
fi

lock=(-o DPkg::Lock::Timeout=900)
apt-get "${lock[@]}" update -qq
candidate=$(apt-cache policy mesa-vulkan-drivers | awk '/Candidate:/ { print $2 }')
target=()
if [[ -z $candidate || $candidate == '(none)' ]] || ! dpkg --compare-versions "$candidate" ge "$MIN_MESA"; then
  . /etc/os-release
  backports="${VERSION_CODENAME:?setup-vulkan: /etc/os-release names no release}-backports"
  sources=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  if ! grep -qsE "^[^#]*([[:space:]]|^Suites:.*)${backports}([[:space:]]|$)" "${sources[@]}"; then
    # The mirror of the release's main suite: from a deb822 stanza whose Suites name it, else a one-line source.
    mirror=$(awk -v suite="$VERSION_CODENAME" 'BEGIN { RS = ""; FS = "\n" }
      { uris = ""; named = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uris = u[2] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) named = 1 }
        }
        if (named && uris != "") { print uris; exit } }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [[ -z $mirror ]]; then
      mirror=$(awk -v suite="$VERSION_CODENAME" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i ~ /^[a-z+]+:\/\// && $(i + 1) == suite) { print $i; exit } }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    fi
    if [[ -z $mirror ]]; then
      echo "setup-vulkan: no apt source names the $VERSION_CODENAME suite, so there is no mirror to add $backports from" >&2
      exit 1
    fi
    echo "setup-vulkan: adding $backports from $mirror (/etc/apt/sources.list.d/tvr-$backports.sources)"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$backports" >"/etc/apt/sources.list.d/tvr-$backports.sources"
    apt-get "${lock[@]}" update -qq
  fi
  target=(-t "$backports")
fi
echo "setup-vulkan: installing ${packages[*]}${target:+ from ${target[1]}}"
DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq --no-install-recommends "${target[@]}" "${packages[@]}"
mesa=$(installed mesa-vulkan-drivers)
if ! dpkg --compare-versions "${mesa:-0}" ge "$MIN_MESA"; then
  echo "setup-vulkan: mesa-vulkan-drivers ${mesa:-is missing} after the install; Dawn needs $MIN_MESA or later" >&2
  exit 1
fi
echo "setup-vulkan: mesa-vulkan-drivers $mesa installed"
