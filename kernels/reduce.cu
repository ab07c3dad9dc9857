// Reductions: sum of everything, sum along one axis (column sums are the
// case outer = 1), max along one axis with its argmax, max over each
// example's valid positions, and the max backward both of those share.
// CPU twins: src/ops/cpu.rs (`sum`, `col_sums`) and src/ops/reduce.rs
// (`sum_axis_forward`, `max_axis_forward`, `max_over_valid_forward`,
// `max_backward`).
//
// Every reduction is deterministic: a fixed grid (chosen from n alone by the
// launcher), a fixed tree inside each block and no atomics.

#define HF_FOR_EACH(i, n)                                                                         \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < (n); \
         i += (unsigned long long)blockDim.x * gridDim.x)

// The launcher runs the two sum kernels with exactly this many threads per block.
#define HF_SUM_THREADS 256

// Tree sum of one double per thread; the result is in sh[0].
__device__ __forceinline__ void block_sum(double* sh) {
    for (unsigned int s = HF_SUM_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            sh[threadIdx.x] += sh[threadIdx.x + s];
        }
        __syncthreads();
    }
}

// Pass 1 of the sum of all elements, accumulated in f64 as the CPU does:
// block b writes partials[b]. (x, n, partials)
extern "C" __global__ void sum_partials_f32(const float* x, unsigned long long n, double* partials) {
    __shared__ double sh[HF_SUM_THREADS];
    double acc = 0.0;
    HF_FOR_EACH(i, n) { acc += (double)x[i]; }
    sh[threadIdx.x] = acc;
    __syncthreads();
    block_sum(sh);
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = sh[0];
    }
}

// Pass 2: one block adds the partials. (partials, count, out[1])
extern "C" __global__ void sum_finish_f32(const double* partials, unsigned int count, float* out) {
    __shared__ double sh[HF_SUM_THREADS];
    double acc = 0.0;
    for (unsigned int i = threadIdx.x; i < count; i += HF_SUM_THREADS) {
        acc += partials[i];
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    block_sum(sh);
    if (threadIdx.x == 0) {
        out[0] = (float)sh[0];
    }
}

// x viewed as [outer, size, inner] → out [outer, inner], summing along
// `size` in ascending order from 0, as the CPU does.
extern "C" __global__ void sum_axis_f32(const float* x, unsigned long long outer, unsigned long long size,
                                        unsigned long long inner, float* out) {
    HF_FOR_EACH(k, outer * inner) {
        unsigned long long o = k / inner, i = k % inner;
        const float* src = x + o * size * inner + i;
        float acc = 0.0f;
        for (unsigned long long s = 0; s < size; ++s) {
            acc += src[s * inner];
        }
        out[k] = acc;
    }
}

// Max along `size` of x [outer, size, inner] → out, arg [outer, inner].
// The first maximum wins; a NaN in the first slot stays, later NaNs never
// win (`>` is false), exactly like `max_axis_forward`.
extern "C" __global__ void max_axis_fwd_f32(const float* x, unsigned long long outer, unsigned long long size,
                                            unsigned long long inner, float* out, unsigned int* arg) {
    HF_FOR_EACH(k, outer * inner) {
        unsigned long long o = k / inner, i = k % inner;
        const float* src = x + o * size * inner + i;
        float best = src[0];
        unsigned int at = 0;
        for (unsigned long long s = 1; s < size; ++s) {
            float v = src[s * inner];
            if (v > best) {
                best = v;
                at = (unsigned int)s;
            }
        }
        out[k] = best;
        arg[k] = at;
    }
}

// Max over the first valid[n] positions of x [n, p, f] → out, arg [n, f]
// (max-over-time pooling that ignores padding). 1 ≤ valid[n] ≤ p.
extern "C" __global__ void max_over_valid_fwd_f32(const float* x, const unsigned int* valid, unsigned long long n,
                                                  unsigned long long p, unsigned long long f, float* out,
                                                  unsigned int* arg) {
    HF_FOR_EACH(k, n * f) {
        unsigned long long e = k / f, j = k % f;
        const float* src = x + e * p * f + j;
        float best = src[0];
        unsigned int at = 0;
        for (unsigned int q = 1; q < valid[e]; ++q) {
            float v = src[(unsigned long long)q * f];
            if (v > best) {
                best = v;
                at = q;
            }
        }
        out[k] = best;
        arg[k] = at;
    }
}

// Backward of both maxima: gx [outer, size, inner] gets g where s is the
// argmax and 0 elsewhere. One thread per gx element writes it, so the
// result needs no zeroed buffer and no scatter.
extern "C" __global__ void max_bwd_f32(const float* g, const unsigned int* arg, unsigned long long outer,
                                       unsigned long long size, unsigned long long inner, float* gx) {
    HF_FOR_EACH(k, outer * size * inner) {
        unsigned long long i = k % inner, s = (k / inner) % size, o = k / (inner * size);
        unsigned long long src = o * inner + i;
        gx[k] = (arg[src] == s) ? g[src] : 0.0f;
    }
}
