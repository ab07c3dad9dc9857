//! The LSTM cell's elementwise kernels, forward and backward, for one step
//! of one sequence (scalar formulas the compiler vectorises; the CUDA twins
//! check against them).

use crate::ops::fastmath;
use multiversion::multiversion;

/// The fused cell at one step of one sequence: gate pre-activations `row`
/// `[4H]` (i, f, g, o) become activations in place; the state advances.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub(crate) fn cell_forward(
    row: &mut [f32],
    c_state: &mut [f32],
    h_state: &mut [f32],
    crow: &mut [f32],
    hrow: &mut [f32],
) {
    let h = c_state.len();
    assert!(row.len() == 4 * h && h_state.len() == h && crow.len() == h && hrow.len() == h);
    let (ri, rest) = row.split_at_mut(h);
    let (rf, rest) = rest.split_at_mut(h);
    let (rg, ro) = rest.split_at_mut(h);
    for j in 0..h {
        let i = fastmath::sigmoid(ri[j]);
        let f = fastmath::sigmoid(rf[j]);
        let g = fastmath::tanh(rg[j]);
        let o = fastmath::sigmoid(ro[j]);
        let c = f * c_state[j] + i * g;
        let hv = o * fastmath::tanh(c);
        ri[j] = i;
        rf[j] = f;
        rg[j] = g;
        ro[j] = o;
        crow[j] = c;
        hrow[j] = hv;
        c_state[j] = c;
        h_state[j] = hv;
    }
}

/// The cell's backward at one step of one sequence: from the output
/// gradient `gy` and the carried `dh_next`/`dc_next`, the gate gradients
/// `dg` `[4H]`; `dc_next` becomes the gradient for the previous cell.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub(crate) fn cell_backward(
    act: &[f32],
    c: &[f32],
    c_prev: &[f32],
    gy: &[f32],
    dh_next: &[f32],
    dc_next: &mut [f32],
    dg: &mut [f32],
) {
    let h = c.len();
    assert!(act.len() == 4 * h && dg.len() == 4 * h);
    assert!(c_prev.len() == h && gy.len() == h && dh_next.len() == h && dc_next.len() == h);
    let (ai, rest) = act.split_at(h);
    let (af, rest) = rest.split_at(h);
    let (ag, ao) = rest.split_at(h);
    let (di, rest) = dg.split_at_mut(h);
    let (df, rest) = rest.split_at_mut(h);
    let (dgg, dgo) = rest.split_at_mut(h);
    for j in 0..h {
        let (i, f, g, o) = (ai[j], af[j], ag[j], ao[j]);
        let tc = fastmath::tanh(c[j]);
        let dh = gy[j] + dh_next[j];
        let dc = dc_next[j] + dh * o * (1.0 - tc * tc);
        di[j] = dc * g * i * (1.0 - i);
        df[j] = dc * c_prev[j] * f * (1.0 - f);
        dgg[j] = dc * i * (1.0 - g * g);
        dgo[j] = dh * tc * o * (1.0 - o);
        dc_next[j] = dc * f;
    }
}
