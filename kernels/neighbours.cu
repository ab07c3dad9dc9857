// Nearest-neighbour directions for iAdvT / iVAT (Sato et al. 2018): for P
// positions (vectors w [P, D], word ids [P]) the K nearest words of the
// table E [V, D], unit directions to them, the gradient's projections ĝ,
// α = ε ĝ / ‖ĝ‖ and r = Σ α d. The contract is in src/ops/neighbours/mod.rs.
// CPU twins: src/ops/neighbours/ (`sq_norms`, `search_range`, `merge`,
// `dir_norms`, `project`, `alpha_scale`, `perturb`), one per kernel, doing
// the kernel's arithmetic.
//
// Pipeline (src/cuda/ops/neighbours/mod.rs launches it):
//   nn_sq_norms_f32   ‖E_v‖² per row
//   nn_topk_f32       per (block of HF_NN_BM positions, vocabulary split): a
//                     tiled FP32 GEMM w·Eᵀ in shared memory, s = ‖E_v‖² − 2 w·E_v
//                     per tile, and a per-position top-K kept in registers
//                     across a warp (lane l holds entry l)
//   nn_merge_f32      the splits' lists joined into one per position
//   nn_dir_norms_f32  ‖E_k − w_t‖ and its inverse (0 for equal vectors)
//   nn_project_f32    ĝ = g · d
//   nn_alpha_f32      α = ε ĝ / ‖ĝ‖ per group of positions
//   nn_perturb_f32    r = Σ_k α d
// Nothing is [P, V]: the search holds one HF_NN_BM × HF_NN_BN tile per block.
//
// Ranking and ties. Lists hold the K smallest (s, id) pairs in lexicographic
// order. Candidates reach a list in ascending id among equal s (tiles go up
// the vocabulary, lanes in id order, splits are ascending ranges), so "insert
// after every entry ≤ s, only if s < the K-th" keeps exactly those pairs,
// whatever the split count: the result depends on the s values alone.
// Candidates are ids ≥ 2 (0 = PAD, 1 = UNK) other than the position's own.
//
// Every reduction has a fixed order (no atomics): results are deterministic.
// Ids a kernel dereferences are checked below V (an unfilled slot,
// HF_NN_NO_ID, is possible only with NaN/∞ inputs and then gives a zero
// direction and an infinite distance rather than a stray read).

#define HF_NN_FULL 0xFFFFFFFFu
#define HF_NN_NO_ID 0xFFFFFFFFu
#define HF_NN_FIRST_WORD 2u
// Largest K: one list entry per lane of a warp.
#define HF_NN_MAX_K 32
// nn_topk_f32's tile: positions × vocabulary rows per tile, depth per stage,
// threads. The launcher uses exactly these.
#define HF_NN_BM 64
#define HF_NN_BN 128
#define HF_NN_BK 16
#define HF_NN_THREADS 256
// Shared-memory row padding: keeps float4 alignment and spreads the
// transposing stores over the banks (2-way conflicts instead of 16-way).
#define HF_NN_PAD 4
// Positions per warp in the top-K phase (HF_NN_BM / 8 warps).
#define HF_NN_ROWS_PER_WARP (HF_NN_BM / (HF_NN_THREADS / 32))
// Threads per block for the per-pair and per-group kernels.
#define HF_NN_BLOCK 256

struct NnDims {
    unsigned int positions;  // P
    unsigned int vocab;      // V
    unsigned int dim;        // D
    unsigned int k;          // K, 1..HF_NN_MAX_K
    unsigned int split_len;  // vocabulary rows per split (a multiple of HF_NN_BN)
    unsigned int splits;     // S; split j covers [2 + j·split_len, min(2 + (j+1)·split_len, V))
};
static_assert(sizeof(NnDims) == 24, "NnDims must match hotflip::cuda::params::NnDims");
static_assert(HF_NN_BM % (HF_NN_THREADS / 32) == 0, "whole rows per warp");
static_assert(HF_NN_THREADS == 256 && HF_NN_BM == 64 && HF_NN_BN == 128,
              "the 16 × 16 thread grid computes 4 × 8 outputs each");

__device__ __forceinline__ double hf_warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(HF_NN_FULL, v, o);
    }
    return v;
}

// Global warp index and warp count of a 1-D launch.
__device__ __forceinline__ unsigned long long hf_warp_id() {
    return (blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x) / 32;
}
__device__ __forceinline__ unsigned long long hf_warp_count() {
    return (gridDim.x * (unsigned long long)blockDim.x) / 32;
}

// Offers the warp-uniform candidate (cv, cid) to the list held across the
// warp (lane l < k holds entry l, ascending; lanes ≥ k hold +∞). The caller
// guarantees cv < entry k − 1, so it lands at `at` < k and the last entry
// falls off.
__device__ __forceinline__ void hf_insert(float& ld, unsigned int& li, float cv, unsigned int cid, unsigned int k) {
    const unsigned int lane = threadIdx.x & 31u;
    const unsigned int at = __popc(__ballot_sync(HF_NN_FULL, lane < k && ld <= cv));
    const float up_d = __shfl_up_sync(HF_NN_FULL, ld, 1);
    const unsigned int up_i = __shfl_up_sync(HF_NN_FULL, li, 1);
    if (lane == at) {
        ld = cv;
        li = cid;
    } else if (lane > at && lane < k) {
        ld = up_d;
        li = up_i;
    }
}

// norms[v] = ‖E_v‖², summed in f64 and rounded once. One warp per row.
// (p, table, norms)
extern "C" __global__ void nn_sq_norms_f32(NnDims p, const float* __restrict__ table, float* __restrict__ norms) {
    const unsigned int lane = threadIdx.x & 31u;
    for (unsigned long long v = hf_warp_id(); v < p.vocab; v += hf_warp_count()) {
        const float* row = table + v * p.dim;
        double acc = 0.0;
        for (unsigned int j = lane; j < p.dim; j += 32) {
            const double x = (double)row[j];
            acc += x * x;
        }
        acc = hf_warp_sum(acc);
        if (lane == 0) {
            norms[v] = (float)acc;
        }
    }
}

// Copies rows [r0, r0 + R) (rows ≥ limit as zeros) and columns [k0, k0 + BK)
// (columns ≥ dim as zeros) of the row-major [*, dim] matrix src into
// dst[BK][R + PAD], transposed. Consecutive threads take consecutive columns
// of a row (64-byte global segments).
template <int R>
__device__ __forceinline__ void hf_load_tile_t(float (*dst)[R + HF_NN_PAD], const float* __restrict__ src,
                                               unsigned int r0, unsigned int limit, unsigned int dim,
                                               unsigned int k0) {
#pragma unroll
    for (int e = threadIdx.x; e < R * HF_NN_BK; e += HF_NN_THREADS) {
        const int kk = e % HF_NN_BK, r = e / HF_NN_BK;
        const unsigned int gr = r0 + r, gk = k0 + kk;
        dst[kk][r] = (gr < limit && gk < dim) ? src[(unsigned long long)gr * dim + gk] : 0.0f;
    }
}

// Partial top-K lists: block (bx, j) ranks vocabulary split j for positions
// [bx·BM, bx·BM + BM) and writes part_s / part_ids [S, P, K] (+∞ and
// HF_NN_NO_ID where the split has fewer than K candidates). Grid
// (ceil(P / BM), S), HF_NN_THREADS threads.
// (p, table, norms, w, ids, part_s, part_ids)
extern "C" __global__ void nn_topk_f32(NnDims p, const float* __restrict__ table, const float* __restrict__ norms,
                                       const float* __restrict__ w, const unsigned int* __restrict__ ids,
                                       float* __restrict__ part_s, unsigned int* __restrict__ part_ids) {
    __shared__ __align__(16) float As[HF_NN_BK][HF_NN_BM + HF_NN_PAD];  // w tile, [depth][position]
    __shared__ __align__(16) float Bs[HF_NN_BK][HF_NN_BN + HF_NN_PAD];  // E tile, [depth][vocabulary row]
    __shared__ __align__(16) float Ds[HF_NN_BM][HF_NN_BN];              // s for the tile
    __shared__ unsigned int self_ids[HF_NN_BM];

    const int tid = threadIdx.x;
    const int ty = tid / 16, tx = tid % 16;  // outputs: rows ty·4 + i, columns tx·4 + j and 64 + tx·4 + j
    const int warp = tid / 32, lane = tid % 32;
    const unsigned int k = p.k;
    const unsigned int pos0 = blockIdx.x * HF_NN_BM;
    const unsigned int split = blockIdx.y;
    const unsigned long long vs64 = HF_NN_FIRST_WORD + (unsigned long long)split * p.split_len;
    const unsigned int vs = vs64 < p.vocab ? (unsigned int)vs64 : p.vocab;
    const unsigned int ve = (unsigned long long)vs + p.split_len < p.vocab ? vs + p.split_len : p.vocab;

    if (tid < HF_NN_BM) {
        self_ids[tid] = pos0 + tid < p.positions ? ids[pos0 + tid] : HF_NN_NO_ID;
    }
    // This warp's lists, one per position it owns; lane l holds entry l.
    float ld[HF_NN_ROWS_PER_WARP];
    unsigned int li[HF_NN_ROWS_PER_WARP];
#pragma unroll
    for (int q = 0; q < HF_NN_ROWS_PER_WARP; ++q) {
        ld[q] = __int_as_float(0x7f800000);  // +inf
        li[q] = HF_NN_NO_ID;
    }

    for (unsigned int v0 = vs; v0 < ve; v0 += HF_NN_BN) {
        float acc[4][8];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                acc[i][j] = 0.0f;
            }
        }
        for (unsigned int k0 = 0; k0 < p.dim; k0 += HF_NN_BK) {
            hf_load_tile_t<HF_NN_BM>(As, w, pos0, p.positions, p.dim, k0);
            hf_load_tile_t<HF_NN_BN>(Bs, table, v0, ve, p.dim, k0);
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < HF_NN_BK; ++kk) {
                const float4 a = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
                const float4 b0 = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
                const float4 b1 = *reinterpret_cast<const float4*>(&Bs[kk][64 + tx * 4]);
                const float av[4] = {a.x, a.y, a.z, a.w};
                const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                for (int i = 0; i < 4; ++i) {
#pragma unroll
                    for (int j = 0; j < 8; ++j) {
                        acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
                    }
                }
            }
            __syncthreads();
        }
        // s = ‖E_v‖² − 2 w·E_v (2·acc is exact, so fused or not this rounds
        // once, as the CPU's n − 2c); +∞ past the split's end never ranks.
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const unsigned int c0 = half * 64 + tx * 4;
                float out[4];
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const unsigned int v = v0 + c0 + j;
                    out[j] = v < ve ? norms[v] - 2.0f * acc[i][half * 4 + j] : __int_as_float(0x7f800000);
                }
                *reinterpret_cast<float4*>(&Ds[ty * 4 + i][c0]) = make_float4(out[0], out[1], out[2], out[3]);
            }
        }
        __syncthreads();
        // Each warp updates its positions' lists from their tile rows; a
        // value must beat the K-th entry, so after the first tiles the
        // ballots are almost always empty.
#pragma unroll
        for (int q = 0; q < HF_NN_ROWS_PER_WARP; ++q) {
            const int row = warp * HF_NN_ROWS_PER_WARP + q;
            const unsigned int self = self_ids[row];
#pragma unroll
            for (int c = 0; c < HF_NN_BN / 32; ++c) {
                const unsigned int col = c * 32 + lane;
                const float val = Ds[row][col];
                const bool ok = v0 + col != self;
                float thr = __shfl_sync(HF_NN_FULL, ld[q], k - 1);
                unsigned int mask = __ballot_sync(HF_NN_FULL, ok && val < thr);
                while (mask != 0u) {
                    const int src = __ffs(mask) - 1;
                    const float cv = __shfl_sync(HF_NN_FULL, val, src);
                    hf_insert(ld[q], li[q], cv, v0 + c * 32 + src, k);
                    thr = __shfl_sync(HF_NN_FULL, ld[q], k - 1);
                    mask &= ~(1u << src);
                    mask &= __ballot_sync(HF_NN_FULL, ok && val < thr);
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int q = 0; q < HF_NN_ROWS_PER_WARP; ++q) {
        const unsigned int pos = pos0 + warp * HF_NN_ROWS_PER_WARP + q;
        if (pos < p.positions && (unsigned int)lane < k) {
            const unsigned long long at = ((unsigned long long)split * p.positions + pos) * k + lane;
            part_s[at] = ld[q];
            part_ids[at] = li[q];
        }
    }
}

// Joins the S split lists of each position (in split order) into one:
// sel / nbr [P, K]. One warp per position.
// (p, part_s, part_ids, sel, nbr)
extern "C" __global__ void nn_merge_f32(NnDims p, const float* __restrict__ part_s,
                                        const unsigned int* __restrict__ part_ids, float* __restrict__ sel,
                                        unsigned int* __restrict__ nbr) {
    const unsigned int lane = threadIdx.x & 31u;
    const unsigned int k = p.k;
    for (unsigned long long t = hf_warp_id(); t < p.positions; t += hf_warp_count()) {
        float ld = __int_as_float(0x7f800000);
        unsigned int li = HF_NN_NO_ID;
        for (unsigned int s = 0; s < p.splits; ++s) {
            const unsigned long long base = ((unsigned long long)s * p.positions + t) * k;
            for (unsigned int j = 0; j < k; ++j) {
                // The same address in every lane: cv and cid are warp-uniform.
                const float cv = part_s[base + j];
                const unsigned int cid = part_ids[base + j];
                const float thr = __shfl_sync(HF_NN_FULL, ld, k - 1);
                if (cid != HF_NN_NO_ID && cv < thr) {
                    hf_insert(ld, li, cv, cid, k);
                }
            }
        }
        if (lane < k) {
            sel[t * k + lane] = ld;
            nbr[t * k + lane] = li;
        }
    }
}

// dist [P, K] = ‖E_k − w_t‖ (f32) and inv [P, K] = 1 / that (f64; exactly 0
// when the vectors are equal), the sum of squares in f64. One warp per
// (position, neighbour). (p, table, w, nbr, dist, inv)
extern "C" __global__ void nn_dir_norms_f32(NnDims p, const float* __restrict__ table, const float* __restrict__ w,
                                            const unsigned int* __restrict__ nbr, float* __restrict__ dist,
                                            double* __restrict__ inv) {
    const unsigned int lane = threadIdx.x & 31u;
    const unsigned long long pairs = (unsigned long long)p.positions * p.k;
    for (unsigned long long i = hf_warp_id(); i < pairs; i += hf_warp_count()) {
        const unsigned int id = nbr[i];
        if (id >= p.vocab) {
            if (lane == 0) {
                dist[i] = __int_as_float(0x7f800000);
                inv[i] = 0.0;
            }
            continue;
        }
        const float* e = table + (unsigned long long)id * p.dim;
        const float* wt = w + (i / p.k) * p.dim;
        double acc = 0.0;
        for (unsigned int j = lane; j < p.dim; j += 32) {
            const double d = (double)(e[j] - wt[j]);
            acc += d * d;
        }
        acc = hf_warp_sum(acc);
        if (lane == 0) {
            const double root = sqrt(acc);
            dist[i] = (float)root;
            inv[i] = acc > 0.0 ? 1.0 / root : 0.0;
        }
    }
}

// ghat [P, K] = inv · Σ_j g_{t,j} (E_{k,j} − w_{t,j}), summed in f64: iAdvT's
// ĝ and, with g taken at the perturbed embeddings, iVAT's gradient with
// respect to α. One warp per pair. (p, table, w, nbr, inv, g, ghat)
extern "C" __global__ void nn_project_f32(NnDims p, const float* __restrict__ table, const float* __restrict__ w,
                                          const unsigned int* __restrict__ nbr, const double* __restrict__ inv,
                                          const float* __restrict__ g, float* __restrict__ ghat) {
    const unsigned int lane = threadIdx.x & 31u;
    const unsigned long long pairs = (unsigned long long)p.positions * p.k;
    for (unsigned long long i = hf_warp_id(); i < pairs; i += hf_warp_count()) {
        const unsigned int id = nbr[i];
        if (id >= p.vocab) {
            if (lane == 0) {
                ghat[i] = 0.0f;
            }
            continue;
        }
        const float* e = table + (unsigned long long)id * p.dim;
        const unsigned long long row = (i / p.k) * p.dim;
        double acc = 0.0;
        for (unsigned int j = lane; j < p.dim; j += 32) {
            acc += (double)g[row + j] * (double)(e[j] - w[row + j]);
        }
        acc = hf_warp_sum(acc);
        if (lane == 0) {
            ghat[i] = (float)(acc * inv[i]);
        }
    }
}

// alpha = ε ghat / ‖ghat‖ over each group: elements offsets[g]·k ..
// offsets[g + 1]·k; 0 where the norm is 0. One block of HF_NN_BLOCK threads
// per group, the squares summed in f64 by a fixed tree.
// (ghat, offsets, groups, k, eps, alpha)
extern "C" __global__ void nn_alpha_f32(const float* __restrict__ ghat, const unsigned int* __restrict__ offsets,
                                        unsigned int groups, unsigned int k, float eps, float* __restrict__ alpha) {
    __shared__ double sh[HF_NN_BLOCK];
    for (unsigned int grp = blockIdx.x; grp < groups; grp += gridDim.x) {
        const unsigned long long a = (unsigned long long)offsets[grp] * k, b = (unsigned long long)offsets[grp + 1] * k;
        double acc = 0.0;
        for (unsigned long long i = a + threadIdx.x; i < b; i += HF_NN_BLOCK) {
            const double x = (double)ghat[i];
            acc += x * x;
        }
        sh[threadIdx.x] = acc;
        __syncthreads();
        for (unsigned int s = HF_NN_BLOCK / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) {
                sh[threadIdx.x] += sh[threadIdx.x + s];
            }
            __syncthreads();
        }
        const double norm = sqrt(sh[0]);
        const double scale = norm > 0.0 ? (double)eps / norm : 0.0;
        for (unsigned long long i = a + threadIdx.x; i < b; i += HF_NN_BLOCK) {
            alpha[i] = (float)((double)ghat[i] * scale);
        }
        // sh[0] is read above; the next group's stores must wait.
        __syncthreads();
    }
}

// r [P, D]: r_{t,j} = Σ_k α_{t,k} inv_{t,k} (E_{k,j} − w_{t,j}), in f64 over k
// in order. One thread per element. (p, table, w, nbr, inv, alpha, r)
extern "C" __global__ void nn_perturb_f32(NnDims p, const float* __restrict__ table, const float* __restrict__ w,
                                          const unsigned int* __restrict__ nbr, const double* __restrict__ inv,
                                          const float* __restrict__ alpha, float* __restrict__ r) {
    const unsigned long long n = (unsigned long long)p.positions * p.dim;
    for (unsigned long long e = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; e < n;
         e += (unsigned long long)blockDim.x * gridDim.x) {
        const unsigned long long t = e / p.dim, j = e % p.dim;
        const float wv = w[e];
        double acc = 0.0;
        for (unsigned int q = 0; q < p.k; ++q) {
            const unsigned long long i = t * p.k + q;
            const unsigned int id = nbr[i];
            if (id < p.vocab) {
                const double c = (double)alpha[i] * inv[i];
                acc += c * (double)(table[(unsigned long long)id * p.dim + j] - wv);
            }
        }
        r[e] = (float)acc;
    }
}
