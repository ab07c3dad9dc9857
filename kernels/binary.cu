// Broadcasting binary ops (NumPy rules) and the reduce-to-shape that their
// backward needs. CPU twins: src/ops/binary.rs (`broadcast_map` with
// `Kind::apply`, and `sum_to_shape`).
//
// Shapes travel as a struct mirrored field for field by
// `hotflip::cuda::params::{Broadcast, ReduceToShape}`: both operands are
// described by element strides inside the output shape, 0 along a
// broadcast dimension, so one index decomposition serves every pattern.

#define HF_MAX_DIMS 6

#define HF_FOR_EACH(i, n)                                                                         \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < (n); \
         i += (unsigned long long)blockDim.x * gridDim.x)

struct Broadcast {
    unsigned int rank;  // dimensions in use, 0..=HF_MAX_DIMS
    unsigned int pad0;
    unsigned long long numel;                   // output elements
    unsigned long long dims[HF_MAX_DIMS];       // output shape
    unsigned long long a_strides[HF_MAX_DIMS];  // element strides of a inside the output, 0 where broadcast
    unsigned long long b_strides[HF_MAX_DIMS];
};
static_assert(sizeof(Broadcast) == 160, "Broadcast must match hotflip::cuda::params::Broadcast");

struct ReduceToShape {
    unsigned int rank;
    unsigned int pad0;
    unsigned long long numel;                        // elements of the target shape
    unsigned long long dims[HF_MAX_DIMS];            // the (broadcast) shape of the gradient being reduced
    unsigned long long target_strides[HF_MAX_DIMS];  // target's strides inside `dims`, 0 where it has size 1
    unsigned long long src_strides[HF_MAX_DIMS];     // the gradient's own row-major strides
};
static_assert(sizeof(ReduceToShape) == 160, "ReduceToShape must match hotflip::cuda::params::ReduceToShape");

struct AddOp {
    static __device__ __forceinline__ float f(float a, float b) { return a + b; }
};
struct SubOp {
    static __device__ __forceinline__ float f(float a, float b) { return a - b; }
};
struct MulOp {
    static __device__ __forceinline__ float f(float a, float b) { return a * b; }
};
struct DivOp {
    static __device__ __forceinline__ float f(float a, float b) { return a / b; }
};

template <typename Op>
__device__ __forceinline__ void broadcast_map(const Broadcast& p, const float* __restrict__ a,
                                              const float* __restrict__ b, float* __restrict__ out) {
    HF_FOR_EACH(i, p.numel) {
        unsigned long long rem = i, oa = 0, ob = 0;
        for (int d = (int)p.rank - 1; d >= 0; --d) {
            unsigned long long c = rem % p.dims[d];
            rem /= p.dims[d];
            oa += c * p.a_strides[d];
            ob += c * p.b_strides[d];
        }
        out[i] = Op::f(a[oa], b[ob]);
    }
}

// (params, a, b, out): out = a op b over the broadcast shape p.dims.
extern "C" __global__ void add_f32(Broadcast p, const float* a, const float* b, float* out) { broadcast_map<AddOp>(p, a, b, out); }
extern "C" __global__ void sub_f32(Broadcast p, const float* a, const float* b, float* out) { broadcast_map<SubOp>(p, a, b, out); }
extern "C" __global__ void mul_f32(Broadcast p, const float* a, const float* b, float* out) { broadcast_map<MulOp>(p, a, b, out); }
extern "C" __global__ void div_f32(Broadcast p, const float* a, const float* b, float* out) { broadcast_map<DivOp>(p, a, b, out); }

// Sums g (shape p.dims) down to the target shape: one thread per target
// element adds its sources in ascending source order, the order in which
// the CPU's general path visits them, so no atomics and no reordering.
extern "C" __global__ void sum_to_shape_f32(ReduceToShape p, const float* g, float* out) {
    HF_FOR_EACH(t, p.numel) {
        // Where target element t starts in g, over the dimensions it keeps.
        unsigned long long rem = t, base = 0, reduced = 1;
        for (int d = (int)p.rank - 1; d >= 0; --d) {
            if (p.target_strides[d] != 0) {
                unsigned long long c = rem % p.dims[d];
                rem /= p.dims[d];
                base += c * p.src_strides[d];
            } else {
                reduced *= p.dims[d];
            }
        }
        float acc = 0.0f;
        for (unsigned long long r = 0; r < reduced; ++r) {
            // r enumerates the reduced dimensions row-major: ascending offsets.
            unsigned long long rr = r, off = base;
            for (int d = (int)p.rank - 1; d >= 0; --d) {
                if (p.target_strides[d] == 0) {
                    unsigned long long c = rr % p.dims[d];
                    rr /= p.dims[d];
                    off += c * p.src_strides[d];
                }
            }
            acc += g[off];
        }
        out[t] = acc;
    }
}
