//! `train --device cuda` for `lstm_classifier` end to end without a GPU:
//! the hidden `--device cuda-emulated` trains the steps on the emulated
//! device (the kernels' sources on the CPU, through the same launchers)
//! through the ordinary trainer (epochs, dev evaluation, best/ and last/,
//! a resume from last/), plain and with `--adv advt` / `iadvt` (the
//! neighbour pipeline on the device) / `vat` / `ivat`, and `bilstm_tagger`
//! on FCE-format data, plain and with the same four. Its checkpoints must be the CPU
//! run's (weights within 1e-4 of their scale); what stays on the CPU is an
//! error naming it. Needs a C++17 compiler.

#[path = "char_fixture/mod.rs"]
mod char_fixture;

#[path = "common/device_train.rs"]
mod device_train;

use std::path::Path;

use device_train::{
    emulated_run_matches_the_cpu_run, hotflip_train, ok, on_the_emulated_device, same_dev_figures, same_weights,
};

const ARCH: &str = "lstm_classifier";

#[test]
fn the_emulated_device_trains_and_resumes_to_the_cpu_runs_checkpoint() {
    let (root, data, _) = char_fixture::setup("train-device-words", "plain");
    device_train::trains_and_resumes_to_the_cpu_runs_checkpoint(ARCH, &root, &data);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn embedding_adversaries_on_the_emulated_device_match_the_cpu_runs() {
    for adv in ["advt", "iadvt", "vat", "ivat"] {
        let (root, data, _) = char_fixture::setup("train-device-words", adv);
        // (i)VAT's power iteration differentiates KL(p ‖ q(x + ξd)) at
        // ξ = 0.1, where q − p is ~1e-3 of p: f32 rounding anywhere in the
        // passes moves its direction (the CPU device, which runs the tape's
        // own LSTM and neighbour functions, differs from the tape by 1e-4 to
        // 1e-3 in one step's gradients), and Adam turns that into weight
        // differences (measured: VAT 3.3e-4, iVAT 8.3e-3 of the scale after
        // 3 steps, where AdvT and iAdvT agree to 2e-5; BENCHMARKS.md dev13).
        // tests/train_device_words.rs checks them at 1e-4 on a small model.
        let tol = match adv {
            "vat" => 2e-3,
            "ivat" => 2e-2,
            _ => 1e-4,
        };
        emulated_run_matches_the_cpu_run(ARCH, &root, &data, &["--epochs", "1", "--adv", adv], tol);
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// FCE-format TSV (a token and its label `c`/`i` per line, a blank line
/// between sentences): misspellings tagged `i`, filler words `c`.
fn write_fce(dir: &Path) {
    const ERRORS: [&str; 3] = ["teh", "recieve", "wich"];
    const WORDS: [&str; 8] = ["i", "will", "go", "to", "the", "shop", "which", "we"];
    let mut rng = hotflip::Rng::new(5);
    for (split, n) in [("train", 24), ("dev", 8), ("test", 8)] {
        let mut s = String::new();
        for _ in 0..n {
            for _ in 0..3 + rng.below(5) {
                if rng.below(4) == 0 {
                    s += &format!("{}\ti\n", ERRORS[rng.below(ERRORS.len())]);
                } else {
                    s += &format!("{}\tc\n", WORDS[rng.below(WORDS.len())]);
                }
            }
            s.push('\n');
        }
        std::fs::write(dir.join(format!("fce-public.{split}.original.tsv")), s).unwrap();
    }
}

/// `bilstm_tagger` on FCE-format data with `extra`, on the CPU and on the
/// emulated device: the emulated last/ within `tol` of the CPU's.
fn tagger_runs_match(case: &str, extra: &[&str], tol: f32) {
    let root = std::env::temp_dir().join(format!("hotflip-train-device-tagger-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("fce");
    std::fs::create_dir_all(&data).unwrap();
    write_fce(&data);
    let run = |device: &str, out: &Path| {
        let mut args = vec!["--batch", "8", "--epochs", "1", "--clip", "1", "--seed", "4", "--no-progress"];
        args.extend_from_slice(extra);
        hotflip_train(device, "bilstm_tagger", "fce", &data, out, &args)
    };
    let (cpu_out, emu_out) = (root.join("cpu"), root.join("emu"));
    ok(&run("cpu", &cpu_out), "cpu run");
    on_the_emulated_device(&ok(&run("cuda-emulated", &emu_out), "emulated run"), &format!("bilstm_tagger {extra:?}"));
    same_weights(&emu_out.join("last"), &cpu_out.join("last"), tol);
    if extra.is_empty() {
        // Plain: the dev evaluations (on the device) score as the CPU's.
        same_dev_figures(&emu_out, &cpu_out);
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_tagger_on_the_emulated_device_matches_the_cpu_run() {
    tagger_runs_match("plain", &[], 1e-4);
}

/// `--adv advt|iadvt|vat|ivat` for the tagger (its losses over the real
/// tokens). (i)VAT twice: at `--xi 3`, where its KL direction is not
/// rounding-bound, within 1e-4 (VAT; measured 3.3e-5) and 3e-4 (iVAT;
/// 1.1e-4); at the paper's ξ = 0.1 within 1e-2 and 5e-2 (measured 4.2e-3
/// and 1.4e-2, and 1.3e-3 and 1.6e-3 at ξ = 1: the gap shrinks with ξ, as
/// rounding amplified by the small step would; BENCHMARKS.md tidy13).
#[test]
fn the_tagger_with_embedding_adversaries_on_the_emulated_device_matches_the_cpu_runs() {
    let runs: [(&str, &str, f32); 11] = [
        ("advt", "0.1", 1e-4),
        ("iadvt", "0.1", 1e-4),
        ("vat", "3", 1e-4),
        ("ivat", "3", 3e-4),
        ("vat", "0.1", 1e-2),
        ("ivat", "0.1", 5e-2),
        ("random", "0.1", 1e-4),
        ("iadvt-rand", "0.1", 1e-4),
        ("iadvt-best", "0.1", 5e-4),
        ("word-unk", "0.1", 1e-4),
        ("word-sem", "0.1", 1e-4),
    ];
    for (adv, xi, tol) in runs {
        tagger_runs_match(&format!("{adv}-{xi}"), &["--adv", adv, "--xi", xi], tol);
    }
}
