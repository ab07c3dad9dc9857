//! Recycled f32 buffers: tensor storage and op scratch that skip the zeroing.
//!
//! A forward/backward pass allocates the same large buffers step after step
//! and then overwrites every element: `vec![0.0; n]` paid a memset (the
//! allocator's `calloc` on recycled memory) for values nobody read, 9–12% of
//! an attack (`perf`, BENCHMARKS.md "zero16"). A [`Buf`] returns its storage
//! to a per-thread pool when dropped, and [`Buf::scratch`] hands it out again
//! without clearing it. The stale values are initialised f32s (no `unsafe`),
//! so a caller that forgot to write an element would compute with a stale
//! number, never with undefined memory; debug builds (every test) fill scratch
//! buffers with NaN so that such a bug makes results NaN and tests fail.
//!
//! Free buffers are kept in size classes (four per octave); a request for
//! `n` takes a buffer of capacity ≥ `n` from the class of `n` (the same
//! shapes recur step after step) or from the class above, and a fresh one is
//! allocated at exactly `n` (no rounding, which would raise peak memory by
//! an eighth on average). A thread's pool holds at most [`pool_bytes`] (a step's
//! worth of tensors, so that one step's buffers serve the next); when full,
//! the buffers freed longest ago go back to the allocator, so the pool
//! follows the shapes in use and peak memory grows by at most that bound.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

/// Buffers below this many floats go to the allocator as before: small
/// blocks are cheap to clear and plentiful.
pub const MIN_POOLED: usize = 1024;

/// Most bytes of free buffers one thread keeps, unless `HOTFLIP_POOL_MB`
/// says otherwise (0 turns recycling off).
pub const POOL_BYTES: usize = 8 << 20;

/// The bound in force: [`POOL_BYTES`] or `HOTFLIP_POOL_MB` mebibytes.
pub fn pool_bytes() -> usize {
    static BYTES: OnceLock<usize> = OnceLock::new();
    *BYTES.get_or_init(|| {
        std::env::var("HOTFLIP_POOL_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(POOL_BYTES, |mb| mb << 20)
    })
}

/// The size class of a capacity: `(index, class value ≤ cap)` with four
/// classes per octave, values `m·2^k` for m in 4..8.
fn floor_class(cap: usize) -> (usize, usize) {
    debug_assert!(cap >= 4);
    let k = (usize::BITS - 1 - cap.leading_zeros()) as usize - 2;
    let m = cap >> k;
    (4 * k + (m - 4), m << k)
}

/// The smallest class value ≥ `n`, and its index.
fn ceil_class(n: usize) -> (usize, usize) {
    let (i, v) = floor_class(n);
    if v == n {
        return (i, v);
    }
    let k = i / 4;
    let m = 4 + i % 4;
    (i + 1, (m + 1) << k)
}

struct Pool {
    /// Free buffers per class with the time each was freed, oldest first.
    free: Vec<VecDeque<(u64, Vec<f32>)>>,
    bytes: usize,
    limit: usize,
    clock: u64,
}

impl Pool {
    fn new(limit: usize) -> Self {
        Pool { free: Vec::new(), bytes: 0, limit, clock: 0 }
    }

    /// A buffer of capacity ≥ `n`: the most recently freed (likeliest in
    /// cache) of the few newest in `n`'s class that fit, else the newest of
    /// the class above (whose capacities all exceed `n`).
    fn take(&mut self, n: usize) -> Option<Vec<f32>> {
        let (lo, _) = floor_class(n);
        let (hi, _) = ceil_class(n);
        let q = self.free.get_mut(lo)?;
        let fit = q.iter().rev().take(4).position(|(_, v)| v.capacity() >= n).map(|i| q.len() - 1 - i);
        let (_, v) = match fit {
            Some(i) => q.remove(i)?,
            None if hi != lo => self.free.get_mut(hi)?.pop_back()?,
            None => return None,
        };
        self.bytes -= 4 * v.capacity();
        Some(v)
    }

    fn give(&mut self, v: Vec<f32>) {
        let bytes = 4 * v.capacity();
        if v.capacity() < MIN_POOLED || bytes > self.limit {
            return;
        }
        while self.bytes + bytes > self.limit {
            self.evict_oldest();
        }
        let (class, _) = floor_class(v.capacity());
        if self.free.len() <= class {
            self.free.resize_with(class + 1, VecDeque::new);
        }
        self.clock += 1;
        self.bytes += bytes;
        self.free[class].push_back((self.clock, v));
    }

    /// Returns the buffer freed longest ago to the allocator.
    fn evict_oldest(&mut self) {
        let oldest = self.free.iter().enumerate().filter_map(|(c, q)| q.front().map(|(t, _)| (*t, c))).min();
        if let Some((_, c)) = oldest {
            if let Some((_, v)) = self.free[c].pop_front() {
                self.bytes -= 4 * v.capacity();
            }
        }
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::new(pool_bytes()));
}

/// An f32 vector whose storage goes back to this thread's pool when dropped.
#[derive(Default, PartialEq)]
pub struct Buf(Vec<f32>);

impl Buf {
    /// `n` floats whose values are unspecified (stale values of an earlier
    /// buffer, NaN in debug builds): for callers that write every element.
    pub fn scratch(n: usize) -> Buf {
        if n < MIN_POOLED {
            return Buf(vec![if cfg!(debug_assertions) { f32::NAN } else { 0.0 }; n]);
        }
        let recycled = POOL.try_with(|p| p.borrow_mut().take(n)).ok().flatten();
        let mut v = recycled.unwrap_or_else(|| Vec::with_capacity(n));
        if cfg!(debug_assertions) {
            v.clear();
            v.resize(n, f32::NAN);
        } else if v.len() >= n {
            v.truncate(n);
        } else {
            // Only a fresh buffer, or one last used shorter, gets written here.
            v.resize(n, 0.0);
        }
        Buf(v)
    }

    /// `n` zeros, in a recycled buffer when one is free (no page faults).
    pub fn zeroed(n: usize) -> Buf {
        if n < MIN_POOLED {
            return Buf(vec![0.0; n]);
        }
        let mut b = Buf::scratch(n);
        b.0.fill(0.0);
        b
    }

    /// `n` copies of `value`.
    pub fn full(n: usize, value: f32) -> Buf {
        let mut b = Buf::scratch(n);
        b.0.fill(value);
        b
    }

    /// A copy of `src`.
    pub fn copy_of(src: &[f32]) -> Buf {
        let mut b = Buf::scratch(src.len());
        b.0.copy_from_slice(src);
        b
    }

    /// The vector itself (it is no longer recycled).
    pub fn into_vec(mut self) -> Vec<f32> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.capacity() >= MIN_POOLED {
            // During thread teardown the pool may be gone: then the
            // allocator takes the vector back as usual.
            let _ = POOL.try_with(|p| p.borrow_mut().give(v));
        }
    }
}

impl Clone for Buf {
    fn clone(&self) -> Self {
        Buf::copy_of(&self.0)
    }
}

impl From<Vec<f32>> for Buf {
    fn from(v: Vec<f32>) -> Self {
        Buf(v)
    }
}

impl Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl std::fmt::Debug for Buf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_bracket_every_size() {
        for n in 4..5000usize {
            let (i, v) = floor_class(n);
            assert!(v <= n && n < v + v / 4 + 1, "floor {n} -> {v}");
            let (j, w) = ceil_class(n);
            assert!(w >= n && (w == n || j == i + 1), "ceil {n} -> {w}");
            assert!(floor_class(w).0 == j);
        }
    }

    #[test]
    fn a_freed_buffer_serves_the_next_request_of_its_size() {
        if pool_bytes() == 0 {
            return;
        }
        let n = 3 * MIN_POOLED + 7;
        let a = Buf::scratch(n);
        let ptr = a.as_ptr();
        drop(a);
        let b = Buf::scratch(n);
        assert_eq!(b.as_ptr(), ptr, "not recycled");
        assert_eq!(b.len(), n);
        // A smaller request of the same class is served by it too.
        drop(b);
        let c = Buf::scratch(n - 5);
        assert_eq!(c.as_ptr(), ptr);
        assert_eq!(c.len(), n - 5);
        // A larger request of the same class is not: its capacity is short.
        drop(c);
        let d = Buf::scratch(n + 1);
        assert_eq!(floor_class(n).0, floor_class(n + 1).0);
        assert_ne!(d.as_ptr(), ptr);
        assert_eq!(d.len(), n + 1);
    }

    #[test]
    fn scratch_is_nan_in_debug_and_zeroed_is_zero_after_reuse() {
        let n = 2 * MIN_POOLED;
        let mut a = Buf::scratch(n);
        assert!(!cfg!(debug_assertions) || a.iter().all(|x| x.is_nan()));
        a.fill(7.0);
        drop(a);
        let z = Buf::zeroed(n);
        assert!(z.iter().all(|&x| x == 0.0));
        assert_eq!(Buf::full(5, 2.5).to_vec(), vec![2.5; 5]);
    }

    #[test]
    fn the_pool_stays_under_its_bound() {
        // Capacity alone (never written, so no pages are touched).
        let mut pool = Pool::new(POOL_BYTES);
        let n = POOL_BYTES / 4 / 3 - 10;
        let cap = |pool: &Pool| pool.free.iter().flatten().map(|(_, v)| v.capacity()).collect::<Vec<_>>();
        for extra in 0..5 {
            pool.give(Vec::with_capacity(n + extra));
        }
        // The two freed first were evicted to make room.
        assert_eq!(pool.bytes, 4 * (3 * n + 2 + 3 + 4));
        assert_eq!(cap(&pool), vec![n + 2, n + 3, n + 4]);
        assert_eq!(pool.take(n).map(|v| v.capacity()), Some(n + 4), "newest first");
        assert_eq!(pool.bytes, 4 * (2 * n + 2 + 3));
        pool.give(Vec::with_capacity(MIN_POOLED - 1));
        pool.give(Vec::with_capacity(POOL_BYTES));
        assert_eq!(pool.bytes, 4 * (2 * n + 2 + 3), "small and oversized buffers are not kept");
    }
}
