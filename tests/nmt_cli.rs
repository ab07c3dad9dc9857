//! `hotflip bleu`, `translate`, `train --arch char_nmt` and `attack` on a
//! char_nmt model, run as a user runs them: on the PyTorch-made fixture
//! checkpoint (tests/fixtures/pytorch/char_nmt) and on a tiny synthetic
//! Multi30k-format folder. Covers the bad inputs: a line of unknown
//! characters, an empty line, a 4,000-word line, a reference file shorter
//! than the hypotheses.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn hotflip(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "1", "--device", "cpu"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running hotflip");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).expect("writing stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("hotflip output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn fails(out: &Output, what: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what} should fail cleanly:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
    stderr
}

fn temp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("hotflip-nmt-{name}-")).tempdir().expect("a temporary directory")
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/char_nmt")
}

fn last_json(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON")
}

#[test]
fn bleu_command_scores_and_rejects_misaligned_files() {
    let d = temp("bleu");
    let (h, r, short) = (d.path().join("hyp.txt"), d.path().join("ref.txt"), d.path().join("short.txt"));
    std::fs::write(&h, "a man rides a bike .\ntwo dogs play in the snow\n").unwrap();
    std::fs::write(&r, "A man rides a bike.\nTwo dogs are playing in the snow.\n").unwrap();
    std::fs::write(&short, "A man rides a bike.\n").unwrap();
    let out =
        ok(&hotflip(&["bleu", "--hyp", h.to_str().unwrap(), "--ref", r.to_str().unwrap(), "--json"], None), "bleu");
    let j = last_json(&out);
    let want = hotflip::bleu::corpus_bleu(
        &["a man rides a bike .", "two dogs play in the snow"],
        &["A man rides a bike.", "Two dogs are playing in the snow."],
    )
    .unwrap();
    assert!((j["bleu"].as_f64().unwrap() - want.bleu).abs() < 1e-9);
    assert_eq!(j["sys_len"].as_u64(), Some(want.sys_len));
    let err = fails(&hotflip(&["bleu", "--hyp", h.to_str().unwrap(), "--ref", short.to_str().unwrap()], None), "bleu");
    assert!(err.contains("hyp.txt") && err.contains("short.txt"), "{err}");
}

#[test]
fn translate_stdin_handles_empty_unknown_and_huge_lines() {
    let d = temp("translate");
    let out_file = d.path().join("out.txt");
    let huge = vec!["abc"; 4000].join(" ");
    let input = format!("abc def\n\n\u{00ff}\u{00fe} ###\n{huge}\n");
    let out = hotflip(
        &[
            "translate",
            "--model",
            fixture().to_str().unwrap(),
            "--beam",
            "3",
            "--out",
            out_file.to_str().unwrap(),
            "--json",
        ],
        Some(&input),
    );
    let j = last_json(&ok(&out, "translate"));
    assert_eq!(j["n"].as_u64(), Some(4));
    assert_eq!(j["beam"].as_u64(), Some(3));
    assert!(j["bleu"].is_null() && j["seconds"].as_f64().is_some());
    let lines: Vec<String> = std::fs::read_to_string(&out_file).unwrap().lines().map(String::from).collect();
    assert_eq!(lines.len(), 4, "one output line per input line: {lines:?}");
    assert_eq!(lines[1], "", "an empty source translates to an empty line");
    // At most max_tgt_words (6) words per translation.
    assert!(lines.iter().all(|l| l.split_whitespace().count() <= 6), "{lines:?}");
}

/// A Multi30k-format folder: German-ish and English-ish lines over the
/// letters a–j (so the fixture's vocabulary reads them too).
fn tiny_multi30k(dir: &Path) {
    let de = ["ab cd ef", "cd ef gh", "gh ab", "ef ef ab cd", "ij ab gh", "cd ij"];
    let en = ["ba dc fe", "dc fe hg", "hg ba", "fe fe ba dc", "ji ba hg", "dc ji"];
    for (stem, k) in [("train", 6), ("val", 3), ("test_2016_flickr", 4)] {
        let pick = |v: &[&str]| (0..k).map(|i| v[i % v.len()]).collect::<Vec<_>>().join("\n") + "\n";
        std::fs::write(dir.join(format!("{stem}.de")), pick(&de)).unwrap();
        std::fs::write(dir.join(format!("{stem}.en")), pick(&en)).unwrap();
    }
}

#[test]
fn train_translate_and_resume_on_tiny_data() {
    let d = temp("train");
    tiny_multi30k(d.path());
    let run = d.path().join("run");
    let data = d.path().to_str().unwrap();
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = ["train", "--arch", "char_nmt", "--dataset", "multi30k", "--data-dir", data]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(
            ["--src", "en", "--tgt", "de", "--batch", "2", "--min-count", "1", "--no-progress", "--out"]
                .map(String::from),
        );
        v.push(run.to_str().unwrap().into());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a1 = args(&["--epochs", "1"]);
    ok(&hotflip(&a1.iter().map(String::as_str).collect::<Vec<_>>(), None), "train");
    let log = std::fs::read_to_string(run.join("train_log.jsonl")).unwrap();
    let line: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!(line["dev_bleu"].as_f64().is_some() && line["tgt_tokens_per_s"].as_f64().unwrap() > 0.0);
    let cfg: Value = serde_json::from_str(&std::fs::read_to_string(run.join("best/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["arch"], "char_nmt");
    assert_eq!((cfg["src_lang"].as_str(), cfg["tgt_lang"].as_str()), (Some("en"), Some("de")));
    // Starting again into the same folder needs --resume; with it, training continues.
    fails(&hotflip(&a1.iter().map(String::as_str).collect::<Vec<_>>(), None), "train again");
    let a2 = args(&["--epochs", "2", "--resume"]);
    ok(&hotflip(&a2.iter().map(String::as_str).collect::<Vec<_>>(), None), "resume");
    assert_eq!(std::fs::read_to_string(run.join("train_log.jsonl")).unwrap().lines().count(), 2);
    // A resume must keep the settings the run was trained with (the shared trainer's check).
    let mut a3 = args(&["--epochs", "3", "--resume"]);
    let b = a3.iter().position(|x| x == "--batch").unwrap();
    a3[b + 1] = "3".into();
    let err = fails(&hotflip(&a3.iter().map(String::as_str).collect::<Vec<_>>(), None), "resume with another batch");
    assert!(err.contains("--batch 2") && err.contains("--batch 3"), "{err}");
    let out = d.path().join("test.txt");
    let t = hotflip(
        &[
            "translate",
            "--model",
            run.to_str().unwrap(),
            "--dataset",
            "multi30k",
            "--data-dir",
            data,
            "--split",
            "test",
        ]
        .into_iter()
        .chain(["--out", out.to_str().unwrap(), "--json"])
        .collect::<Vec<_>>(),
        None,
    );
    let j = last_json(&ok(&t, "translate test"));
    assert_eq!(j["n"].as_u64(), Some(4));
    assert!(j["bleu"].as_f64().is_some());
}

#[test]
fn attack_writes_fields_resumes_and_checks_goals() {
    let d = temp("attack");
    tiny_multi30k(d.path());
    let data = d.path().to_str().unwrap();
    let (out, summary, html) = (d.path().join("a.jsonl"), d.path().join("s.json"), d.path().join("r.html"));
    let model = fixture();
    let base = [
        "attack",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        "multi30k",
        "--data-dir",
        data,
        "--split",
        "test",
        "--level",
        "char",
        "--limit",
        "3",
        "--min-bleu-drop",
        "5",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut args = base.to_vec();
    args.extend(["--summary", summary.to_str().unwrap(), "--html", html.to_str().unwrap()]);
    ok(&hotflip(&args, None), "attack");
    let lines: Vec<Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    for f in ["src", "adv_src", "ref", "src_output", "adv_output", "src_bleu", "adv_bleu", "bleu_drop", "changes"] {
        assert!(lines[0].get(f).is_some(), "field {f} missing: {}", lines[0]);
    }
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    for f in ["success_rate", "success_by_bleu_drop", "op_share", "mean_frac_changed", "share_one_change"] {
        assert!(s.get(f).is_some(), "summary field {f} missing: {s}");
    }
    assert!(s["success_by_bleu_drop"].get("50").is_some());
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    // Every change respects one change per word.
    for l in &lines {
        let words: Vec<u64> = l["changes"].as_array().unwrap().iter().map(|c| c["word"].as_u64().unwrap()).collect();
        let mut uniq = words.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), words.len(), "two changes in one word: {l}");
    }
    // Rerunning continues: nothing is attacked twice.
    let again = hotflip(&base, None);
    assert!(text(&again.stderr).contains("resuming"), "{}", text(&again.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
    // Goals: bad syntax and words outside the target vocabulary are errors.
    let other = d.path().join("g.jsonl");
    for goal in ["remove:", "replace:t1", "remove:nosuchword"] {
        let mut g = base.to_vec();
        let last = g.len() - 1;
        g[last] = other.to_str().unwrap();
        g.extend(["--goal", goal]);
        let err = fails(&hotflip(&g, None), goal);
        assert!(err.contains("--goal"), "{err}");
    }
    let mut g = base.to_vec();
    let last = g.len() - 1;
    g[last] = other.to_str().unwrap();
    g.extend(["--goal", "remove:t1", "--method", "random"]);
    ok(&hotflip(&g, None), "controlled random attack");
}

/// `attack` on a char_nmt model with `extra` flags, on the test split of `data`.
fn nmt_attack(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let model = fixture();
    let mut args = vec![
        "attack",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        "multi30k",
        "--data-dir",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--min-bleu-drop",
        "5",
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    hotflip(&args, None)
}

fn results(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn attack_methods_share_the_search_and_loss_beam_costs_more_passes() {
    let d = temp("methods");
    tiny_multi30k(d.path());
    let mut passes = Vec::new();
    for method in ["hotflip", "loss-beam", "random-grad", "random"] {
        let out = d.path().join(format!("{method}.jsonl"));
        ok(&nmt_attack(d.path(), &out, &["--method", method, "--limit", "3", "--beam", "2"]), method);
        let rs = results(&out);
        assert_eq!(rs.len(), 3, "{method}");
        passes.push(rs.iter().map(|r| r["forward_passes"].as_u64().unwrap()).sum::<u64>());
        if method == "loss-beam" {
            assert!(rs.iter().all(|r| r["backward_passes"].as_u64() == Some(0)), "{rs:?}");
        }
    }
    assert!(passes[1] > passes[0], "loss-beam evaluates every child: {passes:?}");
    // Classification-only flags are refused, not ignored.
    for flag in [["--target", "1"], ["--shard", "0/2"]] {
        let out = d.path().join("flag.jsonl");
        let err = fails(&nmt_attack(d.path(), &out, &flag), flag[0]);
        assert!(err.contains(flag[0]), "{err}");
    }
}

/// A test split with the bad source lines: only unknown
/// characters, and 4,000 words.
#[test]
fn attack_reads_unknown_characters_and_huge_lines() {
    let d = temp("badsrc");
    tiny_multi30k(d.path());
    let huge = vec!["abc"; 4000].join(" ");
    std::fs::write(d.path().join("test_2016_flickr.de"), format!("\u{00ff}\u{00fe} ###\n{huge}\nab cd\n")).unwrap();
    std::fs::write(d.path().join("test_2016_flickr.en"), "ba dc\nfe fe ba\nba dc\n").unwrap();
    let out = d.path().join("a.jsonl");
    ok(&nmt_attack(d.path(), &out, &[]), "attack on unknown characters and a huge line");
    let rs = results(&out);
    assert_eq!(rs.len(), 3);
    // The model reads the first max_src_words (8) words; the rest stay as written.
    let adv = rs[1]["adv_src"].as_str().unwrap();
    assert_eq!(adv.split(' ').count(), 4000, "the adversarial source keeps every word");
    assert!(rs[1]["changes"].as_array().unwrap().iter().all(|c| c["word"].as_u64().unwrap() < 8), "{}", rs[1]);
    assert_eq!(adv.split(' ').skip(8).collect::<Vec<_>>(), vec!["abc"; 3992]);
}

/// An empty source line, and a reference file shorter than the source.
#[test]
fn attack_and_translate_reject_empty_lines_and_short_references() {
    let d = temp("badref");
    tiny_multi30k(d.path());
    let out = d.path().join("a.jsonl");
    std::fs::write(d.path().join("test_2016_flickr.de"), "ab cd\n\ncd ef\n").unwrap();
    std::fs::write(d.path().join("test_2016_flickr.en"), "ba dc\nfe\ndc fe\n").unwrap();
    let err = fails(&nmt_attack(d.path(), &out, &[]), "attack with an empty source line");
    assert!(err.contains("test_2016_flickr.de") && err.contains('2') && err.contains("empty"), "{err}");
    // --skip-bad-rows drops that pair and attacks the others.
    ok(&nmt_attack(d.path(), &out, &["--skip-bad-rows"]), "attack skipping the empty line");
    assert_eq!(results(&out).len(), 2);
    std::fs::write(d.path().join("test_2016_flickr.de"), "ab cd\ncd ef\ngh ab\n").unwrap();
    std::fs::write(d.path().join("test_2016_flickr.en"), "ba dc\ndc fe\n").unwrap();
    let other = d.path().join("b.jsonl");
    let err = fails(&nmt_attack(d.path(), &other, &[]), "attack with a short reference file");
    assert!(err.contains("test_2016_flickr.de") && err.contains("test_2016_flickr.en"), "{err}");
    let model = fixture();
    let t = hotflip(
        &[
            "translate",
            "--model",
            model.to_str().unwrap(),
            "--dataset",
            "multi30k",
            "--data-dir",
            d.path().to_str().unwrap(),
            "--out",
            d.path().join("t.txt").to_str().unwrap(),
        ],
        None,
    );
    let err = fails(&t, "translate with a short reference file");
    assert!(err.contains("test_2016_flickr.de") && err.contains("test_2016_flickr.en"), "{err}");
}

#[test]
fn translation_batches_side_by_side_give_the_one_at_a_time_file() {
    let d = temp("parallel");
    tiny_multi30k(d.path());
    let without_seconds = |out: &Path| -> Vec<Value> {
        let mut rs = results(out);
        for r in &mut rs {
            r.as_object_mut().unwrap().remove("seconds");
        }
        rs
    };
    let (one, many) = (d.path().join("one.jsonl"), d.path().join("many.jsonl"));
    let common = ["--limit", "5", "--beam", "2", "--batch", "1"];
    ok(&nmt_attack(d.path(), &one, &[&common[..], &["--parallel", "1"]].concat()), "one at a time");
    ok(&nmt_attack(d.path(), &many, &[&common[..], &["--threads", "3", "--parallel", "3"]].concat()), "side by side");
    let (a, b) = (without_seconds(&one), without_seconds(&many));
    assert!(a.len() >= 3, "{} results", a.len());
    assert_eq!(a, b, "the same results in the same order");
}

/// `char_nmt` has no device version yet: `--device cuda` (here the
/// emulated device) is an error that names it, and writes nothing.
#[test]
fn char_nmt_on_the_device_is_an_error_naming_it() {
    let d = temp("device");
    tiny_multi30k(d.path());
    let run = d.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "1", "--device", "cuda-emulated", "train", "--arch", "char_nmt", "--dataset", "multi30k"])
        .arg("--data-dir")
        .arg(d.path())
        .args(["--src", "en", "--tgt", "de", "--batch", "2", "--min-count", "1", "--no-progress", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    let err = fails(&out, "char_nmt on the device");
    assert!(err.contains("char_nmt does not train on the GPU yet"), "{err}");
    assert!(!run.join("last").exists(), "a refused run wrote a checkpoint");
}
