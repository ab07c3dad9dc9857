//! `hotflip attack` end to end: results, summary and report files; resuming
//! after an interruption (including a torn last line) gives the same file
//! as one uninterrupted run; settings mismatches and bad input are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use hotflip::checkpoint::{self, CheckpointConfig};
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{CharCnnLstmConfig, Model, ModelConfig};
use hotflip::nn::ParamStore;
use hotflip::{Rng, Tensor};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotflip"));
    c.args(["--threads", "1", "--device", "cpu"]);
    c
}

/// A temp folder with an SST-2-format data set of random "words" and a
/// random char model whose labels match it.
fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!("hotflip-attack-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("sst2");
    std::fs::create_dir_all(&data).unwrap();
    let mut rng = Rng::new(9);
    let alpha: Vec<char> = "abcdefgh".chars().collect();
    let line = |rng: &mut Rng| {
        let n = 3 + rng.below(6);
        let words: Vec<String> =
            (0..n).map(|_| (0..1 + rng.below(6)).map(|_| alpha[rng.below(alpha.len())]).collect()).collect();
        format!("{} {}\n", rng.below(2), words.join(" "))
    };
    for (file, n) in [("stsa.binary.train", 20), ("stsa.binary.dev", 10), ("stsa.binary.test", 40)] {
        let text: String = (0..n).map(|_| line(&mut rng)).collect();
        std::fs::write(data.join(file), text).unwrap();
    }
    let chars = Vocab::from_tokens(VocabKind::Chars, alpha.iter().map(|c| c.to_string()).collect()).unwrap();
    let words = Vocab::from_tokens(VocabKind::Words, vec!["abc".into(), "de".into()]).unwrap();
    let vocab = ModelVocab::new(chars, Some(words)).unwrap();
    let cfg = ModelConfig::CharCnnLstm(CharCnnLstmConfig {
        kernel_widths: vec![1, 2],
        kernel_filters: vec![4, 4],
        char_dim: 4,
        lstm_hidden: 6,
        max_word_len: 8,
        ..CharCnnLstmConfig::small(vocab.vocab.len(), 2)
    });
    let mut store = ParamStore::new();
    Model::new(&cfg, &mut store, &mut Rng::new(3)).unwrap();
    // Larger weights: a model whose output moves with its input.
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let t = store.get(id).clone();
        store.set(id, Tensor::new(t.shape(), t.data().iter().map(|v| v * 4.0).collect()).unwrap()).unwrap();
    }
    let labels = vec!["negative".to_string(), "positive".to_string()];
    let model = root.join("model");
    let config = CheckpointConfig {
        model: cfg,
        labels,
        lowercase: true,
        dataset: Some("sst2".into()),
        training: serde_json::Value::Null,
    };
    checkpoint::save(&model, &config, &vocab, &store, &[]).unwrap();
    (root, data, model)
}

fn attack(model: &Path, data: &Path, out: &Path, limit: usize, extra: &[&str]) -> std::process::Output {
    bin()
        .args(["attack", "--model"])
        .arg(model)
        .args(["--dataset", "sst2", "--data-dir"])
        .arg(data)
        .args([
            "--limit",
            &limit.to_string(),
            "--batch",
            "3",
            "--beam",
            "3",
            "--tau",
            "0.6",
            "--budget",
            "0.3",
            "--no-progress",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// The file's lines with the timing field (the only one that may differ
/// between runs) removed.
fn without_seconds(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

#[test]
fn results_summary_and_report() {
    let (root, data, model) = setup("files");
    let out = root.join("a.jsonl");
    let summary = root.join("a.json");
    let html = root.join("a.html");
    let o = attack(&model, &data, &out, 5, &["--summary", summary.to_str().unwrap(), "--html", html.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = without_seconds(&out);
    let attacked = lines.iter().filter(|l| l["skipped"] == false).count();
    assert_eq!(attacked, 5, "--limit counts attacked examples");
    for l in &lines {
        for field in [
            "index",
            "label",
            "orig_pred",
            "orig_prob",
            "adv_text",
            "adv_pred",
            "adv_prob",
            "success",
            "changes",
            "chars_changed",
            "frac_changed",
            "forward_passes",
            "backward_passes",
        ] {
            assert!(l.get(field).is_some(), "missing {field} in {l}");
        }
    }
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    for field in [
        "attacked",
        "skipped",
        "success_rate",
        "success_by_tau",
        "mean_frac_changed",
        "seconds_per_example",
        "op_share",
        "changes_hist",
    ] {
        assert!(s.get(field).is_some(), "summary lacks {field}: {s}");
    }
    assert_eq!(s["attacked"], 5);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("</html>"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("success rate"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn resuming_gives_the_same_file_as_one_run() {
    let (root, data, model) = setup("resume");
    let whole = root.join("whole.jsonl");
    assert!(attack(&model, &data, &whole, 9, &[]).status.success());

    // Interrupted after some examples, then continued.
    let parts = root.join("parts.jsonl");
    assert!(attack(&model, &data, &parts, 4, &[]).status.success());
    // A crash mid-write leaves a torn last line; it must be dropped and redone.
    let mut text = std::fs::read_to_string(&parts).unwrap();
    text.push_str("{\"index\": 99, \"lab");
    std::fs::write(&parts, text).unwrap();
    let o = attack(&model, &data, &parts, 9, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming"));
    assert_eq!(without_seconds(&parts), without_seconds(&whole));

    // Same command again: nothing to do, nothing changes.
    assert!(attack(&model, &data, &parts, 9, &[]).status.success());
    assert_eq!(without_seconds(&parts), without_seconds(&whole));

    // Other settings into the same file are refused.
    let o = attack(&model, &data, &parts, 9, &["--seed", "4"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("other settings"), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_same_command_gives_the_same_file() {
    let (root, data, model) = setup("determinism");
    let (a, b) = (root.join("a.jsonl"), root.join("b.jsonl"));
    assert!(attack(&model, &data, &a, 6, &["--method", "random-grad"]).status.success());
    assert!(attack(&model, &data, &b, 6, &["--method", "random-grad"]).status.success());
    assert_eq!(without_seconds(&a), without_seconds(&b));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_input_is_refused_clearly() {
    let (root, data, model) = setup("bad");
    let out = root.join("x.jsonl");
    let o = attack(&model, &data, &out, 3, &["--target", "neutral"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--target"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = attack(&root.join("nothing"), &data, &out, 3, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing"));
    std::fs::write(&out, "not json\n").unwrap();
    let o = attack(&model, &data, &out, 3, &[]);
    assert!(!o.status.success(), "a foreign file must not be appended to");
    let _ = std::fs::remove_dir_all(&root);
}
