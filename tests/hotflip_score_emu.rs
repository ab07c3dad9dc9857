//! kernels/hotflip_score.cu run on the CPU and compared with its twin.
//!
//! There is no GPU here: the kernel file is compiled as C++ with
//! tests/cuda_emu/cuda_shim.h (every thread a fiber, barriers and warp
//! shuffles emulated, shared memory guarded) and run on the inputs
//! `hotflip::attack::score::cuda` would upload, with the block sizes
//! the launcher uses and others, threads scheduled in order and in reverse.
//! Both kernels' lists must equal the twin's bit for bit (the kernel rounds
//! every step as `score::chars::for_each_edit` does), and the host's
//! per-group merge of them must equal `top_children`.
//!
//! What this cannot show (a GPU can, with `hotflip device`): the hardware's
//! warp and memory semantics, NVRTC's code generation, shared-memory limits,
//! timing. Needs a C++17 compiler (`$CXX`, else `c++`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hotflip::attack::char_doc::{CharDoc, CharEdit};
use hotflip::attack::score::chars::{top_children, Candidate};
use hotflip::attack::score::cuda::{
    compare_all, finish_on_host, twin_entries, twin_rows, twin_scores, Case, CaseSize, HostInputs, HostTops, Lists,
    MERGE_THREADS, SCORE_THREADS,
};
use hotflip::Rng;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator binary, built once per test process.
fn emulator() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cuda_emu");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join(format!("hotflip_score_emu_{}", std::process::id()));
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
        let out = Command::new(&cxx)
            .args(["-std=c++17", "-O2", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra", "-o"])
            .arg(&bin)
            .arg(root().join("tests/cuda_emu/hotflip_score_main.cpp"))
            .output()
            .unwrap_or_else(|e| panic!("running the C++ compiler `{cxx}` (set CXX): {e}"));
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "compiling the emulator failed:\n{log}");
        assert!(log.trim().is_empty(), "the kernel or the emulator compiles with warnings:\n{log}");
        bin
    })
}

fn put<T: Copy>(buf: &mut Vec<u8>, xs: &[T], bytes: impl Fn(T) -> Vec<u8>) {
    for &x in xs {
        buf.extend(bytes(x));
    }
}

struct Take<'a>(&'a [u8]);

impl Take<'_> {
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        self.bytes(n * 4).chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    }
    fn u32s(&mut self, n: usize) -> Vec<u32> {
        self.bytes(n * 4).chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
    }
    fn u64s(&mut self, n: usize) -> Vec<u64> {
        self.bytes(n * 8).chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect()
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn tops(&mut self, lists: usize, cap: usize) -> HostTops {
        let total = self.f32s(lists * cap);
        let gain = self.f32s(lists * cap);
        let edit = self.u64s(lists * cap);
        let count = self.u32s(lists);
        HostTops { lists, cap, total, gain, edit, count }
    }
}

/// Runs both kernels in the emulator: (row lists, entry lists).
fn run(
    host: &HostInputs,
    grads: &[f32],
    table_t: &[f32],
    cap: usize,
    threads: (u32, u32),
    reverse: bool,
) -> (HostTops, HostTops) {
    let s = host.shape;
    let mut buf = Vec::new();
    let header = [
        0x3153_4648u32,
        s.entries as u32,
        s.words as u32,
        s.positions as u32,
        s.dim as u32,
        s.vocab as u32,
        cap as u32,
        threads.0,
        threads.1,
        reverse as u32,
        s.score_smem_bytes() as u32,
        s.merge_smem_bytes() as u32,
    ];
    let le32 = |x: u32| x.to_le_bytes().to_vec();
    let lef = |x: f32| x.to_le_bytes().to_vec();
    put(&mut buf, &header, le32);
    put(&mut buf, grads, lef);
    put(&mut buf, &host.ids, le32);
    put(&mut buf, table_t, lef);
    put(&mut buf, &host.chars, le32);
    put(&mut buf, &host.allowed, le32);
    put(&mut buf, &host.open, le32);
    put(&mut buf, &host.lengths, le32);
    put(&mut buf, &host.unseen, le32);
    put(&mut buf, &host.parent, lef);
    let dir = tempdir();
    let (inp, outp) = (dir.join("in.bin"), dir.join("out.bin"));
    std::fs::File::create(&inp).unwrap().write_all(&buf).unwrap();
    let out = Command::new(emulator()).arg(&inp).arg(&outp).output().unwrap();
    assert!(out.status.success(), "emulator failed: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&outp).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let mut take = Take(&bytes);
    let rows = take.tops(s.rows(), cap);
    let entries = take.tops(s.entries, cap);
    assert!(take.0.is_empty(), "the output file is longer than expected");
    (rows, entries)
}

fn tempdir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cuda_emu/run_{}_{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Lists equal bit for bit (f32 `==` would let -0 equal +0).
fn assert_same(got: &[Vec<Candidate>], want: &[Vec<Candidate>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: list count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let key = |c: &Candidate| (c.entry, c.edit, c.total.to_bits(), c.gain.to_bits());
        let (g, w): (Vec<_>, Vec<_>) = (g.iter().map(key).collect(), w.iter().map(key).collect());
        assert_eq!(g, w, "{what}: list {i}");
    }
}

fn check_case(case: &Case, threads: (u32, u32), reverse: bool) {
    let (cap, keep, groups) = (case.cap(), case.keep, case.n_groups);
    case.with_twin(|t, entries| {
        let host = HostInputs::new(t, entries).unwrap();
        let (rows, lists) = run(&host, t.grads, t.table_t, cap, threads, reverse);
        let got_rows = rows.decode(host.shape, Lists::Rows).unwrap();
        let got = lists.decode(host.shape, Lists::Entries).unwrap();
        let tag = format!("{:?} cap {cap} threads {threads:?} reverse {reverse}", host.shape);
        assert_same(&got_rows, &twin_rows(t, entries, cap), &format!("rows, {tag}"));
        assert_same(&got, &twin_entries(t, entries, cap), &format!("entries, {tag}"));
        // The self-check's comparison agrees, with nothing to forgive.
        let e = compare_all(&got, &twin_entries(t, entries, cap), &twin_scores(t, entries, &got), 1e-4).unwrap();
        assert_eq!(e, 0.0, "{tag}");
        let none = |_: &CharDoc, _: &CharEdit| false;
        let by_groups = finish_on_host(got, entries, groups, keep, &none, cap).unwrap();
        assert_eq!(by_groups, top_children(t, entries, groups, keep, &none), "groups, {tag}");
    });
}

#[test]
fn the_emulator_catches_a_missing_barrier_and_a_shared_memory_overflow() {
    let out = Command::new(emulator()).arg("--shim-selftest").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("shim ok"), "{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(3), "the overflow must be fatal: {stdout}{stderr}");
    assert!(stderr.contains("past the launch's dynamic shared memory"), "{stderr}");
}

#[test]
fn kernels_match_the_twin_on_small_random_steps() {
    let mut rng = Rng::new(0x5C0E);
    let size = CaseSize { entries: 4, words: 6, positions: 8, dim: 6, vocab: 14, keep: 6 };
    let threads = [(32, 32), (64, 96), (SCORE_THREADS, MERGE_THREADS)];
    for trial in 0..18 {
        let case = Case::random(&mut rng, size);
        check_case(&case, threads[trial % 3], trial % 2 == 1);
    }
}

#[test]
fn kernels_match_the_twin_on_a_larger_step() {
    // Many candidates per thread and a cap of 2·keep = 20, as in W5.
    let mut rng = Rng::new(0x5C0F);
    let size = CaseSize { entries: 3, words: 12, positions: 16, dim: 25, vocab: 100, keep: 10 };
    let mut case = Case::random(&mut rng, size);
    case.keep = 10;
    for reverse in [false, true] {
        check_case(&case, (SCORE_THREADS, MERGE_THREADS), reverse);
    }
}
