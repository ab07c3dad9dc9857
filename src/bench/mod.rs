//! Benchmark workloads shared by `hotflip bench` and the criterion benches
//! (shared/spec/BENCHMARKS.md).

pub mod advstep;
pub mod engine;
pub mod gemm;
pub mod neighbours;
pub mod score;
pub mod train;

/// Median of a non-empty sample (seconds).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}
