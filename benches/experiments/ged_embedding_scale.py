#!/usr/bin/env python3
"""The scale of a word model's normalised embedding space (lstm_classifier /
bilstm_tagger with frequency-normalised embeddings, Miyato et al. 2017): the
token-weighted RMS norm of the table the model reads ((E - m)/sqrt(v), which
is sqrt(D) by construction), the median norm and the median nearest-neighbour
distance among the 5,000 most frequent words. What ε is measured against
(BENCHMARKS.md, ged15). Needs numpy and safetensors.
  python ged_embedding_scale.py runs/lm_fce/best runs/ged6_advt_e6_s0/last ...
"""
import sys, numpy as np
from safetensors.numpy import load_file
for run in sys.argv[1:]:
    t = load_file(run + "/model.safetensors")
    E, f = t["embedding.weight"].astype(np.float64), t["embedding.freq"].astype(np.float64)
    m = (E * f[:, None]).sum(0); c = E - m; v = (c * c * f[:, None]).sum(0); N = c / np.sqrt(v + 1e-6)
    norms = np.linalg.norm(N, axis=1)
    rms = np.sqrt((norms ** 2 * f).sum())
    top = np.argsort(-f)[:5000]
    X = N[top]; sq = (X * X).sum(1); D = sq[:, None] + sq[None, :] - 2 * X @ X.T; np.fill_diagonal(D, np.inf)
    nn = np.sqrt(np.maximum(D.min(1), 0))
    print(f"{run}: D={N.shape[1]} token-weighted RMS norm {rms:.2f}; median norm (5000 most frequent) {np.median(norms[top]):.2f}; "
          f"nearest-neighbour distance median {np.median(nn):.2f} (p10 {np.percentile(nn,10):.2f}, p90 {np.percentile(nn,90):.2f})")
