//! GEMM throughput at the shapes the models use, against the machine's
//! ceiling (`2·m·n·k / time`).

use std::time::Instant;

use serde::Serialize;

use crate::ops::gemm::{matmul, View, ViewMut};
use crate::ops::packed_gemm::{self, PackedRhs};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Square sizes for the ceiling; then W1's LSTM step (32×500·500×2000), its
/// input projection (1280×525·525×2000) and highway layer (1280×525·525×525).
pub const SHAPES: [(usize, usize, usize); 6] =
    [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (32, 500, 2000), (1280, 525, 2000), (1280, 525, 525)];

#[derive(Clone, Debug, Serialize)]
pub struct GemmReport {
    /// `gemm` (the general kernel) or `packed` (pre-packed right operand).
    pub kind: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub median_s: f64,
    pub gflops: f64,
}

/// Times `c = a·b` for one shape: the median of `iters` runs after warm-up.
/// With `packed`, `b` is packed once beforehand (the LSTM's recurrent
/// product) and only the product is timed.
pub fn run(m: usize, k: usize, n: usize, iters: usize, packed: bool) -> GemmReport {
    let mut rng = Rng::new(1);
    let a = Tensor::randn(&[m, k], 1.0, &mut rng);
    let b = Tensor::randn(&[k, n], 1.0, &mut rng);
    let mut c = vec![0.0f32; m * n];
    let pb = packed.then(|| PackedRhs::plain(b.data(), k, n));
    let mut once = || match &pb {
        Some(pb) => packed_gemm::matmul(View::rm(a.data(), m, k), pb, ViewMut::rm(&mut c, m, n), false),
        None => matmul(View::rm(a.data(), m, k), View::rm(b.data(), k, n), ViewMut::rm(&mut c, m, n), false),
    };
    for _ in 0..3 {
        once();
    }
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        let t0 = Instant::now();
        once();
        times.push(t0.elapsed().as_secs_f64());
    }
    let median_s = super::median(times);
    GemmReport {
        kind: if packed { "packed" } else { "gemm" },
        m,
        k,
        n,
        median_s,
        gflops: 2.0 * (m * n * k) as f64 / median_s / 1e9,
    }
}
