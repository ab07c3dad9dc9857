//! Inverted dropout whose mask is a pure function of (seed, element index),
//! regenerated in backward instead of stored; a CUDA kernel can reproduce it
//! bit for bit.

use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Whether element `i` is kept, with probability `1 − p`.
#[inline]
pub fn keep(seed: u64, i: usize, p: f32) -> bool {
    let mut z = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 40) as f32 * (1.0 / (1u64 << 24) as f32)) >= p
}

/// `src` with the mask of (seed, p) applied and kept values scaled by
/// `1/(1 − p)`; kernels/dropout.cu reproduces it bit for bit.
pub(crate) fn apply(src: &[f32], seed: u64, p: f32) -> Vec<f32> {
    let scale = 1.0 / (1.0 - p);
    let mut out = vec![0.0f32; src.len()];
    cpu::for_rows(&mut out, cpu::CHUNK, |chunk, o| {
        let base = chunk * cpu::CHUNK;
        for (j, v) in o.iter_mut().enumerate() {
            *v = if keep(seed, base + j, p) { src[base + j] * scale } else { 0.0 };
        }
    });
    out
}

impl Tape {
    /// Zeroes each element with probability `p` and scales the rest by
    /// `1/(1 − p)`. Callers apply it only in training.
    pub fn dropout(&self, x: Var, p: f32, seed: u64) -> Result<Var> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid("dropout", format!("probability {p} must be in [0, 1)")));
        }
        if p == 0.0 {
            return Ok(x);
        }
        let xv = self.value(x)?;
        let y = Tensor::from_parts(xv.shape().to_vec(), apply(xv.data(), seed, p));
        self.record("dropout", y, &[x], move |g, sink| {
            sink.add(x, Tensor::from_parts(g.shape().to_vec(), apply(g.data(), seed, p)))
        })
    }
}
