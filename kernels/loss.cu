// Row-wise log-softmax and weighted cross-entropy, forward and backward.
// CPU twins: src/ops/loss.rs (`log_softmax_rows`, `log_softmax_backward_rows`,
// `ce_forward_rows`, `ce_backward_rows`).
//
// Rows are the last axis: x [rows, c]. Row kernels run one block of
// HF_ROW_THREADS threads per row (grid = rows) and reduce with a fixed
// tree, so results do not depend on scheduling.

#define HF_ROW_THREADS 256

#define HF_FOR_EACH(i, n)                                                                         \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < (n); \
         i += (unsigned long long)blockDim.x * gridDim.x)

__device__ __forceinline__ float block_max(float v, float* sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = HF_ROW_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
        }
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();  // sh is reused by the caller's next reduction
    return r;
}

__device__ __forceinline__ double block_sum(double v, double* sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = HF_ROW_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            sh[threadIdx.x] += sh[threadIdx.x + s];
        }
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

// log-sum-exp of one row: max-subtracted, the exponentials summed in f64
// (the CPU twin does the same), `m + (float)log(sum)`.
__device__ __forceinline__ float row_lse(const float* row, unsigned long long c) {
    __shared__ float shf[HF_ROW_THREADS];
    __shared__ double shd[HF_ROW_THREADS];
    float m = __int_as_float(0xff800000);  // -inf
    for (unsigned long long j = threadIdx.x; j < c; j += HF_ROW_THREADS) {
        m = fmaxf(m, row[j]);
    }
    m = block_max(m, shf);
    double s = 0.0;
    for (unsigned long long j = threadIdx.x; j < c; j += HF_ROW_THREADS) {
        s += exp((double)(row[j] - m));
    }
    s = block_sum(s, shd);
    return m + (float)log(s);
}

// (x, rows, c, out): out = x − logsumexp(x) per row.
extern "C" __global__ void log_softmax_fwd_f32(const float* x, unsigned long long rows, unsigned long long c,
                                               float* out) {
    unsigned long long r = blockIdx.x;
    if (r >= rows) {
        return;
    }
    const float* row = x + r * c;
    float lse = row_lse(row, c);
    for (unsigned long long j = threadIdx.x; j < c; j += HF_ROW_THREADS) {
        out[r * c + j] = row[j] - lse;
    }
}

// (g, y, rows, c, gx): gx = g − softmax · Σ g, with y the forward output.
extern "C" __global__ void log_softmax_bwd_f32(const float* g, const float* y, unsigned long long rows,
                                               unsigned long long c, float* gx) {
    __shared__ double shd[HF_ROW_THREADS];
    unsigned long long r = blockIdx.x;
    if (r >= rows) {
        return;
    }
    double s = 0.0;
    for (unsigned long long j = threadIdx.x; j < c; j += HF_ROW_THREADS) {
        s += (double)g[r * c + j];
    }
    float sum = (float)block_sum(s, shd);
    for (unsigned long long j = threadIdx.x; j < c; j += HF_ROW_THREADS) {
        gx[r * c + j] = g[r * c + j] - expf(y[r * c + j]) * sum;
    }
}

// Fused log-softmax and weighted cross-entropy of logits x [rows, c]:
// ls = log_softmax(x) (kept for backward), per[r] = −ls[r, t_r] · w_r.
// (x, targets, weights, rows, c, ls, per)
extern "C" __global__ void cross_entropy_fwd_f32(const float* x, const unsigned int* targets, const float* weights,
                                                 unsigned long long rows, unsigned long long c, float* ls,
                                                 float* per) {
    unsigned long long r = blockIdx.x;
    if (r >= rows) {
        return;
    }
    const float* row = x + r * c;
    float lse = row_lse(row, c);
    for (unsigned long long j = threadIdx.x; j < c; j += HF_ROW_THREADS) {
        ls[r * c + j] = row[j] - lse;
    }
    if (threadIdx.x == 0) {
        per[r] = -(row[targets[r]] - lse) * weights[r];
    }
}

// gx[r, j] = s_r · (softmax_j − [j = t_r]) with s_r = w_r · g[r · g_stride]:
// g_stride 0 for a reduced (scalar) loss, 1 for a per-row one.
// Elementwise, any grid. (ls, targets, weights, g, g_stride, rows, c, gx)
extern "C" __global__ void cross_entropy_bwd_f32(const float* ls, const unsigned int* targets, const float* weights,
                                                 const float* g, unsigned long long g_stride, unsigned long long rows,
                                                 unsigned long long c, float* gx) {
    HF_FOR_EACH(k, rows * c) {
        unsigned long long r = k / c, j = k % c;
        float scale = weights[r] * g[r * g_stride];
        float v = scale * expf(ls[k]);
        if (j == targets[r]) {
            v -= scale;
        }
        gx[k] = v;
    }
}
