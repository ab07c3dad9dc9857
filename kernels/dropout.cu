// Inverted dropout with a mask that is a pure function of (seed, index).
// CPU twin: src/ops/dropout.rs (`keep`, `apply`). The hash is the
// same SplitMix64 finaliser on 64-bit unsigned integers and the comparison
// the same exact 24-bit fraction, so the mask agrees bit for bit; the kept
// values are one f32 multiply each, so they agree bit for bit too.

#define HF_FOR_EACH(i, n)                                                                         \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < (n); \
         i += (unsigned long long)blockDim.x * gridDim.x)

// Whether element i is kept, with probability 1 − p (`ops::dropout::keep`).
__device__ __forceinline__ bool hf_keep(unsigned long long seed, unsigned long long i, float p) {
    unsigned long long z = seed ^ (i * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    // z >> 40 < 2^24 converts exactly, and 2^-24 is a power of two.
    return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

// out = keep ? x / (1 − p) : 0, for 0 ≤ p < 1. The backward is the same
// kernel applied to the gradient with the same seed. (x, n, seed, p, out)
extern "C" __global__ void dropout_f32(const float* x, unsigned long long n, unsigned long long seed, float p,
                                       float* out) {
    // IEEE division (NVRTC's default --prec-div=true), as `1.0 / (1.0 - p)` in Rust.
    float scale = 1.0f / (1.0f - p);
    HF_FOR_EACH(i, n) { out[i] = hf_keep(seed, i, p) ? x[i] * scale : 0.0f; }
}
