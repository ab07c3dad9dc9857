//! LSTM layer forward + backward: W1's layers (batch 32, 40 steps, 525 → 500)
//! and the small preset's (16·… → 128).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hotflip::ops::LstmWeights;
use hotflip::{Rng, Tape, Tensor};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_lstm");
    g.sample_size(20);
    let mut rng = Rng::new(3);
    for &(b, t, n_in, h) in &[(32usize, 40usize, 525usize, 500usize), (32, 40, 128, 128)] {
        let x = Tensor::randn(&[b, t, n_in], 1.0, &mut rng);
        let ws = [
            Tensor::randn(&[4 * h, n_in], 0.05, &mut rng),
            Tensor::randn(&[4 * h, h], 0.05, &mut rng),
            Tensor::randn(&[4 * h], 0.05, &mut rng),
            Tensor::randn(&[4 * h], 0.05, &mut rng),
        ];
        let lengths = vec![t; b];
        g.bench_function(BenchmarkId::new("fwd_bwd", format!("b{b}_t{t}_{n_in}to{h}")), |bch| {
            bch.iter(|| {
                let tape = Tape::new();
                let xv = tape.leaf(x.clone());
                let w = LstmWeights {
                    w_ih: tape.leaf(ws[0].clone()),
                    w_hh: tape.leaf(ws[1].clone()),
                    b_ih: tape.leaf(ws[2].clone()),
                    b_hh: tape.leaf(ws[3].clone()),
                };
                let y = tape.lstm_layer(xv, w, &lengths, false).unwrap();
                let s = tape.sum(y).unwrap();
                tape.backward(s).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
