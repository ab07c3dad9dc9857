// Embedding lookup: row gather forward, bucketed (deterministic) backward.
// CPU twins: src/ops/embedding.rs (`embedding_forward`, `embedding_buckets`,
// `embedding_backward`).
//
// The backward does not scatter with atomics: the host buckets positions by
// vocabulary row once (a counting sort, `embedding_buckets`: `start` [V + 1]
// and `order` [N]), then one thread per (row, column) adds that row's
// positions in ascending order: the CPU's order, so the sums are identical.

#define HF_FOR_EACH(i, n)                                                                         \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < (n); \
         i += (unsigned long long)blockDim.x * gridDim.x)

// No padding row.
#define HF_NO_PADDING 0xFFFFFFFFu

// out [n_ids, d] = weight [V, d] rows at ids. (weight, ids, n_ids, d, out)
extern "C" __global__ void embedding_fwd_f32(const float* weight, const unsigned int* ids, unsigned long long n_ids,
                                             unsigned long long d, float* out) {
    HF_FOR_EACH(k, n_ids * d) {
        unsigned long long r = k / d, j = k % d;
        out[k] = weight[(unsigned long long)ids[r] * d + j];
    }
}

// gw [V, d]: row v sums g rows order[start[v] .. start[v + 1]]; the padding
// row stays 0. (g, order, start, vocab, d, padding_idx, gw)
extern "C" __global__ void embedding_bwd_f32(const float* g, const unsigned int* order, const unsigned int* start,
                                             unsigned long long vocab, unsigned long long d, unsigned int padding_idx,
                                             float* gw) {
    HF_FOR_EACH(k, vocab * d) {
        unsigned long long v = k / d, j = k % d;
        float acc = 0.0f;
        if (v != (unsigned long long)padding_idx || padding_idx == HF_NO_PADDING) {
            for (unsigned int q = start[v]; q < start[v + 1]; ++q) {
                acc += g[(unsigned long long)order[q] * d + j];
            }
        }
        gw[k] = acc;
    }
}
