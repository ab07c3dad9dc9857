// Elementwise unary ops: forward y = f(x) and backward gx = f'(x, y) * g.
// CPU twins: src/ops/unary.rs (`unary_forward` / `unary_backward` and
// `scale_values` / `add_scalar_values`, built from the rules the tape ops
// call). Each formula below is written in the same order as its twin, so
// the two differ only by the last-bit rounding of tanhf/expf/logf.
//
// Layout: flat arrays of n elements; grid-stride loops, so any grid works.

#define HF_FOR_EACH(i, n)                                                                         \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < (n); \
         i += (unsigned long long)blockDim.x * gridDim.x)

// Overflow-safe logistic function, as `ops::sigmoid`.
__device__ __forceinline__ float hf_sigmoid(float v) {
    if (v >= 0.0f) {
        return 1.0f / (1.0f + expf(-v));
    }
    float e = expf(v);
    return e / (1.0f + e);
}

struct TanhOp {
    static __device__ __forceinline__ float f(float x) { return tanhf(x); }
    static __device__ __forceinline__ float df(float, float y, float g) { return g * (1.0f - y * y); }
};
struct SigmoidOp {
    static __device__ __forceinline__ float f(float x) { return hf_sigmoid(x); }
    static __device__ __forceinline__ float df(float, float y, float g) { return g * y * (1.0f - y); }
};
struct ReluOp {
    // fmaxf, like f32::max, returns 0 for a NaN input.
    static __device__ __forceinline__ float f(float x) { return fmaxf(x, 0.0f); }
    static __device__ __forceinline__ float df(float x, float, float g) { return x > 0.0f ? g : 0.0f; }
};
struct ExpOp {
    static __device__ __forceinline__ float f(float x) { return expf(x); }
    static __device__ __forceinline__ float df(float, float y, float g) { return g * y; }
};
struct LogOp {
    static __device__ __forceinline__ float f(float x) { return logf(x); }
    static __device__ __forceinline__ float df(float x, float, float g) { return g / x; }
};
struct NegOp {
    static __device__ __forceinline__ float f(float x) { return -x; }
    static __device__ __forceinline__ float df(float, float, float g) { return -g; }
};
struct SquareOp {
    static __device__ __forceinline__ float f(float x) { return x * x; }
    static __device__ __forceinline__ float df(float x, float, float g) { return 2.0f * x * g; }
};
struct SqrtOp {
    static __device__ __forceinline__ float f(float x) { return sqrtf(x); }
    static __device__ __forceinline__ float df(float, float y, float g) { return 0.5f * g / y; }
};

template <typename Op>
__device__ __forceinline__ void unary_fwd(const float* __restrict__ x, float* __restrict__ y, unsigned long long n) {
    HF_FOR_EACH(i, n) { y[i] = Op::f(x[i]); }
}

template <typename Op>
__device__ __forceinline__ void unary_bwd(const float* __restrict__ x, const float* __restrict__ y,
                                          const float* __restrict__ g, float* __restrict__ gx,
                                          unsigned long long n) {
    HF_FOR_EACH(i, n) { gx[i] = Op::df(x[i], y[i], g[i]); }
}

// (x, y, n)
extern "C" __global__ void tanh_fwd_f32(const float* x, float* y, unsigned long long n) { unary_fwd<TanhOp>(x, y, n); }
extern "C" __global__ void sigmoid_fwd_f32(const float* x, float* y, unsigned long long n) { unary_fwd<SigmoidOp>(x, y, n); }
extern "C" __global__ void relu_fwd_f32(const float* x, float* y, unsigned long long n) { unary_fwd<ReluOp>(x, y, n); }
extern "C" __global__ void exp_fwd_f32(const float* x, float* y, unsigned long long n) { unary_fwd<ExpOp>(x, y, n); }
extern "C" __global__ void log_fwd_f32(const float* x, float* y, unsigned long long n) { unary_fwd<LogOp>(x, y, n); }
extern "C" __global__ void neg_fwd_f32(const float* x, float* y, unsigned long long n) { unary_fwd<NegOp>(x, y, n); }
extern "C" __global__ void square_fwd_f32(const float* x, float* y, unsigned long long n) { unary_fwd<SquareOp>(x, y, n); }
extern "C" __global__ void sqrt_fwd_f32(const float* x, float* y, unsigned long long n) { unary_fwd<SqrtOp>(x, y, n); }

// (x, y, g, gx, n): the op's input, its output and dLoss/dOutput.
extern "C" __global__ void tanh_bwd_f32(const float* x, const float* y, const float* g, float* gx, unsigned long long n) {
    unary_bwd<TanhOp>(x, y, g, gx, n);
}
extern "C" __global__ void sigmoid_bwd_f32(const float* x, const float* y, const float* g, float* gx, unsigned long long n) {
    unary_bwd<SigmoidOp>(x, y, g, gx, n);
}
extern "C" __global__ void relu_bwd_f32(const float* x, const float* y, const float* g, float* gx, unsigned long long n) {
    unary_bwd<ReluOp>(x, y, g, gx, n);
}
extern "C" __global__ void exp_bwd_f32(const float* x, const float* y, const float* g, float* gx, unsigned long long n) {
    unary_bwd<ExpOp>(x, y, g, gx, n);
}
extern "C" __global__ void log_bwd_f32(const float* x, const float* y, const float* g, float* gx, unsigned long long n) {
    unary_bwd<LogOp>(x, y, g, gx, n);
}
extern "C" __global__ void neg_bwd_f32(const float* x, const float* y, const float* g, float* gx, unsigned long long n) {
    unary_bwd<NegOp>(x, y, g, gx, n);
}
extern "C" __global__ void square_bwd_f32(const float* x, const float* y, const float* g, float* gx, unsigned long long n) {
    unary_bwd<SquareOp>(x, y, g, gx, n);
}
extern "C" __global__ void sqrt_bwd_f32(const float* x, const float* y, const float* g, float* gx, unsigned long long n) {
    unary_bwd<SqrtOp>(x, y, g, gx, n);
}

// y = c * x (`Tape::scale`; its backward is the same kernel on g).
extern "C" __global__ void scale_f32(const float* x, float* y, unsigned long long n, float c) {
    HF_FOR_EACH(i, n) { y[i] = c * x[i]; }
}

// y = x + c (`Tape::add_scalar`).
extern "C" __global__ void add_scalar_f32(const float* x, float* y, unsigned long long n, float c) {
    HF_FOR_EACH(i, n) { y[i] = x[i] + c; }
}
