//! The self-checks of kernels/neighbours.cu against the CPU twins in
//! `ops::neighbours`, and the random problems they draw (public, so that
//! tests run the twins on the very same problems without a GPU).
//!
//! The search is checked two ways. On "grid" problems every value is a
//! multiple of 1/4 in [−1.25, 1.25], so every product, sum and norm of the
//! search is exact in f32 whatever the order: the ranking is then a
//! function of the inputs alone and the GPU must pick exactly the CPU's ids,
//! ties (many, from duplicate rows) included. On normal data the two sum in
//! different orders, so near-ties may swap: there only the ranking values
//! are compared, which a swap changes by rounding alone. Each later kernel
//! gets the CPU's output of the kernel before it, so every check isolates
//! one kernel.

use super::{alpha, dir_norms, merge, perturb, plan, project, sq_norms, topk, upload_groups, upload_ids};
use super::{split_ranges, MAX_K, NO_ID};
use crate::cuda::gpu::{to_u32, Gpu};
use crate::cuda::params::NnDims;
use crate::cuda::registry::k;
use crate::cuda::selfcheck::{
    index_err, randn, rel_err, size_in, small_sizes, worst, Check, MATH, MOVE, POISON, POISON_U32,
};
use crate::error::Result;
use crate::ops::neighbours::{self as nn, AlphaScope, Partial, Table, FIRST_WORD};
use crate::rng::Rng;

/// A neighbour problem on the host: table `[V, D]`, positions `ids [P]`,
/// `w [P, D]`, gradients `g [P, D]`, and K.
#[derive(Clone, Debug)]
pub struct Problem {
    pub vocab: usize,
    pub dim: usize,
    pub k: usize,
    pub table: Vec<f32>,
    pub ids: Vec<usize>,
    pub w: Vec<f32>,
    pub g: Vec<f32>,
}

impl Problem {
    pub fn table(&self) -> Table<'_> {
        Table { data: &self.table, vocab: self.vocab, dim: self.dim }
    }

    pub fn positions(&self) -> usize {
        self.ids.len()
    }

    fn row(&self, v: usize) -> &[f32] {
        &self.table[v * self.dim..(v + 1) * self.dim]
    }

    /// Copies row `from` over row `to` (a duplicate word vector).
    fn duplicate(&mut self, from: usize, to: usize) {
        let d = self.dim;
        let src = self.table[from * d..(from + 1) * d].to_vec();
        self.table[to * d..(to + 1) * d].copy_from_slice(&src);
    }
}

/// Sizes for a check: P, V, D and a K that every position can fill.
pub fn random_sizes(rng: &mut Rng, max_p: usize, max_v: usize, max_d: usize) -> (usize, usize, usize, usize) {
    let v = size_in(rng, FIRST_WORD + 2, max_v);
    let k = size_in(rng, 1, MAX_K.min(v - FIRST_WORD - 1));
    (size_in(rng, 1, max_p), v, size_in(rng, 1, max_d), k)
}

/// Quarter-grid data (see the module doc): exact search arithmetic, many
/// ties. A tenth of the rows duplicate another row; ids include PAD and UNK;
/// positions sit on their own row, one step of 1/4 off it, or exactly on
/// another row (a zero direction when that row is chosen).
pub fn grid_problem(rng: &mut Rng, (p, vocab, dim, k): (usize, usize, usize, usize)) -> Problem {
    let table = (0..vocab * dim).map(|_| (rng.below(9) as f32 - 4.0) / 4.0).collect();
    let mut prob = Problem { vocab, dim, k, table, ids: Vec::new(), w: Vec::new(), g: Vec::new() };
    for v in 1..vocab {
        if rng.below(10) == 0 {
            prob.duplicate(rng.below(v), v);
        }
    }
    for _ in 0..p {
        let id = rng.below(vocab);
        let mut wt = prob.row(id).to_vec();
        match rng.below(4) {
            0 | 1 => {}
            2 => wt[rng.below(dim)] += if rng.below(2) == 0 { 0.25 } else { -0.25 },
            _ => wt = prob.row(rng.below(vocab)).to_vec(),
        }
        prob.ids.push(id);
        prob.w.extend(wt);
    }
    prob.g = randn(rng, p * dim, 1.0);
    prob
}

/// Normal data as in training: a normal table with a twentieth of the rows
/// duplicated, positions near their own word, a few exactly on another row.
pub fn normal_problem(rng: &mut Rng, (p, vocab, dim, k): (usize, usize, usize, usize)) -> Problem {
    let table = randn(rng, vocab * dim, 1.0);
    let mut prob = Problem { vocab, dim, k, table, ids: Vec::new(), w: Vec::new(), g: Vec::new() };
    for v in 1..vocab {
        if rng.below(20) == 0 {
            prob.duplicate(rng.below(v), v);
        }
    }
    for _ in 0..p {
        let id = FIRST_WORD + rng.below(vocab - FIRST_WORD);
        let wt: Vec<f32> = if rng.below(8) == 0 {
            prob.row(rng.below(vocab)).to_vec()
        } else {
            prob.row(id).iter().map(|&x| x + 0.1 * rng.normal()).collect()
        };
        prob.ids.push(id);
        prob.w.extend(wt);
    }
    prob.g = randn(rng, p * dim, 1.0);
    prob
}

/// The partial lists `[S, P, K]` the search kernel must produce for a
/// plan: the CPU search over each split's range, in split order.
pub fn twin_parts(prob: &Problem, norms: &[f32], dims: &NnDims) -> Result<Vec<Partial>> {
    split_ranges(dims)
        .into_iter()
        .map(|r| nn::search_range(prob.table(), norms, &prob.ids, &prob.w, prob.k, r))
        .collect()
}

/// Neighbour ids for the per-pair kernels: random rows, and for a position
/// sitting exactly on a row, that row in its first slot (a zero direction).
pub fn random_neighbours(rng: &mut Rng, prob: &Problem) -> Vec<usize> {
    let (d, k) = (prob.dim, prob.k);
    let mut nbr: Vec<usize> = (0..prob.positions() * k).map(|_| rng.below(prob.vocab)).collect();
    for t in 0..prob.positions() {
        if let Some(v) = (0..prob.vocab).find(|&v| prob.row(v) == &prob.w[t * d..(t + 1) * d]) {
            nbr[t * k] = v;
        }
    }
    nbr
}

fn concat(parts: &[Partial]) -> (Vec<u32>, Vec<f32>) {
    (
        parts.iter().flat_map(|q| q.ids.iter().copied()).collect(),
        parts.iter().flat_map(|q| q.s.iter().copied()).collect(),
    )
}

/// [`rel_err`] where +∞ (an unfilled slot) must match exactly and is then
/// left out of the norms.
pub fn rel_err_inf(out: &[f32], reference: &[f32]) -> f64 {
    if out.len() != reference.len() {
        return f64::INFINITY;
    }
    let (mut o, mut r) = (Vec::with_capacity(out.len()), Vec::with_capacity(out.len()));
    for (&x, &y) in out.iter().zip(reference) {
        if y.is_infinite() || x.is_infinite() {
            if x.to_bits() != y.to_bits() {
                return f64::INFINITY;
            }
            continue;
        }
        o.push(x);
        r.push(y);
    }
    rel_err(&o, &r)
}

/// The neighbour ids as the kernels take them, with a fifth of the slots
/// (at least one) [`NO_ID`] when `holes`: the unfilled slots NaN or ∞
/// inputs leave, which the per-pair kernels must skip (an infinite
/// distance, a zero direction) rather than read row 2^32 − 1.
fn device_ids(rng: &mut Rng, nbr: &[usize], holes: bool) -> Result<(Vec<u32>, Vec<bool>)> {
    let mut ids = to_u32("neighbours", "id", nbr)?;
    let mut hole = vec![false; ids.len()];
    if holes && !ids.is_empty() {
        let first = rng.below(ids.len());
        for (i, (id, h)) in ids.iter_mut().zip(hole.iter_mut()).enumerate() {
            if i == first || rng.below(5) == 0 {
                *id = NO_ID;
                *h = true;
            }
        }
    }
    Ok((ids, hole))
}

fn narrow(xs: &[f64]) -> Vec<f32> {
    xs.iter().map(|&x| x as f32).collect()
}

fn check_sq_norms(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for _ in 0..3 {
        let (_, v, d, _) = random_sizes(rng, 1, 5000, 300);
        let prob = normal_problem(rng, (1, v, d, 1));
        let dims = plan(1, v, d, 1)?;
        let want = nn::sq_norms(prob.table());
        let td = gpu.upload(&prob.table)?;
        let mut od = gpu.filled(v, POISON)?;
        sq_norms(gpu, &dims, &td, &mut od)?;
        err = worst(err, rel_err(&gpu.download(&od)?, &want));
    }
    Ok(err)
}

fn check_topk(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    let trials = if small_sizes() {
        // The emulator: one block row of positions, several vocabulary
        // splits (more than 4 tiles of words), a few depth stages.
        let mut sizes = |grid| {
            let (p, v, d) = (1 + rng.below(64), 520 + rng.below(200), 1 + rng.below(20));
            (grid, (p, v, d, 1 + rng.below(8)))
        };
        [sizes(true), sizes(true), sizes(false)]
    } else {
        [
            (true, random_sizes(rng, 200, 3000, 40)),
            (true, random_sizes(rng, 700, 6000, 300)),
            (false, random_sizes(rng, 1000, 20_000, 300)),
        ]
    };
    for (grid, sizes) in trials {
        let prob = if grid { grid_problem(rng, sizes) } else { normal_problem(rng, sizes) };
        let (p, v, d, k) = sizes;
        let dims = plan(p, v, d, k)?;
        let norms = nn::sq_norms(prob.table());
        let (want_ids, want_s) = concat(&twin_parts(&prob, &norms, &dims)?);
        let (td, nd, wd) = (gpu.upload(&prob.table)?, gpu.upload(&norms)?, gpu.upload(&prob.w)?);
        let idd = upload_ids(gpu, &prob.ids, v)?;
        let (mut sd, mut id_out) = (gpu.filled(want_s.len(), POISON)?, gpu.filled(want_s.len(), POISON_U32)?);
        topk(gpu, &dims, &td, &nd, &wd, &idd, &mut sd, &mut id_out)?;
        let (got_ids, got_s) = (gpu.download(&id_out)?, gpu.download(&sd)?);
        err = worst(err, rel_err_inf(&got_s, &want_s));
        if grid {
            err = worst(err, index_err(&got_ids, &want_ids));
        } else if got_ids.iter().zip(&want_ids).any(|(&a, &b)| (a == NO_ID) != (b == NO_ID) || a >= v as u32) {
            err = f64::INFINITY;
        }
    }
    Ok(err)
}

fn check_merge(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for max_v in [500, 8000] {
        let sizes = random_sizes(rng, 300, max_v, 24);
        let prob = grid_problem(rng, sizes);
        let (p, v, d, k) = sizes;
        let dims = plan(p, v, d, k)?;
        let mut parts = twin_parts(&prob, &nn::sq_norms(prob.table()), &dims)?;
        // Lists cut short (NO_ID, +∞ from some slot on), as NaN or ∞
        // inputs leave them: the kernel must skip those slots.
        for q in parts.iter_mut() {
            for t in 0..p {
                if rng.below(3) == 0 {
                    let from = rng.below(k);
                    q.ids[t * k + from..(t + 1) * k].fill(NO_ID);
                    q.s[t * k + from..(t + 1) * k].fill(f32::INFINITY);
                }
            }
        }
        let want = nn::search::merge(&parts, p, k)?;
        let (ids, s) = concat(&parts);
        let (sd, idd) = (gpu.upload(&s)?, gpu.upload(&ids)?);
        let (mut sel, mut nbr) = (gpu.filled(p * k, POISON)?, gpu.filled(p * k, POISON_U32)?);
        merge(gpu, &dims, &sd, &idd, &mut sel, &mut nbr)?;
        err = worst(err, index_err(&gpu.download(&nbr)?, &want.ids));
        err = worst(err, rel_err_inf(&gpu.download(&sel)?, &want.s));
    }
    Ok(err)
}

/// The per-pair kernels' inputs: a normal problem, neighbours and the CPU's
/// inverse norms, on both sides.
struct PairInputs {
    prob: Problem,
    dims: NnDims,
    nbr: Vec<usize>,
    inv: Vec<f64>,
}

fn pair_inputs(rng: &mut Rng) -> Result<PairInputs> {
    let sizes = random_sizes(rng, 400, 3000, 300);
    let prob = normal_problem(rng, sizes);
    let nbr = random_neighbours(rng, &prob);
    let (_, inv) = nn::dir_norms(prob.table(), &prob.w, &nbr, prob.k);
    Ok(PairInputs { dims: plan(sizes.0, sizes.1, sizes.2, sizes.3)?, prob, nbr, inv })
}

fn check_dir_norms(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..3 {
        let x = pair_inputs(rng)?;
        let (mut want_dist, mut want_inv) = nn::dir_norms(x.prob.table(), &x.prob.w, &x.nbr, x.prob.k);
        let (ids, hole) = device_ids(rng, &x.nbr, trial == 2)?;
        for (i, _) in hole.iter().enumerate().filter(|(_, &h)| h) {
            (want_dist[i], want_inv[i]) = (f32::INFINITY, 0.0);
        }
        let (td, wd) = (gpu.upload(&x.prob.table)?, gpu.upload(&x.prob.w)?);
        let nd = gpu.upload(&ids)?;
        let (mut dist, mut inv) = (gpu.filled(x.nbr.len(), POISON)?, gpu.filled(x.nbr.len(), f64::NAN)?);
        dir_norms(gpu, &x.dims, (&td, &wd), &nd, &mut dist, &mut inv)?;
        err = worst(err, rel_err_inf(&gpu.download(&dist)?, &want_dist));
        err = worst(err, rel_err(&narrow(&gpu.download(&inv)?), &narrow(&want_inv)));
    }
    Ok(err)
}

fn check_project(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..3 {
        let x = pair_inputs(rng)?;
        let mut want = nn::project(x.prob.table(), &x.prob.w, &x.nbr, &x.inv, &x.prob.g, x.prob.k);
        let (ids, hole) = device_ids(rng, &x.nbr, trial == 2)?;
        for (w, _) in want.iter_mut().zip(&hole).filter(|(_, &h)| h) {
            *w = 0.0;
        }
        let (td, wd, gd) = (gpu.upload(&x.prob.table)?, gpu.upload(&x.prob.w)?, gpu.upload(&x.prob.g)?);
        let (nd, invd) = (gpu.upload(&ids)?, gpu.upload(&x.inv)?);
        let mut out = gpu.filled(x.nbr.len(), POISON)?;
        project(gpu, &x.dims, (&td, &wd), &nd, &invd, &gd, &mut out)?;
        err = worst(err, rel_err(&gpu.download(&out)?, &want));
    }
    Ok(err)
}

fn check_alpha(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for scope in [AlphaScope::PerExample, AlphaScope::PerPosition, AlphaScope::PerExample] {
        let examples = size_in(rng, 1, 40);
        // Empty examples and long ones (more than a block's worth of values).
        let lengths: Vec<usize> =
            (0..examples).map(|_| if rng.below(6) == 0 { 0 } else { size_in(rng, 1, 120) }).collect();
        let (p, k) = (lengths.iter().sum::<usize>(), size_in(rng, 1, MAX_K));
        let mut ghat = randn(rng, p * k, 1.0);
        // An all-zero example: α must be 0 there, not NaN.
        if let Some(at) = lengths.iter().position(|&l| l > 0) {
            let start: usize = lengths[..at].iter().sum();
            ghat[start * k..(start + lengths[at]) * k].fill(0.0);
        }
        let eps = rng.uniform_range(0.5, 20.0);
        let want = nn::alpha(&ghat, k, &lengths, scope, eps)?;
        let groups = upload_groups(gpu, &lengths, scope, p)?;
        let gd = gpu.upload(&ghat)?;
        let mut out = gpu.filled(p * k, POISON)?;
        alpha(gpu, &gd, &groups, k, eps, &mut out)?;
        err = worst(err, rel_err(&gpu.download(&out)?, &want));
    }
    Ok(err)
}

fn check_perturb(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..3 {
        let x = pair_inputs(rng)?;
        let al = randn(rng, x.nbr.len(), 3.0);
        // An unfilled slot contributes nothing: the twin with α = 0 there.
        let (ids, hole) = device_ids(rng, &x.nbr, trial == 2)?;
        let al_twin: Vec<f32> = al.iter().zip(&hole).map(|(&a, &h)| if h { 0.0 } else { a }).collect();
        let want = nn::perturb(x.prob.table(), &x.prob.w, &x.nbr, &x.inv, &al_twin, x.prob.k);
        let (td, wd, ad) = (gpu.upload(&x.prob.table)?, gpu.upload(&x.prob.w)?, gpu.upload(&al)?);
        let (nd, invd) = (gpu.upload(&ids)?, gpu.upload(&x.inv)?);
        let mut out = gpu.filled(x.prob.w.len(), POISON)?;
        perturb(gpu, &x.dims, (&td, &wd), &nd, &invd, &ad, &mut out)?;
        err = worst(err, rel_err(&gpu.download(&out)?, &want));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::kernel(k::neighbours::NN_SQ_NORMS_F32, "ops::neighbours::sq_norms", MATH, check_sq_norms),
        // Ids exactly on grid data; the ranking values to rounding.
        Check::kernel(k::neighbours::NN_TOPK_F32, "ops::neighbours::search_range (per split)", MATH, check_topk),
        // Moves values and ids only: exact.
        Check::kernel(k::neighbours::NN_MERGE_F32, "ops::neighbours::search::merge", MOVE, check_merge),
        Check::kernel(k::neighbours::NN_DIR_NORMS_F32, "ops::neighbours::dir_norms", MATH, check_dir_norms),
        Check::kernel(k::neighbours::NN_PROJECT_F32, "ops::neighbours::project", MATH, check_project),
        Check::kernel(k::neighbours::NN_ALPHA_F32, "ops::neighbours::alpha_scale", MATH, check_alpha),
        Check::kernel(k::neighbours::NN_PERTURB_F32, "ops::neighbours::perturb", MATH, check_perturb),
    ]
}
