//! iAdvT's nearest-neighbour directions (`ops::neighbours`) against the
//! contract computed by brute force in f64: all pairwise distances sorted,
//! directions, ĝ, α and r from their definitions; ĝ as the gradient of a
//! loss through `r(α)`; determinism across thread counts; and the CPU twins
//! the CUDA self-check compares with, on the self-check's own problems.

use hotflip::cuda::ops::neighbours::check::{grid_problem, normal_problem, rel_err_inf, twin_parts, Problem};
use hotflip::cuda::ops::neighbours::{plan, split_ranges};
use hotflip::gradcheck::{assert_grads, Tolerance};
use hotflip::ops::neighbours::{self as nn, search::merge, AlphaScope, IadvtConfig, Neighbours, Table, FIRST_WORD};
use hotflip::{Error, Rng, Tape, Tensor};

/// The K nearest candidates of each position by f64 distance, ties to the
/// lower id: `(ids, distances)`.
fn brute_force(table: Table<'_>, ids: &[usize], w: &[f32], k: usize) -> (Vec<usize>, Vec<f64>) {
    let d = table.dim;
    let (mut out_ids, mut out_d) = (Vec::new(), Vec::new());
    for (t, &own) in ids.iter().enumerate() {
        let wt = &w[t * d..(t + 1) * d];
        let mut all: Vec<(f64, usize)> = (FIRST_WORD..table.vocab)
            .filter(|&v| v != own)
            .map(|v| {
                let ss: f64 = table.row(v).iter().zip(wt).map(|(&e, &x)| (e as f64 - x as f64).powi(2)).sum();
                (ss.sqrt(), v)
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(dist, v) in &all[..k] {
            out_ids.push(v);
            out_d.push(dist);
        }
    }
    (out_ids, out_d)
}

/// Directions `[P, K, D]`, ĝ, α (in `scope`) and r from the definitions, in f64.
fn reference(prob: &Problem, nbr: &[usize], lengths: &[usize], scope: AlphaScope, eps: f64) -> [Vec<f64>; 4] {
    let (d, k, p) = (prob.dim, prob.k, prob.positions());
    let mut dirs = vec![0.0f64; p * k * d];
    let mut ghat = vec![0.0f64; p * k];
    for t in 0..p {
        for j in 0..k {
            let e = prob.table().row(nbr[t * k + j]);
            let diff: Vec<f64> = (0..d).map(|c| e[c] as f64 - prob.w[t * d + c] as f64).collect();
            let norm = diff.iter().map(|x| x * x).sum::<f64>().sqrt();
            for c in 0..d {
                let dv = if norm > 0.0 { diff[c] / norm } else { 0.0 };
                dirs[(t * k + j) * d + c] = dv;
                ghat[t * k + j] += prob.g[t * d + c] as f64 * dv;
            }
        }
    }
    let groups: Vec<usize> = match scope {
        AlphaScope::PerExample => lengths.to_vec(),
        AlphaScope::PerPosition => vec![1; p],
    };
    let mut alpha = vec![0.0f64; p * k];
    let mut at = 0;
    for len in groups {
        let span = at * k..(at + len) * k;
        let norm = ghat[span.clone()].iter().map(|x| x * x).sum::<f64>().sqrt();
        for i in span {
            alpha[i] = if norm > 0.0 { eps * ghat[i] / norm } else { 0.0 };
        }
        at += len;
    }
    let mut r = vec![0.0f64; p * d];
    for t in 0..p {
        for j in 0..k {
            for c in 0..d {
                r[t * d + c] += alpha[t * k + j] * dirs[(t * k + j) * d + c];
            }
        }
    }
    [dirs, ghat, alpha, r]
}

fn assert_close(name: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        diff += (g as f64 - w).powi(2);
        norm += w * w;
    }
    let err = (diff / norm.max(1e-300)).sqrt();
    assert!(err <= tol, "{name}: relative error {err:e} > {tol:e}");
}

/// Splits P positions into examples of up to 7 (the last may be shorter).
fn lengths_for(p: usize) -> Vec<usize> {
    (0..p.div_ceil(7)).map(|i| 7.min(p - 7 * i)).collect()
}

fn run(prob: &Problem, lengths: &[usize], scope: AlphaScope, eps: f32) -> Neighbours {
    let cfg = IadvtConfig { k: prob.k, eps, scope };
    nn::iadvt(prob.table(), &prob.ids, &prob.w, &prob.g, lengths, &cfg).unwrap()
}

#[test]
fn matches_brute_force_on_grid_tables_with_ties_and_duplicates() {
    let mut rng = Rng::new(1);
    let mut ties = 0;
    // Crosses the search's position blocks (256) and vocabulary blocks (1024).
    for sizes in [(40, 60, 5, 7), (300, 2500, 6, 10), (17, 40, 3, 32), (5, 5, 2, 2)] {
        let prob = grid_problem(&mut rng, sizes);
        let got = nn::nearest(prob.table(), &prob.ids, &prob.w, prob.k).unwrap();
        let (want_ids, want_d) = brute_force(prob.table(), &prob.ids, &prob.w, prob.k);
        assert_eq!(got.ids, want_ids, "{sizes:?}");
        assert_close("distances", &got.dist, &want_d, 2e-7);
        ties += want_d.chunks(prob.k).map(|l| l.windows(2).filter(|x| x[0] == x[1]).count()).sum::<usize>();
    }
    // Grid data ties often; without ties the test would lose its point.
    assert!(ties > 100, "only {ties} ties");
}

#[test]
fn matches_brute_force_on_normal_tables() {
    let mut rng = Rng::new(2);
    for sizes in [(60, 500, 24, 10), (270, 1100, 33, 3)] {
        let prob = normal_problem(&mut rng, sizes);
        let got = nn::nearest(prob.table(), &prob.ids, &prob.w, prob.k).unwrap();
        let (want_ids, want_d) = brute_force(prob.table(), &prob.ids, &prob.w, prob.k);
        assert_eq!(got.ids, want_ids, "{sizes:?}");
        assert_close("distances", &got.dist, &want_d, 1e-6);
    }
}

#[test]
fn pad_unk_and_the_word_itself_are_never_neighbours() {
    // Rows 0, 1 and 3 lie exactly on the position; row 5 duplicates row 3.
    let (vocab, dim) = (8, 2);
    let mut e = vec![0.0f32; vocab * dim];
    for v in 0..vocab {
        e[v * dim] = v as f32;
        e[v * dim + 1] = -(v as f32);
    }
    let w = vec![3.0f32, -3.0];
    for v in [0, 1, 5] {
        e[v * dim..(v + 1) * dim].copy_from_slice(&w);
    }
    let table = Table::new(&e, vocab, dim).unwrap();
    let got = nn::nearest(table, &[3], &w, 4).unwrap();
    assert_eq!(got.ids, vec![5, 2, 4, 6]);
    assert_eq!(got.dist[0], 0.0);
    // The duplicate gives a zero direction, not NaN.
    let dirs = nn::directions(table, &w, &got.ids, 4).unwrap();
    assert_eq!(&dirs[..2], &[0.0, 0.0]);
    let s = std::f32::consts::FRAC_1_SQRT_2;
    assert_close("direction to 2", &dirs[2..4], &[-s as f64, s as f64], 1e-7);
    // A PAD position excludes PAD and UNK only.
    let got = nn::nearest(table, &[0], &w, 2).unwrap();
    assert_eq!(got.ids, vec![3, 5]);
}

#[test]
fn alpha_and_r_match_the_definitions_in_both_scopes() {
    let mut rng = Rng::new(3);
    for (grid, sizes) in [(true, (30, 80, 6, 5)), (false, (45, 300, 20, 10))] {
        let prob = if grid { grid_problem(&mut rng, sizes) } else { normal_problem(&mut rng, sizes) };
        let lengths = lengths_for(prob.positions());
        for scope in [AlphaScope::PerExample, AlphaScope::PerPosition] {
            let got = run(&prob, &lengths, scope, 15.0);
            let [dirs, ghat, alpha, r] = reference(&prob, &got.ids, &lengths, scope, 15.0);
            assert_close("ĝ", &got.ghat, &ghat, 1e-6);
            assert_close("α", &got.alpha, &alpha, 1e-6);
            assert_close("r", &got.r, &r, 1e-6);
            assert_close("directions", &nn::directions(prob.table(), &prob.w, &got.ids, prob.k).unwrap(), &dirs, 1e-6);
            // The standalone functions agree with the pipeline bit for bit.
            let g2 = nn::alpha_grad(prob.table(), &prob.w, &got.ids, prob.k, &prob.g).unwrap();
            assert_eq!(g2, got.ghat);
            assert_eq!(nn::alpha(&got.ghat, prob.k, &lengths, scope, 15.0).unwrap(), got.alpha);
            assert_eq!(nn::perturbation(prob.table(), &prob.w, &got.ids, prob.k, &got.alpha).unwrap(), got.r);
        }
        // Grid positions often sit on a chosen row: zero directions happened.
        if grid {
            assert!(got_zero_direction(&prob), "no zero direction drawn");
        }
    }
}

fn got_zero_direction(prob: &Problem) -> bool {
    let got = nn::nearest(prob.table(), &prob.ids, &prob.w, prob.k).unwrap();
    got.dist.contains(&0.0)
}

#[test]
fn scopes_normalise_over_examples_or_positions() {
    let mut rng = Rng::new(4);
    let prob = normal_problem(&mut rng, (20, 200, 8, 4));
    let lengths = [3, 0, 9, 8];
    let k = prob.k;
    let ex = run(&prob, &lengths, AlphaScope::PerExample, 5.0);
    let pos = run(&prob, &lengths, AlphaScope::PerPosition, 5.0);
    let norm = |a: &[f32]| a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let mut at = 0;
    for &l in &lengths {
        if l > 0 {
            assert!((norm(&ex.alpha[at * k..(at + l) * k]) - 5.0).abs() < 1e-5);
        }
        at += l;
    }
    for t in 0..prob.positions() {
        assert!((norm(&pos.alpha[t * k..(t + 1) * k]) - 5.0).abs() < 1e-5);
    }
    assert_ne!(ex.alpha, pos.alpha);
    assert_eq!(ex.ids, pos.ids);
    // A zero gradient gives α = 0 and r = 0, not NaN.
    let still = Problem { g: vec![0.0; prob.g.len()], ..prob.clone() };
    let z = run(&still, &lengths, AlphaScope::PerExample, 5.0);
    assert!(z.alpha.iter().chain(&z.r).all(|&x| x == 0.0));
    // Counts that do not add up to P are an error.
    let cfg = IadvtConfig { k, ..IadvtConfig::default() };
    let e = nn::iadvt(prob.table(), &prob.ids, &prob.w, &prob.g, &[3, 9], &cfg).unwrap_err().to_string();
    assert!(e.contains("add up to 12") && e.contains("20 positions"), "{e}");
}

#[test]
fn ghat_is_the_gradient_through_r_of_alpha() {
    // L(α) = Σ R ⊙ tanh(w + r(α)), r(α) = Σ_k α_k d_k. With g = ∂L/∂r,
    // alpha_grad's g·d must be ∂L/∂α: checked against central differences
    // on r(α) built on the tape (`[P,1,K]·[P,K,D]`), and against the tape.
    let mut rng = Rng::new(5);
    let prob = normal_problem(&mut rng, (6, 40, 5, 4));
    let (p, k, d) = (prob.positions(), prob.k, prob.dim);
    let nbr = nn::nearest(prob.table(), &prob.ids, &prob.w, k).unwrap().ids;
    let dirs = Tensor::new(&[p, k, d], nn::directions(prob.table(), &prob.w, &nbr, k).unwrap()).unwrap();
    let w = Tensor::new(&[p, 1, d], prob.w.clone()).unwrap();
    let probe = Tensor::randn(&[p, 1, d], 1.0, &mut Rng::new(6));
    let alpha0 = Tensor::randn(&[p, 1, k], 0.5, &mut Rng::new(7));
    let loss = |t: &Tape, alpha: hotflip::Var| -> hotflip::Result<(hotflip::Var, hotflip::Var)> {
        let r = t.matmul(alpha, t.constant(dirs.clone()))?;
        let y = t.tanh(t.add(t.constant(w.clone()), r)?)?;
        Ok((t.sum(t.mul(y, t.constant(probe.clone()))?)?, r))
    };
    assert_grads("L through r(α)", std::slice::from_ref(&alpha0), Tolerance::default(), |t, v| Ok(loss(t, v[0])?.0))
        .unwrap();
    let tape = Tape::new();
    let a = tape.leaf(alpha0.clone());
    let (l, r) = loss(&tape, a).unwrap();
    tape.retain_grad(r).unwrap();
    let grads = tape.backward(l).unwrap();
    let g_r = grads.get(r).unwrap().data().to_vec();
    let want = grads.get(a).unwrap().data().to_vec();
    let ghat = nn::alpha_grad(prob.table(), &prob.w, &nbr, k, &g_r).unwrap();
    let want64: Vec<f64> = want.iter().map(|&x| x as f64).collect();
    assert_close("ĝ vs ∂L/∂α", &ghat, &want64, 1e-5);
    // And against f64 central differences of L through `perturbation`.
    let l_of = |alpha: &[f32]| -> f64 {
        let r = nn::perturbation(prob.table(), &prob.w, &nbr, k, alpha).unwrap();
        (0..p * d).map(|i| probe.data()[i] as f64 * ((prob.w[i] + r[i]) as f64).tanh()).sum()
    };
    let h = 1e-2f32;
    let fd: Vec<f64> = (0..p * k)
        .map(|i| {
            let (mut up, mut down) = (alpha0.data().to_vec(), alpha0.data().to_vec());
            up[i] += h;
            down[i] -= h;
            (l_of(&up) - l_of(&down)) / (2.0 * h as f64)
        })
        .collect();
    assert_close("ĝ vs central differences", &ghat, &fd, 1e-3);
    // The check can fail: a wrong sign is far outside the tolerance.
    let wrong: Vec<f32> = ghat.iter().map(|x| -x).collect();
    let err = wrong.iter().zip(&fd).map(|(&a, &b)| (a as f64 - b).powi(2)).sum::<f64>().sqrt()
        / fd.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(err > 1.0);
}

#[test]
fn deterministic_across_thread_counts() {
    let mut rng = Rng::new(8);
    // More positions than one block and vocabulary than one tile.
    let prob = normal_problem(&mut rng, (600, 2300, 40, 10));
    let lengths = lengths_for(prob.positions());
    let in_pool = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run(&prob, &lengths, AlphaScope::PerExample, 15.0))
    };
    let one = in_pool(1);
    let two = in_pool(2);
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(one.ids, two.ids);
    for (a, b) in [(&one.dist, &two.dist), (&one.ghat, &two.ghat), (&one.alpha, &two.alpha), (&one.r, &two.r)] {
        assert_eq!(bits(a), bits(b));
    }
}

#[test]
fn bad_inputs_are_errors() {
    let mut rng = Rng::new(9);
    let prob = normal_problem(&mut rng, (4, 20, 3, 3));
    let t = prob.table();
    let e = nn::nearest(t, &[1, 2, 20, 3], &prob.w, 3).unwrap_err();
    assert!(matches!(e, Error::IndexOutOfRange { index: 20, size: 20, .. }), "{e}");
    let e = nn::nearest(t, &prob.ids, &prob.w, 18).unwrap_err().to_string();
    assert!(e.contains("K = 18") && e.contains("17 candidate"), "{e}");
    assert!(nn::nearest(t, &prob.ids, &prob.w, 0).is_err());
    assert!(nn::nearest(t, &prob.ids, &prob.w[1..], 3).is_err());
    assert!(Table::new(&prob.table, 21, 3).is_err());
    let nan = vec![f32::NAN; prob.w.len()];
    let e = nn::nearest(t, &prob.ids, &nan, 3).unwrap_err().to_string();
    assert!(e.contains("NaN"), "{e}");
    assert!(nn::perturbation(t, &prob.w, &[0, 1, 2], 3, &[0.0; 3]).is_err());
    assert!(nn::alpha_grad(t, &prob.w, &[25; 12], 3, &prob.g).is_err());
}

#[test]
fn cuda_twins_compose_to_the_op_on_the_self_check_problems() {
    // What the GPU self-check compares each kernel with, run on its own
    // problem generators: the per-split search merged is the whole search,
    // and the per-kernel twins chained are `iadvt`.
    let mut rng = Rng::new(10);
    for (grid, sizes) in [(true, (100, 3000, 20, 32)), (false, (150, 5000, 30, 10)), (true, (3, 4, 2, 1))] {
        let prob = if grid { grid_problem(&mut rng, sizes) } else { normal_problem(&mut rng, sizes) };
        let (p, v, d, k) = sizes;
        let dims = plan(p, v, d, k).unwrap();
        let ranges = split_ranges(&dims);
        assert_eq!((ranges[0].start, ranges.last().unwrap().end), (FIRST_WORD, v));
        let norms = nn::sq_norms(prob.table());
        let parts = twin_parts(&prob, &norms, &dims).unwrap();
        let whole = nn::search(prob.table(), &norms, &prob.ids, &prob.w, k).unwrap();
        assert_eq!(merge(&parts, p, k).unwrap(), whole);
        let lengths = lengths_for(p);
        let nbr = whole.into_ids("t").unwrap();
        let (dist, inv) = nn::dir_norms(prob.table(), &prob.w, &nbr, k);
        let ghat = nn::project(prob.table(), &prob.w, &nbr, &inv, &prob.g, k);
        let offsets = nn::group_offsets(&lengths, AlphaScope::PerExample, p).unwrap();
        let alpha = nn::alpha_scale(&ghat, &offsets, k, 15.0);
        let r = nn::perturb(prob.table(), &prob.w, &nbr, &inv, &alpha, k);
        let want = run(&prob, &lengths, AlphaScope::PerExample, 15.0);
        assert_eq!(Neighbours { k, dim: d, ids: nbr, dist, ghat, alpha, r }, want);
        if grid {
            let (bf, _) = brute_force(prob.table(), &prob.ids, &prob.w, k);
            assert_eq!(want.ids, bf);
        }
    }
    // The comparison the search check uses: +∞ must match, then is ignored.
    let inf = f32::INFINITY;
    assert_eq!(rel_err_inf(&[1.0, inf], &[1.0, inf]), 0.0);
    assert!(rel_err_inf(&[1.0, 2.0], &[1.0, inf]).is_infinite());
    assert!(rel_err_inf(&[1.0, f32::NAN], &[1.0, 2.0]).is_nan());
}
