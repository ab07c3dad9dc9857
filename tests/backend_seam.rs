//! The backend seam: every primitive of `backend::Device` on the CUDA
//! device — run on the emulated device (`Gpu::emulated`: the kernels'
//! sources on the CPU, through the same launchers and buffers as on a GPU)
//! — against the CPU device, on small random shapes. A wiring bug on the
//! device side (a wrong length, a buffer swapped, a missing upload) fails
//! here, without a GPU. Needs a C++17 compiler (`$CXX`, else `c++`).

use std::sync::Arc;

use hotflip::backend::{CpuDevice, CudaDevice, Device, Gemm, Storage};
use hotflip::cuda::twins::adam_params;
use hotflip::cuda::Gpu;
use hotflip::Rng;

fn devices() -> (CpuDevice, CudaDevice) {
    let gpu = Gpu::emulated().unwrap_or_else(|e| panic!("the CUDA emulator is unavailable: {e}"));
    (CpuDevice, CudaDevice::new(Arc::new(gpu)))
}

fn randn(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal()).collect()
}

fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

/// Runs `f` on both devices from the same host inputs, compares the host results.
fn both(cpu: &CpuDevice, cuda: &CudaDevice, what: &str, tol: f32, f: impl Fn(&dyn Device) -> Vec<f32>) {
    let want = f(cpu);
    let got = f(cuda);
    close(what, &got, &want, tol);
}

#[test]
fn every_primitive_agrees_with_the_cpu_device() {
    let (cpu, cuda) = devices();
    assert_eq!(cuda.name(), "cuda (emulated)");
    let mut rng = Rng::new(0x5EA);
    // GEMM with every transpose.
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let g = Gemm { m: 5, k: 7, n: 3, ta, tb };
        let (a, b) = (randn(&mut rng, 35), randn(&mut rng, 21));
        both(&cpu, &cuda, "gemm", 1e-5, |d| {
            let c = d.gemm(&d.upload(&a).unwrap(), &d.upload(&b).unwrap(), g).unwrap();
            assert_eq!(c.location(), if d.name() == "cpu" { "cpu" } else { "cuda" });
            d.to_host(&c).unwrap()
        });
    }
    // Embedding forward and backward, with a padding row and repeats.
    let (vocab, dim) = (9, 4);
    let weight = randn(&mut rng, vocab * dim);
    let ids: Vec<usize> = (0..13).map(|_| rng.below(vocab)).collect();
    both(&cpu, &cuda, "embedding_fwd", 0.0, |d| {
        d.to_host(&d.embedding_fwd(&d.upload(&weight).unwrap(), vocab, dim, &ids).unwrap()).unwrap()
    });
    let g = randn(&mut rng, ids.len() * dim);
    both(&cpu, &cuda, "embedding_bwd", 1e-6, |d| {
        d.to_host(&d.embedding_bwd(&d.upload(&g).unwrap(), vocab, dim, &ids, Some(ids[0])).unwrap()).unwrap()
    });
    // Log-softmax + cross-entropy, forward and backward (reduced and per row).
    let (rows, c) = (6, 11);
    let logits: Vec<f32> = randn(&mut rng, rows * c).iter().map(|x| 3.0 * x).collect();
    let targets: Vec<usize> = (0..rows).map(|_| rng.below(c)).collect();
    let weights: Vec<f32> = (0..rows).map(|_| rng.uniform_range(0.5, 2.0)).collect();
    both(&cpu, &cuda, "cross_entropy", 1e-5, |d| {
        let (ls, per) = d.cross_entropy(&d.upload(&logits).unwrap(), c, &targets, &weights).unwrap();
        let mut out = d.to_host(&ls).unwrap();
        out.extend(d.to_host(&per).unwrap());
        for reduce in [true, false] {
            let gv = if reduce { vec![0.7] } else { randn(&mut Rng::new(9), rows) };
            let gx = d.cross_entropy_bwd(&ls, c, &targets, &weights, &d.upload(&gv).unwrap(), reduce).unwrap();
            out.extend(d.to_host(&gx).unwrap());
        }
        out
    });
    // Dropout: the same mask bit for bit.
    let x = randn(&mut rng, 700);
    both(&cpu, &cuda, "dropout", 0.0, |d| d.to_host(&d.dropout(&d.upload(&x).unwrap(), 0.3, 77).unwrap()).unwrap());
    // Sum.
    both(&cpu, &cuda, "sum", 1e-6, |d| vec![d.sum(&d.upload(&x).unwrap()).unwrap()]);
    // Adam, two steps in place on device-resident state.
    let (theta, grad) = (randn(&mut rng, 300), randn(&mut rng, 300));
    both(&cpu, &cuda, "adam", 1e-6, |d| {
        let mut p = d.upload(&theta).unwrap();
        let (mut m, mut v) = (d.upload(&[0.0; 300]).unwrap(), d.upload(&[0.0; 300]).unwrap());
        let g = d.upload(&grad).unwrap();
        for t in 1..=2 {
            d.adam(&adam_params(1e-2, (0.9, 0.999), 1e-8, 0.01, true, t), &mut p, &g, &mut m, &mut v).unwrap();
        }
        let mut out = d.to_host(&p).unwrap();
        out.extend(d.to_host(&m).unwrap());
        out
    });
}

#[test]
fn storage_of_another_device_and_bad_sizes_are_errors() {
    let (cpu, cuda) = devices();
    let host = Storage::Cpu(vec![1.0; 6]);
    let e = cuda.sum(&host).unwrap_err().to_string();
    assert!(e.contains("cpu value passed to the cuda device"), "{e}");
    let on_dev = cuda.upload(&[1.0; 6]).unwrap();
    assert!(cpu.sum(&on_dev).is_err());
    let g = Gemm { m: 2, k: 3, n: 2, ta: false, tb: false };
    assert!(cuda.gemm(&on_dev, &cuda.upload(&[1.0; 5]).unwrap(), g).is_err());
    assert!(cuda.embedding_fwd(&on_dev, 3, 2, &[0, 3]).is_err(), "id 3 of a 3-row table");
    assert!(cuda.dropout(&on_dev, 1.0, 1).is_err());
}
