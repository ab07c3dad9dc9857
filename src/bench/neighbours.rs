//! W4: iAdvT's nearest-neighbour directions for a batch of positions
//! (12,800 positions, V 50,000, D 256, K 10), on the CPU or a GPU.
//!
//! The data is random: a normal table, positions drawn uniformly from its
//! word rows plus small noise (so that a position is near, not on, its own
//! row, as after a few training steps), normal gradients, and examples of
//! [`EXAMPLE_LEN`] positions for the per-example α norm.
//! `benches/pytorch/w4_neighbours.py` builds the same kind of data.

use std::time::Instant;

use serde::Serialize;

use crate::cuda::ops::neighbours::{iadvt, DeviceInputs, DeviceNeighbours};
use crate::cuda::Gpu;
use crate::error::{Error, Result};
use crate::ops::neighbours::{self, AlphaScope, IadvtConfig, Neighbours, Table, FIRST_WORD};
use crate::rng::Rng;

/// Positions per example (32 IMDB-length documents make W4's 12,800).
pub const EXAMPLE_LEN: usize = 400;
/// Standard deviation of the noise added to a position's own row.
pub const NOISE: f32 = 0.01;

/// One W4 problem, ready to time.
pub struct Workload {
    pub table: Vec<f32>,
    pub vocab: usize,
    pub dim: usize,
    pub ids: Vec<usize>,
    pub w: Vec<f32>,
    pub g: Vec<f32>,
    pub lengths: Vec<usize>,
    pub cfg: IadvtConfig,
}

impl Workload {
    pub fn new(positions: usize, vocab: usize, dim: usize, k: usize, seed: u64) -> Result<Self> {
        // Fail before generating data: every position needs K candidates.
        if dim == 0 || k == 0 || neighbours::candidates(vocab, FIRST_WORD) < k {
            return Err(Error::invalid(
                "bench nn",
                format!("need D ≥ 1, K ≥ 1 and at least K + 3 vocabulary rows (D {dim}, K {k}, V {vocab})"),
            ));
        }
        let mut rng = Rng::new(seed);
        let table: Vec<f32> = (0..vocab * dim).map(|_| rng.normal()).collect();
        let words = vocab.saturating_sub(FIRST_WORD).max(1);
        let ids: Vec<usize> = (0..positions).map(|_| FIRST_WORD + rng.below(words)).collect();
        let mut w = Vec::with_capacity(positions * dim);
        for &id in &ids {
            w.extend(table[id * dim..(id + 1) * dim].iter().map(|&x| x + NOISE * rng.normal()));
        }
        let g: Vec<f32> = (0..positions * dim).map(|_| rng.normal()).collect();
        let mut lengths = vec![EXAMPLE_LEN; positions / EXAMPLE_LEN];
        if !positions.is_multiple_of(EXAMPLE_LEN) {
            lengths.push(positions % EXAMPLE_LEN);
        }
        let cfg = IadvtConfig { k, ..IadvtConfig::default() };
        Ok(Workload { table, vocab, dim, ids, w, g, lengths, cfg })
    }

    pub fn table(&self) -> Table<'_> {
        Table { data: &self.table, vocab: self.vocab, dim: self.dim }
    }

    pub fn positions(&self) -> usize {
        self.ids.len()
    }

    /// The whole CPU computation (search, distances, ĝ, α, r).
    pub fn run_cpu(&self) -> Result<Neighbours> {
        neighbours::iadvt(self.table(), &self.ids, &self.w, &self.g, &self.lengths, &self.cfg)
    }

    /// Multiply-adds of the search: `2·P·V·D` flops, the floor of the work.
    pub fn flops(&self) -> f64 {
        2.0 * self.positions() as f64 * self.vocab as f64 * self.dim as f64
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct NeighboursReport {
    pub workload: &'static str,
    pub backend: &'static str,
    /// The GPU's name, or null on the CPU.
    pub device: Option<String>,
    pub threads: usize,
    pub positions: usize,
    pub vocab: usize,
    pub dim: usize,
    pub k: usize,
    pub scope: AlphaScope,
    pub iters: usize,
    /// Median milliseconds for the whole computation.
    pub ms: f64,
    /// `2·P·V·D / time`: the search's GEMM rate.
    pub gflops: f64,
}

/// Times `iters` runs after `warmup` untimed ones on the CPU, or on `gpu`
/// (inputs uploaded once; each timed run ends with a synchronisation).
pub fn run(wl: &Workload, warmup: usize, iters: usize, gpu: Option<&Gpu>) -> Result<NeighboursReport> {
    let mut once: Box<dyn FnMut() -> Result<()>> = match gpu {
        None => Box::new(|| wl.run_cpu().map(|n| drop(std::hint::black_box(n)))),
        Some(gpu) => {
            let x = DeviceInputs::upload(gpu, wl.table(), (&wl.ids, &wl.w, &wl.g), &wl.lengths, &wl.cfg)?;
            let mut out = DeviceNeighbours::new(gpu, &x.dims)?;
            Box::new(move || {
                iadvt(gpu, &x, &mut out)?;
                gpu.synchronize()
            })
        }
    };
    for _ in 0..warmup {
        once()?;
    }
    let mut times = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let t0 = Instant::now();
        once()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    let s = super::median(times);
    Ok(NeighboursReport {
        workload: "W4",
        backend: if gpu.is_some() { "cuda" } else { "cpu" },
        device: gpu.map(|g| g.info().name.clone()),
        threads: rayon::current_num_threads(),
        positions: wl.positions(),
        vocab: wl.vocab,
        dim: wl.dim,
        k: wl.cfg.k,
        scope: wl.cfg.scope,
        iters: iters.max(1),
        ms: s * 1e3,
        gflops: wl.flops() / s / 1e9,
    })
}
