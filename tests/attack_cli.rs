//! `hotflip attack` end to end: results, summary and report files; resuming
//! after an interruption (including a torn last line) gives the same file
//! as one uninterrupted run; settings mismatches and bad input are refused.

mod char_fixture;

use std::path::{Path, PathBuf};

use char_fixture::bin;

fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    char_fixture::setup("attack-cli", name)
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

/// The summary with the timing fields removed.
fn summary_without_timing(path: &Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let m = v.as_object_mut().unwrap();
    m.remove("seconds_per_example");
    m.remove("seconds_by_changes");
    v
}

fn attack_all(model: &Path, data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .args(["attack", "--model"])
        .arg(model)
        .args(["--dataset", "sst2", "--data-dir"])
        .arg(data)
        .args(["--batch", "3", "--beam", "2", "--tau", "0.6", "--budget", "0.3", "--no-progress", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn shards_merge_into_the_single_run() {
    let (root, data, model) = setup("shards");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let single = root.join("single.jsonl");
    let (single_summary, single_html) = (root.join("single.json"), root.join("single.html"));
    let o = attack_all(&model, &data, &single, &["--summary", &s(&single_summary), "--html", &s(&single_html)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shards: Vec<PathBuf> = (0..3).map(|i| root.join(format!("shard{i}.jsonl"))).collect();
    for (i, out) in shards.iter().enumerate() {
        let o = attack_all(&model, &data, out, &["--shard", &format!("{i}/3")]);
        assert!(o.status.success(), "shard {i}: {}", String::from_utf8_lossy(&o.stderr));
    }
    // Shard 1 holds batches 1, 4, 7, ... only.
    let idx: Vec<u64> = without_seconds(&shards[1]).iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert!(!idx.is_empty() && idx.iter().all(|i| (i / 3) % 3 == 1), "{idx:?}");
    let merged = root.join("merged.jsonl");
    let (merged_summary, merged_html) = (root.join("merged.json"), root.join("merged.html"));
    let o = bin()
        .arg("merge")
        .args(shards.iter().rev())
        .args(["--out", &s(&merged), "--summary", &s(&merged_summary), "--html", &s(&merged_html)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(without_seconds(&merged), without_seconds(&single), "merged JSONL differs from the single run's");
    assert_eq!(summary_without_timing(&merged_summary), summary_without_timing(&single_summary));
    let meta = |p: &Path| std::fs::read_to_string(format!("{}.meta.json", p.display())).unwrap();
    assert_eq!(meta(&merged), meta(&single), "the merged file records the single run's settings");
    assert!(std::fs::read_to_string(&merged_html).unwrap().contains("<html"));

    // Overlapping shards and shards of other settings are refused.
    let o = bin().arg("merge").args([&shards[0], &shards[0]]).args(["--out", &s(&root.join("x.jsonl"))]).output();
    let o = o.unwrap();
    assert!(!o.status.success(), "merged a shard with itself");
    let other = root.join("other.jsonl");
    let o = attack_all(&model, &data, &other, &["--shard", "1/3", "--seed", "5"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = bin().arg("merge").args([&shards[0], &other]).args(["--out", &s(&root.join("y.jsonl"))]).output();
    let err = String::from_utf8_lossy(&o.unwrap().stderr).to_string();
    assert!(err.contains("other settings"), "{err}");
    // A bad shard spec and a shard with a limit are refused.
    for (args, want) in [(vec!["--shard", "3/3"], "I/N"), (vec!["--shard", "0/2", "--limit", "3"], "limit")] {
        let o = attack_all(&model, &data, &root.join("z.jsonl"), &args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn batches_side_by_side_give_the_one_at_a_time_file() {
    let (root, data, model) = setup("parallel");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (one, many) = (root.join("one.jsonl"), root.join("many.jsonl"));
    let (one_summary, many_summary) = (root.join("one.json"), root.join("many.json"));
    let o = attack(&model, &data, &one, 8, &["--parallel", "1", "--summary", &s(&one_summary)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // More workers than the machine has cores: batches finish out of order
    // and the limit is reached while others run.
    let side = ["--threads", "4", "--parallel", "4"];
    let o = attack(&model, &data, &many, 8, &[&side[..], &["--summary", &s(&many_summary)]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(without_seconds(&many), without_seconds(&one));
    assert_eq!(summary_without_timing(&many_summary), summary_without_timing(&one_summary));

    // Resumed side by side from a part written one at a time.
    let part = root.join("part.jsonl");
    assert!(attack(&model, &data, &part, 3, &["--parallel", "1"]).status.success());
    let o = attack(&model, &data, &part, 8, &["--parallel", "3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(without_seconds(&part), without_seconds(&one));

    let o = attack(&model, &data, &root.join("zero.jsonl"), 3, &["--parallel", "0"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--parallel"));
    let _ = std::fs::remove_dir_all(&root);
}
