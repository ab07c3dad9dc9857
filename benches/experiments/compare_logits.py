"""Compares two `hotflip predict --json` outputs: max |Δp|, max |Δ centred log p| (= centred logits), argmax agreement."""
import json, math, sys
a = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
b = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert len(a) == len(b)
dp = dl = 0.0; agree = 0
def centred(p):
    l = [math.log(max(x, 1e-38)) for x in p]; m = sum(l) / len(l); return [x - m for x in l]
for x, y in zip(a, b):
    dp = max(dp, max(abs(u - v) for u, v in zip(x["probs"], y["probs"])))
    dl = max(dl, max(abs(u - v) for u, v in zip(centred(x["probs"]), centred(y["probs"]))))
    agree += x["label_id"] == y["label_id"]
print(f"{len(a)} docs: max |dprob| {dp:.3g}, max |dlogit| (centred) {dl:.3g}, argmax agreement {agree}/{len(a)}")
