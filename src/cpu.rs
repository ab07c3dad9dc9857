//! Shared CPU loop helpers: rayon where the work pays for the fork, plain
//! loops below that. Every helper splits work into fixed chunks that do not
//! depend on the thread count, so results are bit-identical at any `--threads`.

use rayon::prelude::*;

/// Below this many elements an elementwise pass stays on one thread.
pub const PAR_MIN: usize = 1 << 14;
/// Elements per parallel task.
pub const CHUNK: usize = 1 << 12;

/// `out[i] = f(a[i])`.
pub fn map(a: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    debug_assert_eq!(a.len(), out.len());
    if a.len() < PAR_MIN {
        out.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x));
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .for_each(|(o, a)| o.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x)));
    }
}

/// `f(a_chunk, out_chunk)` over matching fixed-size chunks: a slice kernel,
/// parallel over chunks when the input is large.
pub fn map_slices(a: &[f32], out: &mut [f32], f: impl Fn(&[f32], &mut [f32]) + Sync) {
    debug_assert_eq!(a.len(), out.len());
    if a.len() < PAR_MIN {
        f(a, out);
    } else {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).for_each(|(o, a)| f(a, o));
    }
}

/// `out[i] = f(a[i], b[i])`.
pub fn zip_map(a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    debug_assert!(a.len() == out.len() && b.len() == out.len());
    if a.len() < PAR_MIN {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    } else {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(o, (a, b))| {
            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        });
    }
}

/// `out[i] = f(a[i], b[i], c[i])`.
pub fn zip3_map(a: &[f32], b: &[f32], c: &[f32], out: &mut [f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) {
    debug_assert!(a.len() == out.len() && b.len() == out.len() && c.len() == out.len());
    let run = |o: &mut [f32], a: &[f32], b: &[f32], c: &[f32]| {
        for i in 0..o.len() {
            o[i] = f(a[i], b[i], c[i]);
        }
    };
    if a.len() < PAR_MIN {
        run(out, a, b, c);
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK).zip(c.par_chunks(CHUNK)))
            .for_each(|((o, a), (b, c))| run(o, a, b, c));
    }
}

/// `acc[i] += g[i]`.
pub fn add_assign(acc: &mut [f32], g: &[f32]) {
    debug_assert_eq!(acc.len(), g.len());
    if acc.len() < PAR_MIN {
        acc.iter_mut().zip(g).for_each(|(a, &b)| *a += b);
    } else {
        acc.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .for_each(|(a, g)| a.iter_mut().zip(g).for_each(|(a, &b)| *a += b));
    }
}

/// Runs `f(row_index, row)` over the rows of `out` (each `width` long),
/// in parallel when there is enough work.
pub fn for_rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if width == 0 {
        return;
    }
    if out.len() < PAR_MIN {
        out.chunks_mut(width).enumerate().for_each(|(i, r)| f(i, r));
    } else {
        let rows_per_task = (CHUNK / width).max(1);
        out.par_chunks_mut(rows_per_task * width).enumerate().for_each(|(t, block)| {
            for (j, r) in block.chunks_mut(width).enumerate() {
                f(t * rows_per_task + j, r);
            }
        });
    }
}

/// Column sums of a row-major `[rows, width]` matrix, summed in a fixed order.
pub fn col_sums(a: &[f32], width: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; width];
    if width == 0 {
        return out;
    }
    let rows = a.len() / width;
    if a.len() < PAR_MIN {
        for r in a.chunks(width) {
            add_assign(&mut out, r);
        }
        return out;
    }
    // Fixed blocks of rows, partial sums added in block order: deterministic.
    let block = 64;
    let partials: Vec<Vec<f32>> = (0..rows.div_ceil(block))
        .into_par_iter()
        .map(|b| {
            let mut p = vec![0.0f32; width];
            for r in (b * block)..((b + 1) * block).min(rows) {
                p.iter_mut().zip(&a[r * width..(r + 1) * width]).for_each(|(p, &x)| *p += x);
            }
            p
        })
        .collect();
    for p in partials {
        add_assign(&mut out, &p);
    }
    out
}

/// Sum in f64, in a fixed order.
pub fn sum(a: &[f32]) -> f64 {
    if a.len() < PAR_MIN {
        return a.iter().map(|&x| x as f64).sum();
    }
    let partials: Vec<f64> = a.par_chunks(CHUNK).map(|c| c.iter().map(|&x| x as f64).sum()).collect();
    partials.iter().sum()
}

/// Sum of squares in f64, in a fixed order.
pub fn sum_sq(a: &[f32]) -> f64 {
    if a.len() < PAR_MIN {
        return a.iter().map(|&x| x as f64 * x as f64).sum();
    }
    let partials: Vec<f64> = a.par_chunks(CHUNK).map(|c| c.iter().map(|&x| x as f64 * x as f64).sum()).collect();
    partials.iter().sum()
}

/// The distinct rows among `n` rows of `len` values: the first occurrence
/// of each, in order, and for every row the index of its distinct row in
/// that list. Rows are equal when their bits are. Ops whose result for a
/// row depends on that row alone compute each distinct row once (beam
/// entries of one document share all but a few words).
pub fn distinct_rows(data: &[f32], n: usize, len: usize) -> (Vec<usize>, Vec<usize>) {
    use std::collections::HashMap;
    let row = |i: usize| &data[i * len..(i + 1) * len];
    // FxHash's multiply-rotate over the bits, where SipHash would cost a
    // sizeable share of the work it saves; four independent lanes (values
    // i mod 4), so that the multiplies overlap instead of waiting on each
    // other's latency, folded together at the end.
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let step = |h: u64, v: f32| (h.rotate_left(5) ^ v.to_bits() as u64).wrapping_mul(K);
    let hash = |r: &[f32]| {
        let mut lanes = [len as u64, 1, 2, 3];
        let mut quads = r.chunks_exact(4);
        for q in &mut quads {
            for (h, &v) in lanes.iter_mut().zip(q) {
                *h = step(*h, v);
            }
        }
        let tail = quads.remainder().iter().fold(lanes[0], |h, &v| step(h, v));
        lanes[1..].iter().fold(tail, |h, &l| (h.rotate_left(5) ^ l).wrapping_mul(K))
    };
    // The key is already a hash: the table uses it as is. Per hash the last
    // distinct row with it, and per distinct row the previous one with the
    // same hash (a chain, almost always of one).
    let mut last: HashMap<u64, usize, std::hash::BuildHasherDefault<KeyIsHash>> =
        HashMap::with_capacity_and_hasher(n, Default::default());
    let mut prev_same: Vec<Option<usize>> = Vec::new();
    let mut uniq = Vec::new();
    let mut map = Vec::with_capacity(n);
    for i in 0..n {
        let r = row(i);
        let h = hash(r);
        let mut at = last.get(&h).copied();
        while let Some(u) = at {
            if row(uniq[u]).iter().zip(r).all(|(a, b)| a.to_bits() == b.to_bits()) {
                break;
            }
            at = prev_same[u];
        }
        match at {
            Some(u) => map.push(u),
            None => {
                let u = uniq.len();
                prev_same.push(last.insert(h, u));
                map.push(u);
                uniq.push(i);
            }
        }
    }
    (uniq, map)
}

/// A `Hasher` for keys that are already hashes (`distinct_rows`).
#[derive(Default)]
struct KeyIsHash(u64);

impl std::hash::Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[cfg(test)]
mod tests {
    use super::distinct_rows;
    use crate::rng::Rng;

    #[test]
    fn distinct_rows_equal_the_quadratic_reference() {
        let mut rng = Rng::new(7);
        for len in [1, 3, 4, 7, 16, 33] {
            // Few distinct rows, repeated; -0.0 and 0.0 differ by their bits.
            let protos: Vec<Vec<f32>> = (0..6)
                .map(|p| match p {
                    0 => vec![0.0; len],
                    1 => vec![-0.0; len],
                    2 => vec![f32::NAN; len],
                    _ => (0..len).map(|_| rng.normal()).collect(),
                })
                .collect();
            let n = 50;
            let data: Vec<f32> = (0..n).flat_map(|_| protos[rng.below(protos.len())].clone()).collect();
            let (uniq, map) = distinct_rows(&data, n, len);
            let row = |i: usize| data[i * len..(i + 1) * len].iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let mut want_uniq: Vec<usize> = Vec::new();
            let mut want_map = Vec::new();
            for i in 0..n {
                match want_uniq.iter().position(|&u| row(u) == row(i)) {
                    Some(k) => want_map.push(k),
                    None => {
                        want_map.push(want_uniq.len());
                        want_uniq.push(i);
                    }
                }
            }
            assert_eq!((uniq, map), (want_uniq, want_map), "len {len}");
        }
    }
}
