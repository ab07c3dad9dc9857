#!/usr/bin/env bash
# Everything the CUDA issue measures, in one call on a GPU machine that has no
# Rust toolchain: build nothing there. Build here first
# (`cargo build --release`), then carry target/release/hotflip:
#
#   run(command="benches/gpu/device_run.sh", carry=["target/release/hotflip"])
#
# Writes under $OUT (or ./gpu-out): the kernel self-check against the CPU
# twins (device.json), W4 and W5 on the GPU and on the CPU of the same
# machine, and PyTorch's W5 baseline on CUDA where torch is installed. Prints a
# short table last.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-gpu-out}
mkdir -p "$out"
hf=target/release/hotflip
[ -x "$hf" ] || { echo "no $hf: build it here and carry it" >&2; exit 2; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc; date -u +%FT%TZ; } > "$out/machine.txt" 2>&1
run() { # name, command...
  local name=$1; shift
  echo "== $name: $*" >> "$out/log.txt"
  "$@" > "$out/$name.json" 2>> "$out/log.txt"; echo "$name rc=$?" >> "$out/log.txt"
}
run device "$hf" --device cuda device --json
run w5_gpu "$hf" --device cuda bench score --json
run w5_cpu "$hf" --device cpu bench score --json
run w4_gpu "$hf" --device cuda bench nn --json
run w4_cpu "$hf" --device cpu --threads "$(nproc)" bench nn --json --iters 3
if python3 -c "import torch" 2>/dev/null; then
  python3 benches/pytorch/w5_score.py --device cuda --json > "$out/w5_torch.json" 2>> "$out/log.txt"
  python3 benches/pytorch/w4_neighbours.py --threads "$(nproc)" --iters 3 --json > "$out/w4_torch_cpu.json" 2>> "$out/log.txt"
fi
cat "$out/machine.txt"
grep -h "rc=" "$out/log.txt"
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def load(n):
    try:
        return json.loads((out / f"{n}.json").read_text())
    except Exception:
        return None
d = load("device")
if d:
    print("self-check:", d.get("summary"))
for n in ["w4_gpu", "w4_cpu", "w4_torch_cpu", "w5_gpu", "w5_cpu", "w5_torch"]:
    r = load(n)
    if r:
        keys = [k for k in ("backend", "ms", "fused_us", "sorted_us", "cuda_us", "cuda_speedup", "cuda_gbps", "median_us") if k in r]
        print(n, {k: r[k] for k in keys})
PY
