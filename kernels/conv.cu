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

// The char-CNN features' pooling for one kernel width (Kim et al. 2016; CPU
// twin: src/ops/char_conv.rs, `word_features`, and
// `hotflip::cuda::ops::conv::max_tanh_twin`): pre [n, p, fi] is the width's
// convolution (the GEMM of its im2col patches with its weights); per (word,
// filter) the max over the p positions (the first on ties), plus the bias,
// through tanh, into columns off..off + fi of y [n, ftot], and the arg-max
// position into arg at the same place. Max before bias and tanh, as on the
// CPU (tanh is monotonic). (pre, bias, n, p, fi, ftot, off, y, arg)
extern "C" __global__ void conv_max_tanh_f32(const float* pre, const float* bias, unsigned long long n,
                                             unsigned long long p, unsigned long long fi, unsigned long long ftot,
                                             unsigned long long off, float* y, unsigned int* arg) {
    HF_FOR_EACH(e, n * fi) {
        unsigned long long f = e % fi, ni = e / fi;
        const float* col = pre + ni * p * fi + f;
        float best = col[0];
        unsigned int at = 0;
        for (unsigned long long pi = 1; pi < p; ++pi) {
            float v = col[pi * fi];
            if (v > best) {
                best = v;
                at = (unsigned int)pi;
            }
        }
        y[ni * ftot + off + f] = tanhf(best + bias[f]);
        arg[ni * ftot + off + f] = at;
    }
}

// Its backward: dpre [n, p, fi] is g·(1 − y²) at each (word, filter)'s
// arg-max position and 0 elsewhere, read from columns off..off + fi of g,
// y and arg [n, ftot]. (g, y, arg, n, p, fi, ftot, off, dpre)
extern "C" __global__ void conv_max_tanh_bwd_f32(const float* g, const float* y, const unsigned int* arg,
                                                 unsigned long long n, unsigned long long p, unsigned long long fi,
                                                 unsigned long long ftot, unsigned long long off, float* dpre) {
    HF_FOR_EACH(e, n * p * fi) {
        unsigned long long f = e % fi, pi = (e / fi) % p, ni = e / (fi * p);
        unsigned long long at = ni * ftot + off + f;
        float yv = y[at];
        dpre[e] = arg[at] == pi ? g[at] * (1.0f - yv * yv) : 0.0f;
    }
}

// word_cnn's pooling for one kernel width (Kim 2014; CPU twin:
// `hotflip::cuda::ops::conv::max_relu_twin`, the rule of the tape's conv1d →
// relu → max_over_valid): pre [n, p, fi] is the width's convolution; per
// (sentence, filter) the max over its first valid[ni] positions (the first
// on ties), plus the bias, through relu, into columns off..off + fi of
// y [n, ftot], and the arg-max position into arg. relu is monotonic, so the
// max of relu(pre + bias) is relu of the max. valid[ni] is in 1..=p.
// (pre, bias, valid, n, p, fi, ftot, off, y, arg)
extern "C" __global__ void conv_max_relu_f32(const float* pre, const float* bias, const unsigned int* valid,
                                             unsigned long long n, unsigned long long p, unsigned long long fi,
                                             unsigned long long ftot, unsigned long long off, float* y,
                                             unsigned int* arg) {
    HF_FOR_EACH(e, n * fi) {
        unsigned long long f = e % fi, ni = e / fi;
        const float* col = pre + ni * p * fi + f;
        unsigned long long v = valid[ni];
        float best = col[0];
        unsigned int at = 0;
        for (unsigned long long pi = 1; pi < v; ++pi) {
            float x = col[pi * fi];
            if (x > best) {
                best = x;
                at = (unsigned int)pi;
            }
        }
        float z = best + bias[f];
        y[ni * ftot + off + f] = z > 0.0f ? z : 0.0f;
        arg[ni * ftot + off + f] = at;
    }
}

// Its backward: dpre [n, p, fi] is g at each (sentence, filter)'s arg-max
// position where the output is positive (relu's gradient) and 0 elsewhere,
// read from columns off..off + fi of g, y and arg [n, ftot].
// (g, y, arg, n, p, fi, ftot, off, dpre)
extern "C" __global__ void conv_max_relu_bwd_f32(const float* g, const float* y, const unsigned int* arg,
                                                 unsigned long long n, unsigned long long p, unsigned long long fi,
                                                 unsigned long long ftot, unsigned long long off, float* dpre) {
    HF_FOR_EACH(e, n * p * fi) {
        unsigned long long f = e % fi, pi = (e / fi) % p, ni = e / (fi * p);
        unsigned long long at = ni * ftot + off + f;
        dpre[e] = (arg[at] == pi && y[at] > 0.0f) ? g[at] : 0.0f;
    }
}
