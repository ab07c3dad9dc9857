//! Launchers for kernels/lstm.cu (the fused cell at one time step, forward
//! and backward), their per-step CPU twins, and the step-by-step LSTM layer
//! that a GPU path runs: per step, a strided cuBLAS product into the gate
//! rows, then one cell launch.
//!
//! The twins drive `ops::lstm::{cell_forward, cell_backward}` (the engine's
//! own per-sequence cell) over the batch exactly as a kernel launch does;
//! the tests below rebuild the whole `lstm_layer` from them.

use crate::cuda::blas::{gemm, Mat, MatMut};

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{one_thread_each, to_u32, Gpu};
use crate::cuda::params::LstmStep;
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{randn, rel_err, size_in, worst, Check, Subject, CHAIN, MATH, POISON};
use crate::error::{Error, Result};
use crate::ops::gemm::{matmul, View, ViewMut};
use crate::ops::lstm::{cell_backward, cell_forward};
use crate::rng::Rng;

/// A padded batch of `batch` sequences of `steps` steps, `hidden` units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmDims {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
}

impl LstmDims {
    /// The step parameters for processing step `s` (time index reversed
    /// for the reverse direction), as the CPU op orders them.
    pub fn step(self, s: usize, reverse: bool) -> LstmStep {
        let time = |s: usize| if reverse { self.steps - 1 - s } else { s };
        LstmStep {
            batch: self.batch as u32,
            steps: self.steps as u32,
            hidden: self.hidden as u32,
            t: time(s) as u32,
            prev_t: if s == 0 { 0 } else { time(s - 1) as u32 },
            has_prev: (s > 0) as u32,
        }
    }

    fn check(self, op: &'static str) -> Result<()> {
        for v in [self.batch, self.steps, self.hidden, self.batch * self.steps * 4 * self.hidden] {
            if u32::try_from(v).is_err() {
                return Err(Error::invalid(op, format!("LSTM size {v} exceeds the kernels' 32-bit sizes")));
            }
        }
        Ok(())
    }

    fn state_len(self) -> usize {
        self.batch * self.hidden
    }

    fn seq_len(self) -> usize {
        self.batch * self.steps * self.hidden
    }
}

/// Sequence lengths on the device, checked ≤ `steps`.
pub fn upload_lengths(gpu: &Gpu, lengths: &[usize], steps: usize) -> Result<DeviceBuf<u32>> {
    if let Some(&l) = lengths.iter().find(|&&l| l > steps) {
        return Err(Error::invalid("lstm", format!("length {l} exceeds the {steps} time steps of the input")));
    }
    gpu.upload(&to_u32("lstm", "length", lengths)?)
}

fn check_step(op: &'static str, p: &LstmStep, dims: LstmDims) -> Result<()> {
    dims.check(op)?;
    if p.batch as usize != dims.batch || p.steps as usize != dims.steps || p.hidden as usize != dims.hidden {
        return Err(Error::invalid(op, format!("step parameters {p:?} do not describe {dims:?}")));
    }
    if p.t >= p.steps || (p.has_prev != 0 && p.prev_t >= p.steps) {
        return Err(Error::invalid(op, format!("time index out of range in {p:?}")));
    }
    Ok(())
}

/// The running state of one direction: `h_state`, `c_state [B, H]`.
pub struct LstmState<'a> {
    pub h: &'a mut DeviceBuf<f32>,
    pub c: &'a mut DeviceBuf<f32>,
}

/// The cell at step `p`: activates `gates [B, T, 4H]` at `p.t` in place,
/// writes `hs`, `cs [B, T, H]` there and advances `state`.
pub fn cell_fwd(
    gpu: &Gpu,
    p: &LstmStep,
    dims: LstmDims,
    lengths: &DeviceBuf<u32>,
    gates: &mut DeviceBuf<f32>,
    (hs, cs): (&mut DeviceBuf<f32>, &mut DeviceBuf<f32>),
    state: LstmState<'_>,
) -> Result<()> {
    let kr = k::lstm::LSTM_CELL_FWD_F32;
    check_step(kr.name, p, dims)?;
    lengths.expect_len(kr.name, "lengths", dims.batch)?;
    gates.expect_len(kr.name, "gates", 4 * dims.seq_len())?;
    hs.expect_len(kr.name, "hs", dims.seq_len())?;
    cs.expect_len(kr.name, "cs", dims.seq_len())?;
    state.h.expect_len(kr.name, "h_state", dims.state_len())?;
    state.c.expect_len(kr.name, "c_state", dims.state_len())?;
    if dims.state_len() == 0 {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(p).arg(lengths).arg(&mut *gates).arg(&mut *hs).arg(&mut *cs).arg(&mut *state.h).arg(&mut *state.c);
    // SAFETY: the kernel's parameter list; one thread per (b, j) with the
    // bounds check in the kernel, and every buffer sized from dims.
    unsafe { gpu.launch(kr, &mut args, one_thread_each(kr.name, dims.state_len())?) }
}

/// The cell backward at step `p`: writes `dgates` at `p.t` and carries
/// `dc_next`; `dh_next` is dLoss/dh from the later steps.
#[allow(clippy::too_many_arguments)]
pub fn cell_bwd(
    gpu: &Gpu,
    p: &LstmStep,
    dims: LstmDims,
    lengths: &DeviceBuf<u32>,
    (gates, cs): (&DeviceBuf<f32>, &DeviceBuf<f32>),
    gy: &DeviceBuf<f32>,
    dh_next: &DeviceBuf<f32>,
    dc_next: &mut DeviceBuf<f32>,
    dgates: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::lstm::LSTM_CELL_BWD_F32;
    check_step(kr.name, p, dims)?;
    lengths.expect_len(kr.name, "lengths", dims.batch)?;
    gates.expect_len(kr.name, "gates", 4 * dims.seq_len())?;
    cs.expect_len(kr.name, "cs", dims.seq_len())?;
    gy.expect_len(kr.name, "gy", dims.seq_len())?;
    dh_next.expect_len(kr.name, "dh_next", dims.state_len())?;
    dc_next.expect_len(kr.name, "dc_next", dims.state_len())?;
    dgates.expect_len(kr.name, "dgates", 4 * dims.seq_len())?;
    if dims.state_len() == 0 {
        return Ok(());
    }
    let mut args = gpu.args();
    args.arg(p).arg(lengths).arg(gates).arg(cs).arg(gy).arg(dh_next).arg(&mut *dc_next).arg(&mut *dgates);
    // SAFETY: as cell_fwd.
    unsafe { gpu.launch(kr, &mut args, one_thread_each(kr.name, dims.state_len())?) }
}

/// CPU twin of `lstm_cell_fwd_f32`: the engine's cell over the batch.
pub(crate) fn step_forward_twin(
    p: &LstmStep,
    lengths: &[usize],
    gates: &mut [f32],
    (hs, cs): (&mut [f32], &mut [f32]),
    (h_state, c_state): (&mut [f32], &mut [f32]),
) {
    let (t, h, tt) = (p.steps as usize, p.hidden as usize, p.t as usize);
    for b in 0..p.batch as usize {
        let at = b * t + tt;
        let (hrow, crow) = (&mut hs[at * h..(at + 1) * h], &mut cs[at * h..(at + 1) * h]);
        if tt >= lengths[b] {
            hrow.fill(0.0);
            crow.fill(0.0);
            continue;
        }
        let row = &mut gates[at * 4 * h..(at + 1) * 4 * h];
        cell_forward(row, &mut c_state[b * h..(b + 1) * h], &mut h_state[b * h..(b + 1) * h], crow, hrow);
    }
}

/// CPU twin of `lstm_cell_bwd_f32`.
pub(crate) fn step_backward_twin(
    p: &LstmStep,
    lengths: &[usize],
    (gates, cs): (&[f32], &[f32]),
    gy: &[f32],
    dh_next: &[f32],
    dc_next: &mut [f32],
    dgates: &mut [f32],
) {
    let (t, h, tt) = (p.steps as usize, p.hidden as usize, p.t as usize);
    let zeros = vec![0.0f32; h];
    for b in 0..p.batch as usize {
        let at = b * t + tt;
        let dg = &mut dgates[at * 4 * h..(at + 1) * 4 * h];
        let dc = &mut dc_next[b * h..(b + 1) * h];
        if tt >= lengths[b] {
            dg.fill(0.0);
            dc.fill(0.0);
            continue;
        }
        let prev = if p.has_prev != 0 {
            let pa = b * t + p.prev_t as usize;
            &cs[pa * h..(pa + 1) * h]
        } else {
            &zeros[..]
        };
        cell_backward(
            &gates[at * 4 * h..(at + 1) * 4 * h],
            &cs[at * h..(at + 1) * h],
            prev,
            &gy[at * h..(at + 1) * h],
            &dh_next[b * h..(b + 1) * h],
            dc,
            dg,
        );
    }
}

/// Random inputs for one step: pre-activations (or activations) of the
/// whole batch, states, and lengths that leave some sequences inactive.
struct StepCase {
    dims: LstmDims,
    step: LstmStep,
    lengths: Vec<usize>,
}

fn random_step(rng: &mut Rng) -> StepCase {
    let dims = LstmDims { batch: size_in(rng, 1, 40), steps: size_in(rng, 1, 12), hidden: size_in(rng, 1, 300) };
    let lengths = (0..dims.batch).map(|_| size_in(rng, 0, dims.steps)).collect();
    let s = rng.below(dims.steps);
    let step = dims.step(s, rng.below(2) == 1);
    StepCase { dims, step, lengths }
}

fn check_cell_fwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..5 {
        let StepCase { dims, step, lengths } = random_step(rng);
        let mut gates = randn(rng, 4 * dims.seq_len(), 1.5);
        // Outputs at other steps must stay untouched: poison everywhere.
        let (mut hs, mut cs) = (vec![POISON; dims.seq_len()], vec![POISON; dims.seq_len()]);
        let (mut h_state, mut c_state) = (randn(rng, dims.state_len(), 0.5), randn(rng, dims.state_len(), 1.0));
        let (mut gd, ld) = (gpu.upload(&gates)?, upload_lengths(gpu, &lengths, dims.steps)?);
        let (mut hsd, mut csd) = (gpu.upload(&hs)?, gpu.upload(&cs)?);
        let (mut hd, mut cd) = (gpu.upload(&h_state)?, gpu.upload(&c_state)?);
        step_forward_twin(&step, &lengths, &mut gates, (&mut hs, &mut cs), (&mut h_state, &mut c_state));
        cell_fwd(gpu, &step, dims, &ld, &mut gd, (&mut hsd, &mut csd), LstmState { h: &mut hd, c: &mut cd })?;
        for (got, want) in [(&gd, &gates), (&hsd, &hs), (&csd, &cs), (&hd, &h_state), (&cd, &c_state)] {
            err = worst(err, rel_err(&gpu.download(got)?, want));
        }
    }
    Ok(err)
}

fn check_cell_bwd(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..5 {
        let StepCase { dims, step, lengths } = random_step(rng);
        // Activations in their ranges: sigmoid gates in (0, 1), g in (−1, 1).
        let gates: Vec<f32> = randn(rng, 4 * dims.seq_len(), 1.5).iter().map(|&v| crate::ops::sigmoid(v)).collect();
        let cs = randn(rng, dims.seq_len(), 1.0);
        let gy = randn(rng, dims.seq_len(), 1.0);
        let dh_next = randn(rng, dims.state_len(), 1.0);
        let mut dc_next = randn(rng, dims.state_len(), 1.0);
        let mut dgates = vec![POISON; 4 * dims.seq_len()];
        let ld = upload_lengths(gpu, &lengths, dims.steps)?;
        let (gd, csd, gyd, dhd) = (gpu.upload(&gates)?, gpu.upload(&cs)?, gpu.upload(&gy)?, gpu.upload(&dh_next)?);
        let (mut dcd, mut dgd) = (gpu.upload(&dc_next)?, gpu.upload(&dgates)?);
        step_backward_twin(&step, &lengths, (&gates, &cs), &gy, &dh_next, &mut dc_next, &mut dgates);
        cell_bwd(gpu, &step, dims, &ld, (&gd, &csd), &gyd, &dhd, &mut dcd, &mut dgd)?;
        err = worst(err, rel_err(&gpu.download(&dgd)?, &dgates));
        err = worst(err, rel_err(&gpu.download(&dcd)?, &dc_next));
    }
    Ok(err)
}

/// The inputs of one LSTM direction, row-major as the engine stores them.
struct LayerCase {
    dims: LstmDims,
    n_in: usize,
    x: Vec<f32>,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    bias: Vec<f32>,
    lengths: Vec<usize>,
    reverse: bool,
}

impl LayerCase {
    fn random(rng: &mut Rng) -> Self {
        let dims = LstmDims { batch: size_in(rng, 1, 16), steps: size_in(rng, 1, 10), hidden: size_in(rng, 1, 64) };
        let n_in = size_in(rng, 1, 48);
        let g4 = 4 * dims.hidden;
        let scale = 1.0 / (dims.hidden as f32).sqrt();
        LayerCase {
            x: randn(rng, dims.batch * dims.steps * n_in, 1.0),
            w_ih: randn(rng, g4 * n_in, scale),
            w_hh: randn(rng, g4 * dims.hidden, scale),
            bias: randn(rng, g4, 0.1),
            lengths: (0..dims.batch).map(|_| size_in(rng, 1, dims.steps)).collect(),
            reverse: rng.below(2) == 1,
            dims,
            n_in,
        }
    }

    /// Gate pre-activations from the input: bias + x·W_ihᵀ for every step.
    fn input_projection(&self) -> Vec<f32> {
        let (bt, g4) = (self.dims.batch * self.dims.steps, 4 * self.dims.hidden);
        let mut gates: Vec<f32> = self.bias.iter().copied().cycle().take(bt * g4).collect();
        matmul(
            View::rm(&self.x, bt, self.n_in),
            View::t(&self.w_ih, self.n_in, g4),
            ViewMut::rm(&mut gates, bt, g4),
            true,
        );
        gates
    }

    /// The layer forward on the CPU, step by step through the twins: the
    /// order of operations a GPU path launches. Returns (gates, cs, hs).
    fn forward_by_steps(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let LstmDims { batch: b, steps: t, hidden: h } = self.dims;
        let g4 = 4 * h;
        let mut gates = self.input_projection();
        let (mut hs, mut cs) = (vec![0.0; self.dims.seq_len()], vec![0.0; self.dims.seq_len()]);
        let (mut h_state, mut c_state) = (vec![0.0; b * h], vec![0.0; b * h]);
        for s in 0..t {
            let p = self.dims.step(s, self.reverse);
            if s > 0 {
                let rows = ViewMut { data: &mut gates[p.t as usize * g4..], rows: b, cols: g4, rs: t * g4 };
                matmul(View::rm(&h_state, b, h), View::t(&self.w_hh, h, g4), rows, true);
            }
            step_forward_twin(&p, &self.lengths, &mut gates, (&mut hs, &mut cs), (&mut h_state, &mut c_state));
        }
        (gates, cs, hs)
    }

    /// The same forward on the GPU: per step one strided cuBLAS product
    /// into the gate rows and one cell launch. Returns hs.
    fn forward_on_gpu(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let LstmDims { batch: b, steps: t, hidden: h } = self.dims;
        let g4 = 4 * h;
        let mut gates = gpu.upload(&self.input_projection())?;
        let w_hh = gpu.upload(&self.w_hh)?;
        let lengths = upload_lengths(gpu, &self.lengths, t)?;
        let (mut hs, mut cs) = (gpu.filled(self.dims.seq_len(), POISON)?, gpu.filled(self.dims.seq_len(), POISON)?);
        let (mut h_state, mut c_state) = (gpu.filled(b * h, 0.0f32)?, gpu.filled(b * h, 0.0f32)?);
        for s in 0..t {
            let p = self.dims.step(s, self.reverse);
            if s > 0 {
                let rows = MatMut { buf: &mut gates, offset: p.t as usize * g4, rows: b, cols: g4, ld: t * g4 };
                gemm(gpu, Mat::rm(&h_state, b, h), Mat::t(&w_hh, h, g4), rows, true)?;
            }
            let state = LstmState { h: &mut h_state, c: &mut c_state };
            cell_fwd(gpu, &p, self.dims, &lengths, &mut gates, (&mut hs, &mut cs), state)?;
        }
        gpu.download(&hs)
    }
}

fn check_layer(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..4 {
        let case = LayerCase::random(rng);
        let (_, _, want) = case.forward_by_steps();
        err = worst(err, rel_err(&case.forward_on_gpu(gpu)?, &want));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::kernel(k::lstm::LSTM_CELL_FWD_F32, "ops::lstm::cell_forward over the batch", MATH, check_cell_fwd),
        Check::kernel(k::lstm::LSTM_CELL_BWD_F32, "ops::lstm::cell_backward over the batch", MATH, check_cell_bwd),
        Check {
            subject: Subject::Library("lstm_layer_forward (cuBLAS + lstm_cell_fwd_f32)"),
            twin: "ops::lstm forward, step by step",
            threshold: CHAIN,
            run: Box::new(check_layer),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::LstmWeights;
    use crate::{Tape, Tensor};

    /// The backward from the step twins, as a GPU path would sequence it:
    /// (dX, dW_ih, dW_hh, dBias).
    fn backward_by_steps(case: &LayerCase, gates: &[f32], cs: &[f32], hs: &[f32], gy: &[f32]) -> [Vec<f32>; 4] {
        let LstmDims { batch: b, steps: t, hidden: h } = case.dims;
        let (g4, n_in) = (4 * h, case.n_in);
        let mut dgates = vec![0.0f32; b * t * g4];
        let (mut dh_next, mut dc_next) = (vec![0.0f32; b * h], vec![0.0f32; b * h]);
        for s in (0..t).rev() {
            let p = case.dims.step(s, case.reverse);
            step_backward_twin(&p, &case.lengths, (gates, cs), gy, &dh_next, &mut dc_next, &mut dgates);
            if s > 0 {
                let rows = View { data: &dgates[p.t as usize * g4..], rows: b, cols: g4, rs: t * g4, cs: 1 };
                matmul(rows, View::rm(&case.w_hh, g4, h), ViewMut::rm(&mut dh_next, b, h), false);
            }
        }
        let mut dx = vec![0.0f32; b * t * n_in];
        matmul(View::rm(&dgates, b * t, g4), View::rm(&case.w_ih, g4, n_in), ViewMut::rm(&mut dx, b * t, n_in), false);
        let mut dw_ih = vec![0.0f32; g4 * n_in];
        matmul(View::t(&dgates, g4, b * t), View::rm(&case.x, b * t, n_in), ViewMut::rm(&mut dw_ih, g4, n_in), false);
        // h at the previously processed step, zero before the first.
        let mut h_prev = vec![0.0f32; b * t * h];
        for bi in 0..b {
            for s in 1..t {
                let p = case.dims.step(s, case.reverse);
                let (at, from) = (bi * t + p.t as usize, bi * t + p.prev_t as usize);
                h_prev[at * h..(at + 1) * h].copy_from_slice(&hs[from * h..(from + 1) * h]);
            }
        }
        let mut dw_hh = vec![0.0f32; g4 * h];
        matmul(View::t(&dgates, g4, b * t), View::rm(&h_prev, b * t, h), ViewMut::rm(&mut dw_hh, g4, h), false);
        [dx, dw_ih, dw_hh, crate::ops::cpu::col_sums(&dgates, g4)]
    }

    #[test]
    fn step_twins_rebuild_the_lstm_layer_op() {
        let mut rng = Rng::new(21);
        for _ in 0..12 {
            let case = LayerCase::random(&mut rng);
            let LstmDims { batch: b, steps: t, hidden: h } = case.dims;
            let g4 = 4 * h;
            let tape = Tape::new();
            let x = tape.leaf(Tensor::new(&[b, t, case.n_in], case.x.clone()).unwrap());
            let w = LstmWeights {
                w_ih: tape.leaf(Tensor::new(&[g4, case.n_in], case.w_ih.clone()).unwrap()),
                w_hh: tape.leaf(Tensor::new(&[g4, h], case.w_hh.clone()).unwrap()),
                b_ih: tape.leaf(Tensor::new(&[g4], case.bias.clone()).unwrap()),
                b_hh: tape.leaf(Tensor::zeros(&[g4])),
            };
            let y = tape.lstm_layer(x, w, &case.lengths, case.reverse).unwrap();
            let gy = randn(&mut rng, b * t * h, 1.0);
            let r = tape.constant(Tensor::new(&[b, t, h], gy.clone()).unwrap());
            let loss = tape.sum(tape.mul(y, r).unwrap()).unwrap();
            let want_y = tape.value(y).unwrap();
            let grads = tape.backward(loss).unwrap();

            let (gates, cs, hs) = case.forward_by_steps();
            assert!(rel_err(&hs, want_y.data()) < 1e-6, "forward {:?}", case.dims);
            let got = backward_by_steps(&case, &gates, &cs, &hs, &gy);
            for (name, var, got) in
                [("x", x, &got[0]), ("w_ih", w.w_ih, &got[1]), ("w_hh", w.w_hh, &got[2]), ("bias", w.b_ih, &got[3])]
            {
                let want = grads.get(var).unwrap();
                let e = rel_err(got, want.data());
                assert!(e < 1e-5, "d{name}: {e} for {:?} reverse={}", case.dims, case.reverse);
            }
        }
    }

    #[test]
    fn step_parameters_follow_the_direction() {
        let d = LstmDims { batch: 2, steps: 5, hidden: 3 };
        assert_eq!((d.step(0, false).t, d.step(0, false).has_prev), (0, 0));
        assert_eq!((d.step(2, false).t, d.step(2, false).prev_t, d.step(2, false).has_prev), (2, 1, 1));
        assert_eq!((d.step(0, true).t, d.step(1, true).t, d.step(1, true).prev_t), (4, 3, 4));
    }
}
