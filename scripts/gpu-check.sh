#!/usr/bin/env bash
# The GPU check (issue 12), in one go on a machine with a GPU, in under ten minutes:
# `tvr doctor`, the evaluation benchmark (a LayersModel's examples/s and GPT-2 small's
# tokens/s) on each usable tfjs backend, WebGPU included, and a merge benchmark; then one
# table of the figures, with the device that gave them. Logs stay in the folder it names.
#
#   bash scripts/gpu-check.sh
#
# Runs from a checkout whose node_modules is installed (npm ci elsewhere): it downloads
# and installs nothing (no apt-get, no npm), so it also runs where there is no network.
# Environment: GPU_CHECK_OUT (the log folder, default a new temporary one); VK_DRIVER_FILES
# as for any Vulkan program.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
node=./node_modules/.bin/node
[[ -x $node ]] || node=$(command -v node) || { echo 'gpu-check: no node (run npm ci first, which brings node_modules/.bin/node)'; exit 1; }
out=${GPU_CHECK_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/tvr-gpu-check-XXXXXX")}
mkdir -p "$out"
say() { printf '\n== %s\n' "$*"; }

say 'Vulkan (what WebGPU runs on here)'
if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  echo 'Vulkan loader: present (libvulkan.so.1)'
else
  echo 'Vulkan loader: MISSING (no libvulkan.so.1): Dawn cannot reach any GPU, so webgpu will be unusable.'
  echo '  This script installs nothing. Install libvulkan1 (Debian/Ubuntu: apt-get install libvulkan1), or, without a'
  echo '  network, unpack its .deb brought from elsewhere: dpkg -x libvulkan1_*.deb / && ldconfig.'
fi
# Where a GPU driver's Vulkan manifest sits outside the loader's usual folders, the loader does not see it.
nvidia_icd=$(ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
[[ -n $nvidia_icd ]] && echo "NVIDIA's Vulkan driver manifest: $nvidia_icd"
[[ -n ${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-} ]] && echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}"

say 'build'
"$node" scripts/build.ts || { echo 'gpu-check: the build failed'; exit 1; }

say 'tvr doctor'
doctor() { "$node" dist/tvr.mjs doctor --json >"$out/doctor.json" 2>"$out/doctor.stderr"; }
doctor
field() { "$node" -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = process.argv[2].split(".").reduce((o, k) => o?.[k], r); process.stdout.write(v === undefined ? "" : String(v));' "$out/doctor.json" "$1"; }
if [[ $(field webgpu.usable) != true && -n $nvidia_icd && -z ${VK_DRIVER_FILES:-} ]]; then
  echo "no WebGPU adapter ($(field webgpu.reason)); trying again with VK_DRIVER_FILES=$nvidia_icd (older loaders read VK_ICD_FILENAMES)"
  export VK_DRIVER_FILES=$nvidia_icd VK_ICD_FILENAMES=$nvidia_icd
  doctor
fi
"$node" dist/tvr.mjs doctor 2>/dev/null | tee "$out/doctor.txt"
if [[ $(field webgpu.usable) != true ]]; then
  echo "WebGPU is not usable: $(field webgpu.reason)"
  [[ -z $nvidia_icd ]] && echo '  Where the GPU vendor ships a Vulkan driver, point VK_DRIVER_FILES (older loaders: VK_ICD_FILENAMES) at its manifest, e.g. nvidia_icd.json, and run again.'
fi

# The tfjs backends to measure: each usable one (tfjs-cpu is left out: minutes per GPT-2 batch).
backends=()
for name in tfjs-node-gpu tfjs-node tfjs-wasm; do
  [[ $("$node" -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(String(r.backends.find((b) => b.name === process.argv[2])?.usable))' "$out/doctor.json" "$name") == true ]] && backends+=("$name")
done
gpt2_backends=("${backends[@]}")
if [[ $(field webgpu.usable) == true ]]; then
  backends+=(webgpu)
  # GPT-2 small's embedding (50257 x 768 float32, 154 MB) must fit the adapter's binding limit; the
  # benchmark uploads it unchecked, and past the limit WebGPU computes nothing and tfjs times that.
  if (($(field webgpu.adapter.maxStorageBufferBindingSize) >= 50257 * 768 * 4)); then
    gpt2_backends+=(webgpu)
  else
    gpt2_webgpu_skipped="not run: GPT-2 small's 154 MB embedding exceeds the adapter's $(($(field webgpu.adapter.maxStorageBufferBindingSize) / 1048576)) MiB binding limit"
  fi
fi
list=$(IFS=,; echo "${backends[*]}")
gpt2_list=$(IFS=,; echo "${gpt2_backends[*]}")

say "evaluation benchmark on $list (GPT-2 small on $gpt2_list)"
# The PyTorch peer of the GPT-2 part runs where python3 has torch (it is skipped, with a note, elsewhere).
timeout 360 "$node" test/bench/evaluation.bench.ts --parts mlp,gpt2 --examples 4000 --backends "$list" --gpt2-backends "$gpt2_list" \
  --gpt2-batch 2 --gpt2-length 256 --gpt2-runs 3 --python "$(command -v python3 || echo /usr/bin/python3)" 2>&1 | tee "$out/evaluation.txt"
evaluation_status=${PIPESTATUS[0]}

say 'merge benchmark (task arithmetic and TIES over 4 checkpoints of 250 MB)'
merge_backends=js-workers
[[ " ${backends[*]} " == *' tfjs-node-gpu '* ]] && merge_backends+=,tfjs-node-gpu
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  timeout 240 "$node" test/bench/engine.bench.ts --size-mb 250 --backends "$merge_backends" --peers numpy --repeat 1 2>&1 | tee "$out/merge.txt"
  merge_status=${PIPESTATUS[0]}
else
  echo 'not run: the engine benchmark compares against numpy in /usr/bin/python3, which cannot import numpy here' | tee "$out/merge.txt"
  merge_status=skipped
fi

say "summary (logs in $out; $((SECONDS - started)) s)"
adapter=$(field webgpu.adapter.description)
[[ -n $adapter ]] && adapter="$adapter; vendor $(field webgpu.adapter.vendor), architecture $(field webgpu.adapter.architecture), a $([[ $(field webgpu.adapter.hardware) == true ]] && echo hardware || echo software) adapter"
cpu=$(grep -m1 -o 'model name.*' /proc/cpuinfo | sed 's/model name[[:space:]]*: //')
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
device() {
  case $1 in
    webgpu) echo "${adapter:-no adapter}" ;;
    tfjs-node-gpu) echo "${gpu:-CUDA GPU}" ;;
    *) echo "$cpu ($(nproc) cores)" ;;
  esac
}
echo '| part | backend | device | figure |'
echo '|---|---|---|---|'
echo "| doctor | webgpu | ${adapter:-none} | $([[ $(field webgpu.usable) == true ]] && echo "maxStorageBufferBindingSize $(($(field webgpu.adapter.maxStorageBufferBindingSize) / 1048576)) MiB" || echo "not usable: $(field webgpu.reason | cut -c1-120)") |"
echo "| doctor | gpu | ${gpu:-no nvidia-smi} | $(field gpu.reason | cut -c1-160) |"
for name in "${backends[@]}"; do
  mlp=$(grep -E "^  $name +[0-9,]+ examples/s" "$out/evaluation.txt" | awk '{ print $2 }')
  tokens=$(grep -E "^  $name +[0-9,]+ tokens/s" "$out/evaluation.txt" | awk '{ print $2 }')
  failed=$(grep -E "^  $name +(FAILED|UNAVAILABLE|not usable)" "$out/evaluation.txt" | head -1 | cut -c1-140 | sed 's/^ *//')
  tokens_missing=${failed:-no figure (see evaluation.txt)}
  [[ $name == webgpu && -n ${gpt2_webgpu_skipped:-} ]] && tokens_missing=$gpt2_webgpu_skipped
  echo "| evaluation, MLP (4000 examples) | $name | $(device "$name") | $([[ -n $mlp ]] && echo "$mlp examples/s" || echo "${failed:-no figure (see evaluation.txt)}") |"
  echo "| evaluation, GPT-2 small (2 x 256 tokens) | $name | $(device "$name") | $([[ -n $tokens ]] && echo "$tokens tokens/s" || echo "$tokens_missing") |"
done
peer=$(grep -m1 -E '^  PyTorch .*<- the peer' "$out/evaluation.txt" | sed -E 's/^  (PyTorch [^ ]+).*: ([0-9,]+) tokens\/s.*/\1 | \2 tokens\/s/')
[[ -n $peer ]] && echo "| evaluation, GPT-2 small (2 x 256 tokens) | ${peer%% |*} (CPU) | $cpu | ${peer##*| } |"
workload=''
while IFS= read -r line; do
  case $line in
    'task arithmetic'*) workload='merge, task arithmetic' ;;
    TIES*) workload='merge, TIES' ;;
    '  tvr '* | '  numpy'*)
      # Rows of the benchmark's table end in four figures: seconds, GB/s in, CPU seconds, peak RSS MB.
      [[ -n $workload && $line =~ [0-9.]+' '+[0-9.]+' '+[0-9.]+' '+[0-9]+$ ]] && awk -v w="$workload" -v d="$cpu ($(nproc) cores)" '{ n = NF; who = $1; for (i = 2; i <= n - 4; i++) who = who " " $i; printf "| %s | %s | %s | %s s, %s GB/s in |\n", w, who, d, $(n - 3), $(n - 2) }' <<<"$line" ;;
  esac
done <"$out/merge.txt"
[[ $merge_status == skipped ]] && echo "| merge | - | - | $(cat "$out/merge.txt") |"
echo
echo "evaluation benchmark exit status: $evaluation_status; merge benchmark: $merge_status"
