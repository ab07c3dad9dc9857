#!/usr/bin/env bash
# char_nmt training side by side (issue 14): `hotflip train --arch char_nmt`
# and its PyTorch twin benches/pytorch/nmt_train.py (same model, vocabulary,
# batching, optimiser and dev BLEU), started at the same second for the same
# minutes on the same threads, so both see the same machine. Prints each
# side's learning curve (dev BLEU of greedy decoding at every --eval-every
# steps), target tokens/s over the training spans, and both processes' CPU
# seconds (/usr/bin/time), which stay comparable when the machine is shared,
# and target tokens per CPU second of the training steps alone (each side
# logs `train_cpu_s`, its process CPU time inside steps, evaluation
# excluded): the load-independent speed figure. A large --eval-every (e.g.
# 100000) leaves only the final evaluation, for a speed-only run.
#
#   PYTHON=<venv with torch, safetensors, numpy, sacrebleu>/bin/python \
#   HOTFLIP=target/release/hotflip benches/pytorch/compare_nmt_train.sh \
#       --src de --tgt en --minutes 20 --threads 1 --eval-every 500 --out DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
src=de tgt=en minutes=20 threads=1 every=500 preset=small out=/tmp/hotflip-nmt-cmp
while [ $# -gt 0 ]; do
  case "$1" in
    --src) src=$2; shift 2 ;;
    --tgt) tgt=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --eval-every) every=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-.venv-torch/bin/python}
h=${HOTFLIP:-target/release/hotflip}
[ -x "$py" ] || { echo "no PyTorch venv at $py" >&2; exit 1; }
[ -x "$h" ] || { echo "no hotflip binary at $h (cargo build --release)" >&2; exit 1; }
export HOTFLIP_DATA=${HOTFLIP_DATA:-$(cd ../shared/data && pwd)}
mkdir -p "$out"
# The twin reads the vocabulary and sizes from a hotflip checkpoint of the
# same data and preset: a run of a few seconds makes one.
if [ ! -f "$out/vocab-$src-$tgt/best/vocab.json" ]; then
  "$h" --threads "$threads" train --arch char_nmt --dataset multi30k --src "$src" --tgt "$tgt" --preset "$preset" \
    --minutes 0.02 --out "$out/vocab-$src-$tgt" --no-progress > "$out/vocab-$src-$tgt.log" 2>&1
fi
rm -rf "$out/hotflip-$src-$tgt"
echo "start: $(date -u +%FT%TZ) $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "hotflip cpu_s %U %S wall_s %e max_rss_kb %M" -o "$out/hotflip-$src-$tgt.time" \
  "$h" --threads "$threads" train --arch char_nmt --dataset multi30k --src "$src" --tgt "$tgt" --preset "$preset" \
  --minutes "$minutes" --eval-every "$every" --out "$out/hotflip-$src-$tgt" --no-progress > "$out/hotflip-$src-$tgt.log" 2>&1 &
OMP_NUM_THREADS=$threads /usr/bin/time -f "twin cpu_s %U %S wall_s %e max_rss_kb %M" -o "$out/twin-$src-$tgt.time" \
  "$py" benches/pytorch/nmt_train.py --like "$out/vocab-$src-$tgt/best" --minutes "$minutes" --threads "$threads" \
  --eval-every "$every" --out "$out/twin-$src-$tgt.jsonl" > "$out/twin-$src-$tgt.log" 2>&1 &
wait
echo "end: $(date -u +%FT%TZ) $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$out/hotflip-$src-$tgt.time" "$out/twin-$src-$tgt.time"
"$py" - "$out/hotflip-$src-$tgt/train_log.jsonl" "$out/twin-$src-$tgt.jsonl" <<'PY'
import json, sys
for name, path in (("hotflip", sys.argv[1]), ("twin", sys.argv[2])):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    tok = sum(r["tgt_tokens_per_s"] * r["train_s"] for r in rows)
    secs = sum(r["train_s"] for r in rows)
    cpu = sum(r.get("train_cpu_s", 0.0) for r in rows)
    toks = sum(r["tgt_tokens_per_s"] * r["train_s"] for r in rows)
    print(f"{name}: tgt tokens/s over training spans {tok / max(secs, 1e-9):.1f}; "
          f"{toks:.0f} tokens in {cpu:.1f} CPU s of steps = {toks / max(cpu, 1e-9):.1f} tokens per CPU second")
    for r in rows:
        print(f"  {name} step {r['step']:>6} min {r['minutes']:6.2f} dev BLEU {r['dev_bleu']:.2f}")
PY
