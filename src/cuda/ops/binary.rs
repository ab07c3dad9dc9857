//! Launchers for kernels/binary.cu (broadcast add/sub/mul/div and the
//! reduce-to-shape of their backward), checked against `ops::binary`.

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::gpu::{elementwise, Gpu};
use crate::cuda::params::{Broadcast, ReduceToShape, MAX_DIMS};
use crate::cuda::registry::{k, KernelRef};
use crate::cuda::selfcheck::{randn, rel_err, size_in, uniform, worst, Check, MATH, MOVE, POISON};
use crate::error::{Error, Result};
use crate::ops::binary::{broadcast_map, strides_in};
use crate::ops::{broadcast_shape, sum_to_shape as cpu_sum_to_shape, BinaryKind};
use crate::rng::Rng;
use crate::tensor::{numel, Tensor};

fn kernel(kind: BinaryKind) -> KernelRef {
    match kind {
        BinaryKind::Add => k::binary::ADD_F32,
        BinaryKind::Sub => k::binary::SUB_F32,
        BinaryKind::Mul => k::binary::MUL_F32,
        BinaryKind::Div => k::binary::DIV_F32,
    }
}

fn fits(op: &'static str, rank: usize) -> Result<()> {
    if rank > MAX_DIMS {
        return Err(Error::invalid(
            op,
            format!("rank {rank} exceeds the {MAX_DIMS} dimensions the CUDA kernels handle"),
        ));
    }
    Ok(())
}

/// The broadcast shape of `a` and `b` and the kernel parameters for it.
pub fn broadcast_params(op: &'static str, a: &[usize], b: &[usize]) -> Result<(Vec<usize>, Broadcast)> {
    let out = broadcast_shape(op, a, b)?;
    fits(op, out.len())?;
    let (sa, sb) = (strides_in(a, &out), strides_in(b, &out));
    let mut p = Broadcast { rank: out.len() as u32, numel: numel(&out) as u64, ..Broadcast::default() };
    for d in 0..out.len() {
        p.dims[d] = out[d] as u64;
        p.a_strides[d] = sa[d] as u64;
        p.b_strides[d] = sb[d] as u64;
    }
    Ok((out, p))
}

/// Parameters to sum a gradient of shape `g` down to `target` (which must
/// broadcast to `g`).
pub fn reduce_to_shape_params(g: &[usize], target: &[usize]) -> Result<ReduceToShape> {
    let op = "sum_to_shape";
    if target.len() > g.len() || broadcast_shape(op, target, g)? != g {
        return Err(Error::shapes(op, g, target));
    }
    fits(op, g.len())?;
    let ts = strides_in(target, g);
    let mut p = ReduceToShape { rank: g.len() as u32, numel: numel(target) as u64, ..ReduceToShape::default() };
    let mut stride = 1u64;
    for d in (0..g.len()).rev() {
        p.dims[d] = g[d] as u64;
        p.target_strides[d] = ts[d] as u64;
        p.src_strides[d] = stride;
        stride *= g[d] as u64;
    }
    Ok(p)
}

/// `out = a ∘ b` with NumPy broadcasting; returns the output shape.
pub fn binary(
    gpu: &Gpu,
    kind: BinaryKind,
    (a, a_shape): (&DeviceBuf<f32>, &[usize]),
    (b, b_shape): (&DeviceBuf<f32>, &[usize]),
    out: &mut DeviceBuf<f32>,
) -> Result<Vec<usize>> {
    let kr = kernel(kind);
    let (shape, p) = broadcast_params(kr.name, a_shape, b_shape)?;
    a.expect_len(kr.name, "a", numel(a_shape))?;
    b.expect_len(kr.name, "b", numel(b_shape))?;
    out.expect_len(kr.name, "out", numel(&shape))?;
    if out.is_empty() {
        return Ok(shape);
    }
    let cfg = elementwise(out.len());
    let mut args = gpu.args();
    args.arg(&p).arg(a).arg(b).arg(&mut *out);
    // SAFETY: (p, a, b, out) is the kernel's parameter list; the strides in p
    // come from the checked shapes, so every offset is inside a and b.
    unsafe { gpu.launch(kr, &mut args, cfg)? };
    Ok(shape)
}

/// `out` (shape `target`) = `g` (shape `g_shape`) summed over the
/// broadcast dimensions.
pub fn sum_to_shape(
    gpu: &Gpu,
    (g, g_shape): (&DeviceBuf<f32>, &[usize]),
    target: &[usize],
    out: &mut DeviceBuf<f32>,
) -> Result<()> {
    let kr = k::binary::SUM_TO_SHAPE_F32;
    let p = reduce_to_shape_params(g_shape, target)?;
    g.expect_len(kr.name, "g", numel(g_shape))?;
    out.expect_len(kr.name, "out", numel(target))?;
    if out.is_empty() {
        return Ok(());
    }
    let cfg = elementwise(out.len());
    let mut args = gpu.args();
    args.arg(&p).arg(g).arg(&mut *out);
    // SAFETY: (p, g, out) is the kernel's parameter list; offsets come from g's shape.
    unsafe { gpu.launch(kr, &mut args, cfg) }
}

/// A random output shape and two operand shapes that broadcast to it.
fn random_shapes(rng: &mut Rng) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let rank = size_in(rng, 0, 4);
    let out: Vec<usize> =
        (0..rank).map(|d| if d + 1 == rank { size_in(rng, 1, 300) } else { size_in(rng, 1, 7) }).collect();
    let operand = |rng: &mut Rng| -> Vec<usize> {
        let drop = size_in(rng, 0, rank);
        out[drop..].iter().map(|&d| if rng.below(3) == 0 { 1 } else { d }).collect()
    };
    let (a, b) = (operand(rng), operand(rng));
    (out, a, b)
}

const FIXED: [(&[usize], &[usize]); 5] =
    [(&[3, 4], &[3, 4]), (&[2, 3, 4], &[4]), (&[2, 3, 4], &[3, 1]), (&[1, 4], &[3, 1]), (&[5], &[])];

fn check_binary(gpu: &Gpu, rng: &mut Rng, kind: BinaryKind) -> Result<f64> {
    let mut err = 0.0;
    let mut cases: Vec<(Vec<usize>, Vec<usize>)> = FIXED.iter().map(|(a, b)| (a.to_vec(), b.to_vec())).collect();
    for _ in 0..6 {
        let (_, a, b) = random_shapes(rng);
        cases.push((a, b));
    }
    cases.push((vec![257, 1000], vec![1000]));
    for (sa, sb) in cases {
        let a = Tensor::new(&sa, randn(rng, numel(&sa), 1.0))?;
        // Divisors away from zero.
        let b = Tensor::new(&sb, uniform(rng, numel(&sb), 0.5, 2.0))?;
        let shape = broadcast_shape(kind.name(), &sa, &sb)?;
        let want = broadcast_map(&a, &b, &shape, |x, y| kind.apply(x, y));
        let (ad, bd) = (gpu.upload(a.data())?, gpu.upload(b.data())?);
        let mut od = gpu.filled(numel(&shape), POISON)?;
        binary(gpu, kind, (&ad, &sa), (&bd, &sb), &mut od)?;
        err = worst(err, rel_err(&gpu.download(&od)?, &want));
    }
    Ok(err)
}

fn check_sum_to_shape(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    let mut cases: Vec<(Vec<usize>, Vec<usize>)> = FIXED.iter().map(|(a, b)| (a.to_vec(), b.to_vec())).collect();
    for _ in 0..6 {
        let (out, a, _) = random_shapes(rng);
        cases.push((out, a));
    }
    // The bias gradient of a batched layer: the CPU's column-sum path.
    cases.push((vec![64, 20, 512], vec![512]));
    for (g_shape, target) in cases {
        let g_shape = broadcast_shape("sum_to_shape", &g_shape, &target)?;
        let g = Tensor::new(&g_shape, randn(rng, numel(&g_shape), 1.0))?;
        let want = cpu_sum_to_shape(&g, &target);
        let gd = gpu.upload(g.data())?;
        let mut od = gpu.filled(numel(&target), POISON)?;
        sum_to_shape(gpu, (&gd, &g_shape), &target, &mut od)?;
        err = worst(err, rel_err(&gpu.download(&od)?, want.data()));
    }
    Ok(err)
}

pub(crate) fn checks() -> Vec<Check> {
    let mut checks: Vec<Check> = BinaryKind::ALL
        .iter()
        .map(|&kind| {
            // A single IEEE operation per element: exact.
            Check::kernel(kernel(kind), "ops::binary::broadcast_map", MOVE, move |g, r| check_binary(g, r, kind))
        })
        .collect();
    checks.push(Check::kernel(k::binary::SUM_TO_SHAPE_F32, "ops::sum_to_shape", MATH, check_sum_to_shape));
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_dims_matches_the_kernel_file() {
        let src = crate::cuda::registry::file("binary").unwrap().source;
        assert!(src.contains(&format!("#define HF_MAX_DIMS {MAX_DIMS}\n")));
    }

    #[test]
    fn broadcast_params_describe_both_operands() {
        let (out, p) = broadcast_params("t", &[2, 1, 4], &[3, 1]).unwrap();
        assert_eq!(out, vec![2, 3, 4]);
        assert_eq!((p.rank, p.numel), (3, 24));
        assert_eq!(&p.dims[..3], &[2, 3, 4]);
        assert_eq!(&p.a_strides[..3], &[4, 0, 1]);
        assert_eq!(&p.b_strides[..3], &[0, 1, 0]);
        assert!(broadcast_params("t", &[1; 7], &[1]).is_err());
    }

    #[test]
    fn reduce_params_and_the_kernel_walk_match_the_cpu() {
        // Replays the kernel's index arithmetic on the CPU for random shapes.
        let mut rng = Rng::new(5);
        for _ in 0..50 {
            let (out, target, _) = random_shapes(&mut rng);
            let p = reduce_to_shape_params(&out, &target).unwrap();
            let g = Tensor::new(&out, randn(&mut rng, numel(&out), 1.0)).unwrap();
            let mut got = vec![0.0f32; numel(&target)];
            for (t, slot) in got.iter_mut().enumerate() {
                let (mut rem, mut base, mut reduced) = (t as u64, 0u64, 1u64);
                for d in (0..p.rank as usize).rev() {
                    if p.target_strides[d] != 0 {
                        base += (rem % p.dims[d]) * p.src_strides[d];
                        rem /= p.dims[d];
                    } else {
                        reduced *= p.dims[d];
                    }
                }
                let mut acc = 0.0f32;
                for r in 0..reduced {
                    let (mut rr, mut off) = (r, base);
                    for d in (0..p.rank as usize).rev() {
                        if p.target_strides[d] == 0 {
                            off += (rr % p.dims[d]) * p.src_strides[d];
                            rr /= p.dims[d];
                        }
                    }
                    acc += g.data()[off as usize];
                }
                *slot = acc;
            }
            let want = cpu_sum_to_shape(&g, &target);
            assert!(rel_err(&got, want.data()) < 1e-6, "{out:?} -> {target:?}");
        }
        assert!(reduce_to_shape_params(&[2, 3], &[4]).is_err());
    }
}
