// Optimiser updates, in place, one thread per parameter element.
// CPU twins: src/cuda/twins.rs (`sgd_momentum_step`, `adam_step`), written
// for this self-check from PyTorch's update rules (torch.optim.SGD with
// momentum, torch.optim.Adam / AdamW); `src/optim/` has the engine's own.
//
// Hyper-parameters travel as structs mirrored field for field by
// `hotflip::cuda::params::{SgdParams, AdamParams}`.

#define HF_FOR_EACH(i, n)                                                                         \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < (n); \
         i += (unsigned long long)blockDim.x * gridDim.x)

struct SgdParams {
    float lr;
    float momentum;
    float dampening;
    float weight_decay;
    unsigned int nesterov;    // 0 or 1
    unsigned int first_step;  // 1 on the first step: the buffer starts as the gradient
};
static_assert(sizeof(SgdParams) == 24, "SgdParams must match hotflip::cuda::params::SgdParams");

struct AdamParams {
    float lr;
    float beta1;
    float beta2;
    float eps;
    float weight_decay;
    float bias_correction1;       // 1 − beta1^t
    float bias_correction2_sqrt;  // sqrt(1 − beta2^t)
    unsigned int decoupled;       // 1: AdamW's decoupled weight decay; 0: L2 added to the gradient
};
static_assert(sizeof(AdamParams) == 32, "AdamParams must match hotflip::cuda::params::AdamParams");

// (p, param, grad, velocity, n): d = g + wd·θ; v = first ? d : μ·v + (1 − τ)·d;
// d = nesterov ? d + μ·v : v; θ −= lr·d. Momentum 0 leaves v untouched.
extern "C" __global__ void sgd_momentum_f32(SgdParams p, float* param, const float* grad, float* velocity,
                                            unsigned long long n) {
    HF_FOR_EACH(i, n) {
        float d = grad[i];
        if (p.weight_decay != 0.0f) {
            d = d + p.weight_decay * param[i];
        }
        if (p.momentum != 0.0f) {
            float v = p.first_step ? d : p.momentum * velocity[i] + (1.0f - p.dampening) * d;
            velocity[i] = v;
            d = p.nesterov ? d + p.momentum * v : v;
        }
        param[i] = param[i] - p.lr * d;
    }
}

// (p, param, grad, m, v, n): Adam with bias correction,
// θ −= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps).
extern "C" __global__ void adam_f32(AdamParams p, float* param, const float* grad, float* m, float* v,
                                    unsigned long long n) {
    HF_FOR_EACH(i, n) {
        float theta = param[i];
        float g = grad[i];
        if (p.weight_decay != 0.0f) {
            if (p.decoupled) {
                theta = theta * (1.0f - p.lr * p.weight_decay);
            } else {
                g = g + p.weight_decay * theta;
            }
        }
        float mi = p.beta1 * m[i] + (1.0f - p.beta1) * g;
        float vi = p.beta2 * v[i] + (1.0f - p.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / p.bias_correction2_sqrt + p.eps;
        float step = p.lr / p.bias_correction1;
        param[i] = theta - step * (mi / denom);
    }
}
