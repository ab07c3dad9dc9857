// HotFlip's character scores and top-k pruning, fused (BENCHMARKS.md W5):
// every allowed flip, insert and delete of every open word of every beam
// entry is scored from the embedding gradients, and only each entry's best K
// candidates reach global memory; the [words, positions, chars] score matrix
// lives in shared memory, one word at a time.
//
// CPU twin: src/attack/score/chars.rs — `for_each_edit` (which edits exist and
// their scores), `Candidate::rank` (the order) and `top_children`'s per-entry
// cap (K = entry_cap(keep) = 2·keep). hotflip::attack::score::cuda
// launches both kernels, decodes the candidates and holds the self-check.
//
// Inputs, for E entries of W words (row r = e·W + w is word w of entry e),
// L positions per word, D = char_dim, V characters:
//   grads   [E·W, L, D]  dLoss/d(character embedding) at every position
//   ids     [E·W, L]     the batch's character ids (< V), PAD (id 0) after the word
//   table_t [D, V]       the embedding table transposed: column c is E_c
//   chars   [V]          each id's character as a Unicode code point; ties are
//                        broken by character, as CharEdit's Ord, not by id
//   allowed [V]          1 where an id may be flipped to or inserted (distinct chars)
//   open    [E·W]        1 where the word may be edited (0 for padding rows)
//   lengths [E·W]        the word's full length (may exceed L − 1)
//   unseen  [E·W]        for words longer than L − 1, the id of character L − 1,
//                        the first one the model does not see; else unused
//   parent  [E]          each entry's score: a child ranks by parent + gain
//
// Scores, as for_each_edit, with n = min(length, L − 1) and a = ids of the row:
//   S_j(c) = Σ_k g[j][k]·table_t[k][c], k = 0, 1, ..., D − 1 in that order
//   flip c at j (j < n, allowed c ≠ a_j):  S_j(c) − S_j(a_j)
//   delete at j (j < n, length ≥ 2): position k in j..n−1 takes a_{k+1} (at
//     n − 1: unseen for a long word, else PAD); the sum of S_k(new) − S_k(a_k)
//     over the positions that change, accumulated from k = n − 1 down, divided
//     by their number (no delete when none changes)
//   insert c at j (j ≤ n, length < L − 1, allowed c): the flip to c at j (if
//     c ≠ a_j) plus the right shift of j+1..n (k takes a_{k−1}), the suffix
//     sum accumulated from k = n down, divided by the number of changed
//     positions (no insert when none changes)
// Every step is an explicitly rounded intrinsic (__fmul_rn, __fadd_rn,
// __fsub_rn, __fdiv_rn), which the compiler never contracts into an FMA, in
// the twin's order: gains and totals are the CPU's bit for bit.
//
// Order (Candidate::rank): total = parent + gain descending in f32's total
// order (total_cmp: hf_order below), then entry, then the edit's Ord: op
// (flip < insert < delete), word, position, character. An edit packs into a
// 64-bit key whose unsigned order is that order (entry aside, which a block
// never mixes):
//   bits 62–63 op (0 flip, 1 insert, 2 delete) | 40–61 word | 21–39 position
//   | 0–20 character code point (0 for a delete)
// HF_EMPTY (all ones) marks an empty slot.
//
// Kernel 1, hotflip_score_f32: one block per row (grid E·W), threads a
// multiple of 32. Shared memory (dynamic, hotflip_score.rs `score_smem_bytes`
// mirrors the carving): the row's gradients [L, D], S [L, V], ids, the allowed
// mask and characters, per-position terms, and the reduction's slots. Thread
// t owns the flips and inserts of characters t, t + blockDim, ... and the
// deletes at positions t, t + blockDim, ..., and keeps its best; then up to K
// rounds: the block's best (warp shuffles, then one warp over the warps'
// bests) is written to slot `round` by the thread that holds it, which alone
// rescans its own candidates for its next best after it. Out: per row its
// best K candidates, best first, the rest empty.
//
// Kernel 2, hotflip_merge_f32: one block per entry, thread t owning rows t,
// t + blockDim, ... of it with a head pointer into each (sorted) row list;
// the same rounds, the winner advancing its head. Shared memory: the
// reduction's slots and W heads (`merge_smem_bytes`). Out: per entry its
// best K candidates, best first — exactly the per-entry lists of
// `top_children` without a word-vocabulary filter. The per-group merge and
// the duplicate-document check need the documents and stay on the host
// (`merge_groups`).
//
// Both kernels write every output element: slots past `count` hold
// (0, 0, HF_EMPTY).
//
// Kernel 3, hotflip_best_flips_f32: HotFlip adversarial training's flip
// choice (twin: attack::score::chars::best_flips, before its sort). For
// position j of row r (ids [R, L], grads [R, L, D], the table [V, D] as the
// model holds it, not transposed): the best flip S_j(c) − S_j(a_j) over
// c ≥ 2, c ≠ a_j, the lowest id among equal scores and a NaN never beating
// the first candidate, with S_j(c) summed over k = 0 .. D − 1 in order in
// explicitly rounded steps (the twin's bits). Positions at or after the
// row's first PAD, and rows with no candidate, get (0, HF_NO_FLIP). One
// thread per (row, position), grid-stride.

struct HotflipDims {
    unsigned int entries;    // E
    unsigned int words;      // W
    unsigned int positions;  // L (at least 2)
    unsigned int dim;        // D
    unsigned int vocab;      // V
    unsigned int cap;        // K: candidates kept per row (kernel 1) and per entry (kernel 2)
};
static_assert(sizeof(HotflipDims) == 24, "HotflipDims must match hotflip::cuda::params::HotflipDims");

#define HF_EMPTY 0xFFFFFFFFFFFFFFFFull
#define HF_OP_SHIFT 62
#define HF_WORD_SHIFT 40
#define HF_POS_SHIFT 21
// Reduction slots: one per warp of a 1024-thread block, and one for the winner.
#define HF_SLOTS 33

extern __shared__ __align__(16) unsigned char hf_smem[];

// f32 bits as an unsigned key in f32::total_cmp's order (-NaN < -inf < ... <
// -0 < +0 < ... < +inf < +NaN): a larger key is a larger total.
__device__ __forceinline__ unsigned int hf_order(float x) {
    unsigned int b = __float_as_uint(x);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

struct HfKey {
    unsigned int order;       // hf_order(total)
    unsigned long long edit;  // packed edit, HF_EMPTY for none
};

__device__ __forceinline__ HfKey hf_none() {
    HfKey k;
    k.order = 0u;
    k.edit = HF_EMPTY;
    return k;
}

// Whether `a` ranks before `b`. Every candidate ranks before hf_none().
__device__ __forceinline__ bool hf_before(HfKey a, HfKey b) {
    return a.order > b.order || (a.order == b.order && a.edit < b.edit);
}

__device__ __forceinline__ HfKey hf_warp_best(HfKey k) {
    for (int off = 16; off > 0; off >>= 1) {
        HfKey o;
        o.order = __shfl_xor_sync(0xffffffffu, k.order, off);
        o.edit = __shfl_xor_sync(0xffffffffu, k.edit, off);
        if (hf_before(o, k)) {
            k = o;
        }
    }
    return k;
}

// The block's best key, returned to every thread (two barriers; every thread
// of the block must call it).
__device__ HfKey hf_block_best(HfKey k, unsigned int* slot_order, unsigned long long* slot_edit) {
    unsigned int lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    k = hf_warp_best(k);
    if (lane == 0) {
        slot_order[warp] = k.order;
        slot_edit[warp] = k.edit;
    }
    __syncthreads();
    if (warp == 0) {
        HfKey b = hf_none();
        if (lane < warps) {
            b.order = slot_order[lane];
            b.edit = slot_edit[lane];
        }
        b = hf_warp_best(b);
        if (lane == 0) {
            slot_order[HF_SLOTS - 1] = b.order;
            slot_edit[HF_SLOTS - 1] = b.edit;
        }
    }
    __syncthreads();
    HfKey best;
    best.order = slot_order[HF_SLOTS - 1];
    best.edit = slot_edit[HF_SLOTS - 1];
    return best;
}

// One word's scoring state, in shared memory.
struct HfWord {
    const float* S;               // [n + 1, V]
    const unsigned int* a;        // ids [L]
    const unsigned int* allowed;  // [V]
    const unsigned int* chars;    // [V]
    const float* base;            // S_j(a_j), j ≤ n
    const float* rsum;            // right shift: suffix sums over k ≥ index, [n + 2]
    const unsigned int* rcnt;     // and the number of changed positions
    const float* dgain;           // delete gains, j < n
    const unsigned int* dok;      // whether the delete at j exists
    unsigned int vocab;
    unsigned int n;               // visible characters
    bool flips, inserts;          // whether the word has flips, inserts,
    unsigned int deletes;         // and deletes (at j < deletes)
    float parent;
    unsigned long long word_bits;  // w << HF_WORD_SHIFT
};

// Keeps the candidate (op, j, ch, gain) in `best` if it ranks after the
// ceiling and before `best`.
__device__ __forceinline__ void hf_consider(const HfWord& w, unsigned long long op, unsigned int j,
                                            unsigned long long ch, float g, bool has_ceiling, HfKey ceiling,
                                            HfKey* best, float* gain, float* total) {
    HfKey k;
    float t = __fadd_rn(w.parent, g);
    k.order = hf_order(t);
    k.edit = (op << HF_OP_SHIFT) | w.word_bits | ((unsigned long long)j << HF_POS_SHIFT) | ch;
    if ((!has_ceiling || hf_before(ceiling, k)) && hf_before(k, *best)) {
        *best = k;
        *gain = g;
        *total = t;
    }
}

// This thread's best candidate of the word that ranks after `ceiling` (any,
// if `has_ceiling` is false). Thread t takes the flips and inserts of
// characters t, t + blockDim, ... at every position, and the deletes at
// positions t, t + blockDim, ...: no thread needs a division, and a rescan
// reads one column of S.
__device__ HfKey hf_word_scan(const HfWord& w, bool has_ceiling, HfKey ceiling, float* gain, float* total) {
    HfKey best = hf_none();
    if (w.flips || w.inserts) {
        for (unsigned int c = threadIdx.x; c < w.vocab; c += blockDim.x) {
            if (!w.allowed[c]) {
                continue;
            }
            unsigned long long ch = w.chars[c];
            for (unsigned int j = 0; j <= w.n; ++j) {
                bool here = c != w.a[j];
                float d = __fsub_rn(w.S[j * w.vocab + c], w.base[j]);  // the flip to c at j
                if (w.flips && j < w.n && here) {
                    hf_consider(w, 0, j, ch, d, has_ceiling, ceiling, &best, gain, total);
                }
                if (w.inserts) {
                    unsigned int count = w.rcnt[j + 1] + (here ? 1u : 0u);
                    if (count > 0) {
                        float sum = __fadd_rn(w.rsum[j + 1], here ? d : 0.0f);
                        hf_consider(w, 1, j, ch, __fdiv_rn(sum, (float)count), has_ceiling, ceiling, &best, gain,
                                    total);
                    }
                }
            }
        }
    }
    for (unsigned int j = threadIdx.x; j < w.deletes; j += blockDim.x) {
        if (w.dok[j]) {
            hf_consider(w, 2, j, 0ull, w.dgain[j], has_ceiling, ceiling, &best, gain, total);
        }
    }
    return best;
}

// One block per row. (p, grads, ids, table_t, chars, allowed, open, lengths,
// unseen, parent, out_total, out_gain, out_edit, out_count); outputs [E·W, K]
// and out_count [E·W].
extern "C" __global__ void hotflip_score_f32(HotflipDims p, const float* grads, const unsigned int* ids,
                                             const float* table_t, const unsigned int* chars,
                                             const unsigned int* allowed, const unsigned int* open,
                                             const unsigned int* lengths, const unsigned int* unseen,
                                             const float* parent, float* out_total, float* out_gain,
                                             unsigned long long* out_edit, unsigned int* out_count) {
    const unsigned int L = p.positions, D = p.dim, V = p.vocab, K = p.cap;
    const unsigned long long row = blockIdx.x;
    const unsigned int tid = threadIdx.x, nt = blockDim.x;

    // Shared memory, in score_smem_bytes' order.
    unsigned long long* slot_edit = (unsigned long long*)hf_smem;
    unsigned int* slot_order = (unsigned int*)(slot_edit + HF_SLOTS);
    float* g_s = (float*)(slot_order + HF_SLOTS);
    float* S = g_s + L * D;
    unsigned int* a_s = (unsigned int*)(S + L * V);
    unsigned int* allowed_s = a_s + L;
    unsigned int* chars_s = allowed_s + V;
    float* base = (float*)(chars_s + V);
    float* rsum = base + L;
    unsigned int* rcnt = (unsigned int*)(rsum + L + 1);
    float* dgain = (float*)(rcnt + L + 1);
    unsigned int* dok = (unsigned int*)(dgain + L);

    const bool is_open = open[row] != 0u;
    const unsigned int n_full = lengths[row];
    const unsigned int n = n_full < L - 1 ? n_full : L - 1;
    HfWord w;
    w.S = S;
    w.a = a_s;
    w.allowed = allowed_s;
    w.chars = chars_s;
    w.base = base;
    w.rsum = rsum;
    w.rcnt = rcnt;
    w.dgain = dgain;
    w.dok = dok;
    w.vocab = V;
    w.n = n;
    w.flips = is_open && n > 0;
    w.inserts = is_open && n_full < L - 1;
    w.deletes = (is_open && n_full >= 2) ? n : 0u;
    w.parent = parent[row / p.words];
    w.word_bits = (unsigned long long)(row % p.words) << HF_WORD_SHIFT;
    const bool any = w.flips || w.inserts || w.deletes > 0;

    if (any) {  // the same in every thread of the block
        const float* g = grads + row * L * D;
        for (unsigned int i = tid; i < (n + 1) * D; i += nt) {
            g_s[i] = g[i];
        }
        for (unsigned int j = tid; j < L; j += nt) {
            a_s[j] = ids[row * L + j];
        }
        for (unsigned int c = tid; c < V; c += nt) {
            allowed_s[c] = allowed[c];
            chars_s[c] = chars[c];
        }
        __syncthreads();
        // S_j(c) for the visible positions and the trailing PAD, as the twin:
        // a sum from 0 over k in order, each product and sum rounded.
        for (unsigned int i = tid; i < (n + 1) * V; i += nt) {
            unsigned int j = i / V, c = i - j * V;
            float s = 0.0f;
            for (unsigned int k = 0; k < D; ++k) {
                s = __fadd_rn(s, __fmul_rn(g_s[j * D + k], table_t[(unsigned long long)k * V + c]));
            }
            S[i] = s;
        }
        __syncthreads();
        // The per-position terms: a few dozen sequential additions, in the
        // twin's order.
        if (tid == 0) {
            for (unsigned int j = 0; j <= n; ++j) {
                base[j] = S[j * V + a_s[j]];
            }
            rsum[n + 1] = 0.0f;
            rcnt[n + 1] = 0u;
            for (unsigned int k = n; k >= 1; --k) {
                bool moved = a_s[k - 1] != a_s[k];
                rsum[k] = __fadd_rn(rsum[k + 1], moved ? __fsub_rn(S[k * V + a_s[k - 1]], base[k]) : 0.0f);
                rcnt[k] = rcnt[k + 1] + (moved ? 1u : 0u);
            }
            float sum = 0.0f;
            unsigned int count = 0;
            for (unsigned int jj = n; jj > 0; --jj) {
                unsigned int j = jj - 1;
                unsigned int c = j + 1 < n ? a_s[j + 1] : (n_full > n ? unseen[row] : 0u);
                if (c != a_s[j]) {
                    sum = __fadd_rn(sum, __fsub_rn(S[j * V + c], base[j]));
                    count += 1;
                }
                dok[j] = (count > 0 && n_full >= 2) ? 1u : 0u;
                dgain[j] = count > 0 ? __fdiv_rn(sum, (float)count) : 0.0f;
            }
        }
        __syncthreads();
    }

    unsigned int count = 0;
    if (any) {
        float my_gain = 0.0f, my_total = 0.0f;
        HfKey mine = hf_word_scan(w, false, hf_none(), &my_gain, &my_total);
        for (; count < K; ++count) {
            HfKey best = hf_block_best(mine, slot_order, slot_edit);
            if (best.edit == HF_EMPTY) {
                break;
            }
            // Edits are unique within a word: exactly one thread holds it.
            if (mine.edit == best.edit) {
                unsigned long long at = row * K + count;
                out_total[at] = my_total;
                out_gain[at] = my_gain;
                out_edit[at] = mine.edit;
                mine = hf_word_scan(w, true, best, &my_gain, &my_total);
            }
        }
    }
    for (unsigned int s = count + tid; s < K; s += nt) {
        unsigned long long at = row * K + s;
        out_total[at] = 0.0f;
        out_gain[at] = 0.0f;
        out_edit[at] = HF_EMPTY;
    }
    if (tid == 0) {
        out_count[row] = count;
    }
}

// This thread's best candidate among the heads of its rows' lists (rows t,
// t + blockDim, ... of the entry; head[w] is the next slot of row w's list,
// which is sorted best first); `at` gets its slot, `row` its row.
__device__ HfKey hf_merge_heads(const float* total, const unsigned long long* edit, const unsigned int* count,
                                const unsigned int* head, unsigned int W, unsigned int K, unsigned int* at,
                                unsigned int* row) {
    HfKey best = hf_none();
    for (unsigned int w = threadIdx.x; w < W; w += blockDim.x) {
        unsigned int c = count[w] < K ? count[w] : K;
        if (head[w] >= c) {
            continue;
        }
        unsigned int i = w * K + head[w];
        HfKey k;
        k.order = hf_order(total[i]);
        k.edit = edit[i];
        if (hf_before(k, best)) {
            best = k;
            *at = i;
            *row = w;
        }
    }
    return best;
}

// One block per entry: the best K of its W rows' lists (kernel 1's output,
// each sorted best first). Shared memory: the reduction slots, then one
// head per row. (p, row_total, row_gain, row_edit, row_count, out_total,
// out_gain, out_edit, out_count); outputs [E, K] and out_count [E].
extern "C" __global__ void hotflip_merge_f32(HotflipDims p, const float* row_total, const float* row_gain,
                                             const unsigned long long* row_edit, const unsigned int* row_count,
                                             float* out_total, float* out_gain, unsigned long long* out_edit,
                                             unsigned int* out_count) {
    const unsigned int W = p.words, K = p.cap;
    const unsigned long long e = blockIdx.x;
    const unsigned int tid = threadIdx.x, nt = blockDim.x;
    unsigned long long* slot_edit = (unsigned long long*)hf_smem;
    unsigned int* slot_order = (unsigned int*)(slot_edit + HF_SLOTS);
    unsigned int* head = slot_order + HF_SLOTS;

    const unsigned long long first = e * W * K;
    const float* total = row_total + first;
    const float* gain = row_gain + first;
    const unsigned long long* edit = row_edit + first;
    const unsigned int* count_of = row_count + e * W;
    // Each thread reads and writes only its own rows' heads: no barrier.
    for (unsigned int w = tid; w < W; w += nt) {
        head[w] = 0;
    }

    unsigned int mine_at = 0, mine_row = 0;
    HfKey mine = hf_merge_heads(total, edit, count_of, head, W, K, &mine_at, &mine_row);
    unsigned int count = 0;
    for (; count < K; ++count) {
        HfKey best = hf_block_best(mine, slot_order, slot_edit);
        if (best.edit == HF_EMPTY) {
            break;
        }
        // Edits are unique within an entry (the word is part of the key).
        if (mine.edit == best.edit) {
            unsigned long long at = e * K + count;
            out_total[at] = total[mine_at];
            out_gain[at] = gain[mine_at];
            out_edit[at] = mine.edit;
            head[mine_row] += 1;
            mine = hf_merge_heads(total, edit, count_of, head, W, K, &mine_at, &mine_row);
        }
    }
    for (unsigned int s = count + tid; s < K; s += nt) {
        unsigned long long at = e * K + s;
        out_total[at] = 0.0f;
        out_gain[at] = 0.0f;
        out_edit[at] = HF_EMPTY;
    }
    if (tid == 0) {
        out_count[e] = count;
    }
}

#define HF_NO_FLIP 0xFFFFFFFFu

__device__ __forceinline__ float hf_flip_score(const float* g, const float* table, unsigned int dim, unsigned int c) {
    const float* e = table + (unsigned long long)c * dim;
    float acc = 0.0f;
    for (unsigned int k = 0; k < dim; ++k) {
        acc = __fadd_rn(acc, __fmul_rn(g[k], e[k]));
    }
    return acc;
}

// (rows, positions, dim, vocab, grads, ids, table, best_score, best_char);
// outputs [R, L].
extern "C" __global__ void hotflip_best_flips_f32(unsigned int rows, unsigned int positions, unsigned int dim,
                                                  unsigned int vocab, const float* grads, const unsigned int* ids,
                                                  const float* table, float* best_score, unsigned int* best_char) {
    const unsigned long long n = (unsigned long long)rows * positions;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned long long row = i / positions;
        const unsigned int j = (unsigned int)(i % positions);
        const unsigned int* rid = ids + row * positions;
        bool open = true;
        for (unsigned int q = 0; q <= j; ++q) {
            if (rid[q] == 0u) {
                open = false;
                break;
            }
        }
        float bs = 0.0f;
        unsigned int bc = HF_NO_FLIP;
        if (open) {
            const float* g = grads + i * dim;
            const unsigned int a = rid[j];
            const float sa = hf_flip_score(g, table, dim, a);
            for (unsigned int c = 2; c < vocab; ++c) {
                if (c == a) {
                    continue;
                }
                const float sc = __fsub_rn(hf_flip_score(g, table, dim, c), sa);
                if (bc == HF_NO_FLIP || sc > bs) {
                    bs = sc;
                    bc = c;
                }
            }
        }
        best_score[i] = bs;
        best_char[i] = bc;
    }
}
