// The fused LSTM cell at one time step, forward and backward, for a padded
// batch. CPU twins: src/ops/lstm.rs (`cell_forward`, `cell_backward`, the
// per-sequence bodies of the engine's `lstm_layer`), driven over the batch
// by `hotflip::cuda::ops::lstm::{step_forward_twin, step_backward_twin}`.
//
// Buffers are the engine's: gates [B, T, 4H] in gate order i, f, g, o
// (pre-activations in, activations out), cs and hs [B, T, H], running state
// h_state, c_state [B, H]. The host runs the per-step recurrent GEMM
// (gates[:, t] += h_state · W_hhᵀ) on cuBLAS between launches. Sequence b is
// active at t < lengths[b]; at an inactive step its state is carried
// unchanged, its outputs are 0 and its gradients are 0, as on the CPU.

struct LstmStep {
    unsigned int batch;
    unsigned int steps;     // T
    unsigned int hidden;    // H
    unsigned int t;         // the time index processed at this step
    unsigned int prev_t;    // the time index processed just before (valid if has_prev)
    unsigned int has_prev;  // 0 at the first processed step: the previous cell is 0
};
static_assert(sizeof(LstmStep) == 24, "LstmStep must match hotflip::cuda::params::LstmStep");

__device__ __forceinline__ float hf_sigmoid(float v) {
    if (v >= 0.0f) {
        return 1.0f / (1.0f + expf(-v));
    }
    float e = expf(v);
    return e / (1.0f + e);
}

// One thread per (b, j). (p, lengths, gates, hs, cs, h_state, c_state)
extern "C" __global__ void lstm_cell_fwd_f32(LstmStep p, const unsigned int* lengths, float* gates, float* hs,
                                             float* cs, float* h_state, float* c_state) {
    unsigned long long k = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    unsigned long long h = p.hidden;
    if (k >= (unsigned long long)p.batch * h) {
        return;
    }
    unsigned long long b = k / h, j = k % h;
    unsigned long long at = b * p.steps + p.t;
    if (p.t >= lengths[b]) {
        hs[at * h + j] = 0.0f;
        cs[at * h + j] = 0.0f;
        return;
    }
    float* row = gates + at * 4 * h;
    float i = hf_sigmoid(row[j]);
    float f = hf_sigmoid(row[h + j]);
    float g = tanhf(row[2 * h + j]);
    float o = hf_sigmoid(row[3 * h + j]);
    float c = f * c_state[k] + i * g;
    float hv = o * tanhf(c);
    row[j] = i;
    row[h + j] = f;
    row[2 * h + j] = g;
    row[3 * h + j] = o;
    cs[at * h + j] = c;
    hs[at * h + j] = hv;
    c_state[k] = c;
    h_state[k] = hv;
}

// One thread per (b, j). dh_next holds dLoss/dh from the later steps (the
// host's GEMM dgates[:, t_next] · W_hh, 0 before the first processed step);
// dc_next carries dLoss/dc and is updated in place.
// (p, lengths, gates, cs, gy, dh_next, dc_next, dgates)
extern "C" __global__ void lstm_cell_bwd_f32(LstmStep p, const unsigned int* lengths, const float* gates,
                                             const float* cs, const float* gy, const float* dh_next, float* dc_next,
                                             float* dgates) {
    unsigned long long k = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    unsigned long long h = p.hidden;
    if (k >= (unsigned long long)p.batch * h) {
        return;
    }
    unsigned long long b = k / h, j = k % h;
    unsigned long long at = b * p.steps + p.t;
    float* dg = dgates + at * 4 * h;
    if (p.t >= lengths[b]) {
        dg[j] = 0.0f;
        dg[h + j] = 0.0f;
        dg[2 * h + j] = 0.0f;
        dg[3 * h + j] = 0.0f;
        dc_next[k] = 0.0f;
        return;
    }
    const float* act = gates + at * 4 * h;
    float i = act[j], f = act[h + j], g = act[2 * h + j], o = act[3 * h + j];
    float c_prev = p.has_prev ? cs[(b * p.steps + p.prev_t) * h + j] : 0.0f;
    float tc = tanhf(cs[at * h + j]);
    float dh = gy[at * h + j] + dh_next[k];
    float dc = dc_next[k] + dh * o * (1.0f - tc * tc);
    dg[j] = dc * g * i * (1.0f - i);
    dg[h + j] = dc * c_prev * f * (1.0f - f);
    dg[2 * h + j] = dc * i * (1.0f - g * g);
    dg[3 * h + j] = dh * tc * o * (1.0f - o);
    dc_next[k] = dc * f;
}
