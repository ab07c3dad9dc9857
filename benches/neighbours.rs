//! W4 at a smaller size (BENCHMARKS.md; `hotflip bench nn` runs the full
//! one): iAdvT's nearest-neighbour directions for 1,280 positions (one W1
//! batch of 32 × 40 words) against a 10,000-word table, D 256, K 10, on the
//! CPU. Throughput is counted in the search's flops, 2·P·V·D.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotflip::bench::neighbours::Workload;
use hotflip::ops::neighbours::{search, sq_norms};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_w4");
    g.sample_size(10);
    let wl = Workload::new(1280, 10_000, 256, 10, 0).expect("workload");
    g.throughput(Throughput::Elements(wl.flops() as u64));
    g.bench_function("iadvt_1280x10000x256_k10", |b| b.iter(|| wl.run_cpu().expect("iadvt")));
    let norms = sq_norms(wl.table());
    g.bench_function("search_1280x10000x256_k10", |b| {
        b.iter(|| search(wl.table(), &norms, &wl.ids, &wl.w, 10).expect("search"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
