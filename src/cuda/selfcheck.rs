//! The GPU self-check: every kernel against its CPU twin, on fresh random
//! inputs, with outputs poisoned first (../.library/device/METHOD.md).
//!
//! A check returns the worst relative error ‖gpu − cpu‖ / ‖cpu‖ over its
//! trials and passes when that is at most its threshold; NaN never passes.
//! Elements a kernel must leave alone keep the poison on both sides and must
//! come back bit for bit, so an unwritten output and a stray write both fail.

use serde::Serialize;

use super::gpu::Gpu;
use super::registry::{self, KernelRef};
use crate::error::Result;
use crate::rng::Rng;

/// Pure data movement (copies, gathers, masks): anything but exact is a bug,
/// the slack only forgives a reordered sum.
pub const MOVE: f64 = 1e-5;
/// f32 arithmetic with transcendental functions or reordered sums.
pub const MATH: f64 = 1e-4;
/// Longer chains (optimiser steps, cuBLAS products).
pub const CHAIN: f64 = 1e-3;

/// A quiet NaN with a recognisable payload: outputs start as this.
pub const POISON: f32 = f32::from_bits(0x7FC0_DEAD);
pub const POISON_U32: u32 = 0xDEAD_BEEF;

pub type RunFn = Box<dyn Fn(&Gpu, &mut Rng) -> Result<f64> + Send + Sync>;

/// What a check compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Kernel(KernelRef),
    /// A library routine behind a launcher (cuBLAS).
    Library(&'static str),
}

pub struct Check {
    pub subject: Subject,
    /// The CPU function it is compared with.
    pub twin: &'static str,
    pub threshold: f64,
    pub run: RunFn,
}

impl Check {
    pub fn kernel(
        kernel: KernelRef,
        twin: &'static str,
        threshold: f64,
        run: impl Fn(&Gpu, &mut Rng) -> Result<f64> + Send + Sync + 'static,
    ) -> Self {
        Check { subject: Subject::Kernel(kernel), twin, threshold, run: Box::new(run) }
    }

    pub fn name(&self) -> &'static str {
        match self.subject {
            Subject::Kernel(k) => k.name,
            Subject::Library(n) => n,
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub name: &'static str,
    /// `kernels/<stem>.cu`, or null for a library routine.
    pub file: Option<String>,
    pub twin: &'static str,
    pub threshold: f64,
    /// Null when the check could not run (see `error`) or produced NaN.
    pub max_rel_err: Option<f64>,
    pub passed: bool,
    pub error: Option<String>,
}

/// The checks of the generic kernels under `cuda::ops` and the library
/// routines. Kernels whose launchers live with their callers (HotFlip's
/// scorer in `attack::score::cuda`) add theirs in `crate::kernel_checks`,
/// which is what `hotflip device` and the tests run.
pub fn ops_checks() -> Vec<Check> {
    super::ops::checks()
}

thread_local! {
    static SMALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the checks on this thread draw the emulator's small sizes.
pub fn small_sizes() -> bool {
    SMALL.with(|s| s.get())
}

/// Runs `f` with the emulator's small sizes (or the GPU's).
pub fn with_small_sizes<T>(on: bool, f: impl FnOnce() -> T) -> T {
    let before = SMALL.with(|s| s.replace(on));
    let out = f();
    SMALL.with(|s| s.set(before));
    out
}

/// Runs every check with inputs drawn from `seed`, synchronising after each
/// launch so a fault is pinned on its kernel. On the emulated device the
/// checks draw small sizes ([`size_in`]).
pub fn run_all(gpu: &Gpu, seed: u64, checks: &[Check]) -> Vec<Outcome> {
    run_checks(gpu, seed, checks)
}

/// Runs `checks` (a subset of `crate::kernel_checks::all_checks`, or all of them).
pub fn run_checks(gpu: &Gpu, seed: u64, checks: &[Check]) -> Vec<Outcome> {
    gpu.set_sync_launches(true);
    let outcomes = checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut rng = Rng::derive(seed, i as u64);
            let (max_rel_err, error) = match with_small_sizes(gpu.is_emulated(), || (c.run)(gpu, &mut rng)) {
                Ok(e) => (Some(e), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let passed = max_rel_err.is_some_and(|e| passes(e, c.threshold));
            Outcome {
                name: c.name(),
                file: match c.subject {
                    Subject::Kernel(k) => registry::file(k.file).map(|f| f.path()),
                    Subject::Library(_) => None,
                },
                twin: c.twin,
                threshold: c.threshold,
                max_rel_err: max_rel_err.filter(|e| !e.is_nan()),
                passed,
                error: error.or_else(|| max_rel_err.filter(|e| e.is_nan()).map(|_| "NaN in the output".to_string())),
            }
        })
        .collect();
    gpu.set_sync_launches(false);
    outcomes
}

/// Whether an error is within its threshold; NaN never is.
pub fn passes(err: f64, threshold: f64) -> bool {
    err <= threshold
}

/// ‖out − reference‖ / ‖reference‖ in f64 (the absolute norm when the
/// reference is all zeros). Where the reference is NaN (poison a kernel must
/// not touch) the output must hold the same bits; otherwise, or if the
/// lengths differ, the result is NaN or infinite, which fails any threshold.
pub fn rel_err(out: &[f32], reference: &[f32]) -> f64 {
    if out.len() != reference.len() {
        return f64::INFINITY;
    }
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&o, &r) in out.iter().zip(reference) {
        if r.is_nan() {
            if o.to_bits() != r.to_bits() {
                return f64::NAN;
            }
            continue;
        }
        let d = o as f64 - r as f64;
        diff += d * d;
        norm += (r as f64) * (r as f64);
    }
    if diff.is_nan() {
        return f64::NAN;
    }
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

/// 0 if the index arrays agree exactly, else infinity.
pub fn index_err(out: &[u32], reference: &[u32]) -> f64 {
    if out == reference {
        0.0
    } else {
        f64::INFINITY
    }
}

/// The larger error, NaN if either is NaN (`f64::max` would drop it).
pub fn worst(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `n` normal values with standard deviation `std`.
pub fn randn(rng: &mut Rng, n: usize, std: f32) -> Vec<f32> {
    (0..n).map(|_| std * rng.normal()).collect()
}

/// `n` values uniform in [lo, hi).
pub fn uniform(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform_range(lo, hi)).collect()
}

/// Element counts for one check's trials: a single element, a few blocks'
/// worth with a ragged end, and a few hundred blocks.
pub fn trial_sizes(rng: &mut Rng) -> [usize; 3] {
    [1, size_in(rng, 2, 3000), size_in(rng, 50_000, 300_000)]
}

/// Largest size [`size_in`] draws for the emulator (whose every GPU
/// thread is a fiber): ragged multi-block launches, seconds in all.
pub const SMALL_SIZE: usize = 300;

/// A size in [lo, hi]; with [`small_sizes`], in [lo', max(lo', min(⌈hi/4⌉, 300))]
/// where lo' = min(lo, 300): every range shrinks, a product of several most.
pub fn size_in(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    let (lo, hi) = if small_sizes() {
        let lo = lo.min(SMALL_SIZE);
        (lo, lo.max(hi.div_ceil(4).min(SMALL_SIZE)))
    } else {
        (lo, hi)
    };
    lo + rng.below(hi - lo + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_rules() {
        assert_eq!(rel_err(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((rel_err(&[3.0, 4.0], &[0.0, 0.0]) - 5.0).abs() < 1e-12);
        assert!((rel_err(&[1.0, 0.0], &[0.0, 1.0]) - 2f64.sqrt()).abs() < 1e-12);
        // NaN never passes; untouched poison must keep its bits.
        assert!(rel_err(&[f32::NAN], &[1.0]).is_nan());
        assert_eq!(rel_err(&[POISON, 1.0], &[POISON, 1.0]), 0.0);
        assert!(rel_err(&[f32::NAN, 1.0], &[POISON, 1.0]).is_nan());
        assert!(rel_err(&[0.0, 1.0], &[POISON, 1.0]).is_nan());
        assert!(rel_err(&[1.0], &[1.0, 2.0]).is_infinite());
        assert_eq!(index_err(&[1, 2], &[1, 2]), 0.0);
        assert!(index_err(&[1, 3], &[1, 2]).is_infinite());
        assert!(worst(0.1, f64::NAN).is_nan() && worst(f64::NAN, 0.1).is_nan());
        assert_eq!(worst(0.1, 0.2), 0.2);
        assert!(!passes(f64::NAN, MATH) && !passes(f64::INFINITY, MATH) && passes(0.0, MOVE));
    }
}
