#!/usr/bin/env bash
# Installs the Debian packages the project uses, idempotently (root, or sudo):
#   chromium, fonts-liberation   the browser (and its fonts) for the webview tests and the VS Code suite
#   libkrb5-dev, pkg-config   code-server's native module builds against them (VS Code suite)
#   python3-numpy     an independent safetensors reader in the tests, and a benchmark peer
#   python3-sklearn   sklearn's 8x8 handwritten digits, a data source of the examples
#   dataset-fashion-mnist     Fashion-MNIST, a data source of the examples
#   dict-foldoc, dict-jargon, dict-devil, bible-kjv, fortunes
#                     real English text by domain (computing dictionary, Jargon File, The Devil's
#                     Dictionary, King James Bible, quotations): the language-model examples' corpora
# Optional (benchmarks only): TVR_WITH_TORCH=1 also installs python3-torch.
set -euo pipefail

packages=(chromium fonts-liberation libkrb5-dev pkg-config python3-numpy python3-sklearn dataset-fashion-mnist
  dict-foldoc dict-jargon dict-devil bible-kjv fortunes)
[[ "${TVR_WITH_TORCH:-}" == 1 ]] && packages+=(python3-torch)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  echo "setup-system: Debian packages present (${packages[*]})"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup-system: missing Debian packages: ${missing[*]}" >&2
  echo "setup-system: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "setup-system: installing ${missing[*]}"
# Wait for another apt/dpkg instead of failing on its lock.
lock=(-o DPkg::Lock::Timeout=900)
apt-get "${lock[@]}" update -qq
DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}"
