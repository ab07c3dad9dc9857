// im2col / col2im for the narrow 1-D convolution (the GEMMs around them go
// to cuBLAS). CPU twins: src/ops/conv.rs (`im2col`, `col2im`).
//
// x [n, l, c]; p = l − k + 1 positions; cols [n·p, c·k] with column c·k + j
// holding x[n, p + j, c], matching the weight [f, c, k] read as [f, c·k].

#define HF_FOR_EACH(i, n)                                                                         \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < (n); \
         i += (unsigned long long)blockDim.x * gridDim.x)

// (x, n, l, c, k, cols): one thread per cols element.
extern "C" __global__ void im2col_f32(const float* x, unsigned long long n, unsigned long long l, unsigned long long c,
                                      unsigned long long k, float* cols) {
    unsigned long long p = l - k + 1;
    HF_FOR_EACH(e, n * p * c * k) {
        unsigned long long j = e % k, ci = (e / k) % c, pi = (e / (k * c)) % p, ni = e / (k * c * p);
        cols[e] = x[(ni * l + pi + j) * c + ci];
    }
}

// The adjoint: dx [n, l, c] gathers every patch entry that read it. One
// thread per dx element sums over the patches covering its position in
// ascending patch order, the order the CPU adds them in. (dcols, n, l, c, k, dx)
extern "C" __global__ void col2im_f32(const float* dcols, unsigned long long n, unsigned long long l,
                                      unsigned long long c, unsigned long long k, float* dx) {
    unsigned long long p = l - k + 1;
    HF_FOR_EACH(e, n * l * c) {
        unsigned long long ci = e % c, pos = (e / c) % l, ni = e / (c * l);
        // Patches pi with pi ≤ pos ≤ pi + k − 1 and 0 ≤ pi < p.
        unsigned long long first = pos + 1 > k ? pos + 1 - k : 0;
        unsigned long long last = pos < p - 1 ? pos : p - 1;
        float acc = 0.0f;
        for (unsigned long long pi = first; pi <= last; ++pi) {
            acc += dcols[((ni * p + pi) * c + ci) * k + (pos - pi)];
        }
        dx[e] = acc;
    }
}
