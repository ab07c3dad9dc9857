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
    both(&cpu, &cuda, "scale", 0.0, |d| d.to_host(&d.scale(&d.upload(&x).unwrap(), -0.37).unwrap()).unwrap());
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

/// Relative comparison at 1e-5 of the whole vector (max |got − want| over
/// max |want|), then the elementwise check with the same tolerance.
fn close_rel(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got.iter().zip(want).fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));
    assert!(worst <= 1e-5 * scale, "{what}: max error {worst} against a scale of {scale}");
    close(what, got, want, 1e-5);
}

/// A layer's output, input gradients and (if asked for) weight gradients.
type LayerRun = (Storage, Vec<Storage>, Option<Vec<Storage>>);

/// Every output and gradient of `f`, which runs one layer on a device.
fn layer_outputs(d: &dyn Device, f: &dyn Fn(&dyn Device) -> LayerRun) -> Vec<Vec<f32>> {
    let (y, dxs, dws) = f(d);
    let mut out = vec![d.to_host(&y).unwrap()];
    out.extend(dxs.iter().map(|s| d.to_host(s).unwrap()));
    out.extend(dws.unwrap_or_default().iter().map(|s| d.to_host(s).unwrap()));
    out
}

#[test]
fn the_lstm_layer_agrees_with_the_cpu_device_and_the_tape() {
    use hotflip::backend::{LstmParams, LstmShape};
    use hotflip::ops::LstmWeights;
    use hotflip::{Tape, Tensor};
    let (cpu, cuda) = devices();
    let mut rng = Rng::new(0x157);
    for (batch, steps, n_in, hidden, reverse) in [(3, 4, 5, 3, false), (2, 3, 4, 2, true), (1, 1, 3, 4, false)] {
        let s = LstmShape { batch, steps, n_in, hidden, reverse };
        let g4 = 4 * hidden;
        let x = randn(&mut rng, batch * steps * n_in);
        let w_ih: Vec<f32> = randn(&mut rng, g4 * n_in).iter().map(|v| v * 0.5).collect();
        let w_hh: Vec<f32> = randn(&mut rng, g4 * hidden).iter().map(|v| v * 0.5).collect();
        let bias = randn(&mut rng, g4);
        let lengths: Vec<usize> = (0..batch).map(|b| if b == 0 { steps } else { 1 + rng.below(steps) }).collect();
        let gy = randn(&mut rng, batch * steps * hidden);
        let run = |d: &dyn Device| {
            let (xd, wi, wh, bd) =
                (d.upload(&x).unwrap(), d.upload(&w_ih).unwrap(), d.upload(&w_hh).unwrap(), d.upload(&bias).unwrap());
            let w = LstmParams { w_ih: &wi, w_hh: &wh, bias: &bd };
            let (y, saved) = d.lstm_fwd(&xd, w, &lengths, s).unwrap();
            let g = d.lstm_bwd(&xd, w, &lengths, s, &saved, &y, &d.upload(&gy).unwrap(), true).unwrap();
            (y, vec![g.dx], g.weights)
        };
        let want = layer_outputs(&cpu, &run);
        let got = layer_outputs(&cuda, &run);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            close_rel(&format!("lstm {s:?} output {i}"), g, w);
        }
        // The CPU device is the tape's op: y and every gradient of Σ y·gy.
        let tape = Tape::new();
        let leaf = |v: &[f32], shape: &[usize]| tape.leaf(Tensor::new(shape, v.to_vec()).unwrap());
        let xv = leaf(&x, &[batch, steps, n_in]);
        let w = LstmWeights {
            w_ih: leaf(&w_ih, &[g4, n_in]),
            w_hh: leaf(&w_hh, &[g4, hidden]),
            b_ih: leaf(&bias, &[g4]),
            b_hh: leaf(&vec![0.0; g4], &[g4]),
        };
        let y = tape.lstm_layer(xv, w, &lengths, reverse).unwrap();
        let r = tape.constant(Tensor::new(&[batch, steps, hidden], gy.clone()).unwrap());
        let yv = tape.value(y).unwrap();
        let loss = tape.sum(tape.mul(y, r).unwrap()).unwrap();
        let grads = tape.backward(loss).unwrap();
        let tape_out = [yv.data(), grads.get(xv).unwrap().data(), grads.get(w.w_ih).unwrap().data()];
        for (i, t) in tape_out.iter().enumerate() {
            close_rel(&format!("lstm {s:?} against the tape, output {i}"), &got[i], t);
        }
        close_rel("dW_hh against the tape", &got[3], grads.get(w.w_hh).unwrap().data());
        close_rel("dbias against the tape", &got[4], grads.get(w.b_ih).unwrap().data());
    }
}

#[test]
fn the_char_cnn_features_agree_with_the_cpu_device_and_the_tape() {
    use hotflip::backend::{CharConvShape, ConvKernel};
    use hotflip::{Tape, Tensor};
    let (cpu, cuda) = devices();
    let mut rng = Rng::new(0xC44);
    let s = CharConvShape { words: 5, positions: 6, dim: 3 };
    let widths = [(1usize, 3usize), (2, 4), (4, 2)];
    let x = randn(&mut rng, s.words * s.positions * s.dim);
    let kernels: Vec<(Vec<f32>, Vec<f32>)> =
        widths.iter().map(|&(w, f)| (randn(&mut rng, f * s.dim * w), randn(&mut rng, f))).collect();
    let ftot: usize = widths.iter().map(|w| w.1).sum();
    let g = randn(&mut rng, s.words * ftot);
    let run = |d: &dyn Device| {
        let xd = d.upload(&x).unwrap();
        let stored: Vec<(Storage, Storage)> =
            kernels.iter().map(|(w, b)| (d.upload(w).unwrap(), d.upload(b).unwrap())).collect();
        let ks: Vec<ConvKernel<'_>> = stored
            .iter()
            .zip(&widths)
            .map(|((w, b), &(width, filters))| ConvKernel { weight: w, bias: b, filters, width })
            .collect();
        let (y, saved) = d.char_conv_fwd(&xd, s, &ks).unwrap();
        let gr = d.char_conv_bwd(&xd, s, &ks, &saved, &y, &d.upload(&g).unwrap(), true).unwrap();
        (y, vec![gr.dx], gr.weights)
    };
    let want = layer_outputs(&cpu, &run);
    let got = layer_outputs(&cuda, &run);
    assert_eq!(got.len(), 2 + 2 * widths.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        close_rel(&format!("char_conv output {i}"), g, w);
    }
    // Against the tape's fused op directly.
    let tape = Tape::new();
    let xv = tape.leaf(Tensor::new(&[s.words, s.positions, s.dim], x.clone()).unwrap());
    let ks: Vec<_> = kernels
        .iter()
        .zip(&widths)
        .map(|((w, b), &(width, f))| {
            (
                tape.leaf(Tensor::new(&[f, s.dim, width], w.clone()).unwrap()),
                tape.leaf(Tensor::new(&[f], b.clone()).unwrap()),
            )
        })
        .collect();
    let y = tape.char_conv_features(xv, &ks).unwrap();
    let yv = tape.value(y).unwrap();
    let grads = tape.backward_with(y, Tensor::new(&[s.words, ftot], g.clone()).unwrap()).unwrap();
    close_rel("char_conv y against the tape", &got[0], yv.data());
    close_rel("char_conv dx against the tape", &got[1], grads.get(xv).unwrap().data());
    for (i, &(w, b)) in ks.iter().enumerate() {
        close_rel("char_conv dW against the tape", &got[2 + 2 * i], grads.get(w).unwrap().data());
        close_rel("char_conv db against the tape", &got[3 + 2 * i], grads.get(b).unwrap().data());
    }
}

#[test]
fn the_elementwise_and_linear_primitives_agree() {
    use hotflip::ops::{BinaryKind, Unary};
    let (cpu, cuda) = devices();
    let mut rng = Rng::new(0xE1E);
    let (rows, n_in, n_out) = (7, 5, 4);
    let (x, w, b) = (randn(&mut rng, rows * n_in), randn(&mut rng, n_out * n_in), randn(&mut rng, n_out));
    both(&cpu, &cuda, "linear", 1e-5, |d| {
        let (xd, wd, bd) = (d.upload(&x).unwrap(), d.upload(&w).unwrap(), d.upload(&b).unwrap());
        let mut out = d.to_host(&d.linear(&xd, &wd, Some(&bd), (rows, n_in, n_out)).unwrap()).unwrap();
        out.extend(d.to_host(&d.linear(&xd, &wd, None, (rows, n_in, n_out)).unwrap()).unwrap());
        out.extend(d.to_host(&d.col_sums(&xd, n_in).unwrap()).unwrap());
        out
    });
    let (a, c) = (randn(&mut rng, 40), randn(&mut rng, 40));
    for op in [Unary::Sigmoid, Unary::Relu, Unary::Tanh] {
        both(&cpu, &cuda, "unary", 1e-5, |d| {
            let ad = d.upload(&a).unwrap();
            let y = d.unary(op, &ad).unwrap();
            let mut out = d.to_host(&y).unwrap();
            out.extend(d.to_host(&d.unary_bwd(op, &ad, &y, &d.upload(&c).unwrap()).unwrap()).unwrap());
            out
        });
    }
    for kind in [BinaryKind::Add, BinaryKind::Sub, BinaryKind::Mul] {
        both(&cpu, &cuda, "binary", 0.0, |d| {
            d.to_host(&d.binary(kind, &d.upload(&a).unwrap(), &d.upload(&c).unwrap()).unwrap()).unwrap()
        });
    }
}

/// The nearest-word primitives (iAdvT's `Device::iadvt`, iVAT's
/// `nn_search` → `nn_alpha` → `nn_perturb` and `nn_project`) on the
/// emulated device against the CPU device (the CPU functions of
/// `ops::neighbours`), with a search split over several vocabulary tiles,
/// two examples and both α scopes; a search result of one device refused by
/// the other.
#[test]
fn the_neighbour_primitives_agree_with_the_cpu_device() {
    use hotflip::backend::{IadvtArgs, NearestArgs};
    use hotflip::ops::neighbours::{AlphaScope, IadvtConfig};
    let (cpu, cuda) = devices();
    let mut rng = Rng::new(0x1AD);
    let (vocab, dim, k) = (300, 5, 4);
    let table = randn(&mut rng, vocab * dim);
    let lengths = [3, 4];
    let ids: Vec<usize> = (0..7).map(|_| 2 + rng.below(vocab - 2)).collect();
    let w: Vec<f32> = ids.iter().flat_map(|&i| table[i * dim..(i + 1) * dim].to_vec()).collect();
    let (g, raw) = (randn(&mut rng, ids.len() * dim), randn(&mut rng, ids.len() * k));
    for scope in [AlphaScope::PerExample, AlphaScope::PerPosition] {
        both(&cpu, &cuda, "iadvt", 1e-4, |d| {
            let (t, wv, gv) = (d.upload(&table).unwrap(), d.upload(&w).unwrap(), d.upload(&g).unwrap());
            let cfg = IadvtConfig { k, eps: 2.0, scope };
            let a = IadvtArgs { table: &t, vocab, dim, ids: &ids, w: &wv, g: &gv, lengths: &lengths, cfg };
            d.to_host(&d.iadvt(a).unwrap()).unwrap()
        });
        both(&cpu, &cuda, "nn_search/alpha/perturb/project", 1e-4, |d| {
            let (t, wv, gv) = (d.upload(&table).unwrap(), d.upload(&w).unwrap(), d.upload(&g).unwrap());
            let at = NearestArgs { table: &t, vocab, dim, ids: &ids, w: &wv };
            let near = d.nn_search(at, k).unwrap();
            let alpha = d.nn_alpha(&d.upload(&raw).unwrap(), k, &lengths, scope, 0.5).unwrap();
            let mut out = d.to_host(&alpha).unwrap();
            out.extend(d.to_host(&d.nn_perturb(at, &near, &alpha).unwrap()).unwrap());
            out.extend(d.to_host(&d.nn_project(at, &near, &gv).unwrap()).unwrap());
            out
        });
    }
    let (t, wv) = (cpu.upload(&table).unwrap(), cpu.upload(&w).unwrap());
    let near = cpu.nn_search(NearestArgs { table: &t, vocab, dim, ids: &ids, w: &wv }, k).unwrap();
    let (tc, wc, gc) = (cuda.upload(&table).unwrap(), cuda.upload(&w).unwrap(), cuda.upload(&g).unwrap());
    let on_cuda = NearestArgs { table: &tc, vocab, dim, ids: &ids, w: &wc };
    assert!(cuda.nn_project(on_cuda, &near, &gc).is_err(), "a CPU search used on the CUDA device");
}
