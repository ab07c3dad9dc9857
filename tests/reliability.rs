//! Issue 11: bad input, first use and concurrency. Each test is a case that
//! failed before its fix: checkpoints with sizes left out or contradicted,
//! configs that would allocate what the file does not hold, BOMs, empty
//! splits, flags out of range, help texts, and the CLI's chatter.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hotflip::checkpoint::{self, tensors, CheckpointConfig};
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{Model, ModelConfig, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::Rng;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hotflip-reliability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn bin(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotflip"));
    c.args(["--threads", "1", "--device", "cpu"]).args(args);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const WORDS: [&str; 8] = ["good", "bad", "film", "plot", "great", "dull", "the", "a"];

/// A small word_cnn checkpoint in `dir` (vocabulary WORDS, labels
/// negative/positive), written by this project.
fn word_model(dir: &Path, edit: impl FnOnce(&mut WordCnnConfig)) -> (CheckpointConfig, ModelVocab, ParamStore) {
    let vocab = Vocab::from_tokens(VocabKind::Words, WORDS.iter().map(|w| w.to_string()).collect()).unwrap();
    let vocab = ModelVocab::new(vocab, None).unwrap();
    let mut cfg = WordCnnConfig {
        embed_dim: 4,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![3, 3],
        max_words: 6,
        ..WordCnnConfig::small(vocab.vocab.len(), 2)
    };
    edit(&mut cfg);
    let model = ModelConfig::WordCnn(cfg);
    let mut store = ParamStore::new();
    Model::new(&model, &mut store, &mut Rng::new(5)).unwrap();
    let config = CheckpointConfig {
        model,
        labels: vec!["negative".into(), "positive".into()],
        lowercase: true,
        dataset: Some("sst2".into()),
        training: serde_json::Value::Null,
    };
    checkpoint::save(dir, &config, &vocab, &store, &[]).unwrap();
    (config, vocab, store)
}

/// An SST-2-format folder with the given number of lines per split.
fn sst2(dir: &Path, sizes: [usize; 3]) {
    std::fs::create_dir_all(dir).unwrap();
    for (split, n) in ["train", "dev", "test"].iter().zip(sizes) {
        let lines: String = (0..n).map(|i| format!("{} the {} film\n", i % 2, WORDS[i % 6])).collect();
        std::fs::write(dir.join(format!("stsa.binary.{split}")), lines).unwrap();
    }
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let path = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(v.as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn sizes_left_out_of_config_json_are_derived() {
    let root = scratch("minimal");
    let dir = root.join("m");
    let (config, vocab, store) = word_model(&dir, |_| {});
    edit_config(&dir, |o| {
        o.remove("vocab");
        o.remove("n_classes");
    });
    let back = checkpoint::load(&dir).unwrap();
    assert_eq!(back.config, config);
    assert_eq!(back.vocab, vocab);
    assert_eq!(back.store.by_name("embedding.weight").unwrap(), store.by_name("embedding.weight").unwrap());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn labels_that_disagree_with_n_classes_are_an_error_naming_both() {
    let root = scratch("labels");
    let dir = root.join("m");
    word_model(&dir, |_| {});
    for labels in [vec!["negative"], vec!["negative", "positive", "neutral"]] {
        let n = labels.len();
        edit_config(&dir, |o| {
            o.insert("labels".into(), serde_json::json!(labels));
        });
        let e = checkpoint::load(&dir).err().unwrap().to_string();
        assert!(e.contains(&format!("`labels` has {n} names")) && e.contains("`n_classes` 2"), "{e}");
        // With n_classes left out, the classifier's rows are the other source.
        edit_config(&dir, |o| {
            o.remove("n_classes");
        });
        let e = checkpoint::load(&dir).err().unwrap().to_string();
        assert!(
            e.contains(&format!("`labels` has {n} names"))
                && e.contains("`classifier.weight` of shape [2, 6] has 2 rows"),
            "{e}"
        );
        edit_config(&dir, |o| {
            o.insert("n_classes".into(), 2.into());
        });
    }
    // predict used to panic (exit 101) on a short label list.
    edit_config(&dir, |o| {
        o.insert("labels".into(), serde_json::json!(["negative"]));
    });
    let mut child = bin(&["predict", "--model"])
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"good film\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("`labels` has 1 names"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn config_sizes_the_file_does_not_hold_are_refused_before_allocating() {
    let root = scratch("huge");
    let dir = root.join("m");
    word_model(&dir, |_| {});
    // 10^12 floats: loading would abort (or be killed) if it allocated first.
    edit_config(&dir, |o| {
        o.insert("embed_dim".into(), 1_000_000_000_000usize.into());
    });
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("`embedding.weight`") && e.contains("[10, 4]") && e.contains("embed_dim"), "{e}");
    edit_config(&dir, |o| {
        o.insert("embed_dim".into(), 4.into());
        o.insert("kernel_widths".into(), serde_json::json!([1, 2, 3]));
        o.insert("kernel_filters".into(), serde_json::json!([3, 3, 100000000]));
    });
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("`convs.2.weight`") && e.contains("missing"), "{e}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn lstm_hidden_beyond_the_tensors_is_refused() {
    use hotflip::models::{CharCnnLstmConfig, LstmTextConfig};
    let root = scratch("lstm-hidden");
    for (k, model) in [
        ModelConfig::LstmClassifier(LstmTextConfig {
            embed_dim: 4,
            lstm_hidden: 3,
            ffnn_dim: 2,
            ..LstmTextConfig::small(12, 2)
        }),
        ModelConfig::CharCnnLstm(CharCnnLstmConfig {
            char_dim: 3,
            kernel_widths: vec![1],
            kernel_filters: vec![2],
            lstm_hidden: 3,
            ..CharCnnLstmConfig::small(12, 2)
        }),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = root.join(format!("m{k}"));
        let mut store = ParamStore::new();
        Model::new(&model, &mut store, &mut Rng::new(1)).unwrap();
        let tokens: Vec<String> = (0..10).map(|i| char::from(b'a' + i as u8).to_string()).collect();
        let kind = if model.is_char_level() { VocabKind::Chars } else { VocabKind::Words };
        let words = model.is_char_level().then(|| Vocab::from_tokens(VocabKind::Words, vec!["ab".into()]).unwrap());
        let vocab = ModelVocab::new(Vocab::from_tokens(kind, tokens).unwrap(), words).unwrap();
        let config = CheckpointConfig {
            model,
            labels: vec!["a".into(), "b".into()],
            lowercase: true,
            dataset: None,
            training: serde_json::Value::Null,
        };
        checkpoint::save(&dir, &config, &vocab, &store, &[]).unwrap();
        checkpoint::load(&dir).unwrap();
        edit_config(&dir, |o| {
            o.insert("lstm_hidden".into(), 100_000.into());
        });
        let e = checkpoint::load(&dir).err().unwrap().to_string();
        assert!(e.contains("lstm_hidden") && e.contains("`lstm.weight_ih_l0`") && e.contains("400000"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn identical_saves_write_identical_bytes() {
    let root = scratch("bytes");
    let (config, vocab, store) = word_model(&root.join("a"), |_| {});
    let first = std::fs::read(root.join("a/model.safetensors")).unwrap();
    for k in 0..8 {
        let dir = root.join(format!("b{k}"));
        checkpoint::save(&dir, &config, &vocab, &store, &[]).unwrap();
        assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), first, "save {k} differs");
    }
    // The metadata is still there, and the file still loads.
    let header = tensors::read_header(&root.join("a/model.safetensors")).unwrap();
    assert_eq!(header["embedding.weight"].shape, vec![10, 4]);
    let raw = std::fs::read(root.join("a/model.safetensors")).unwrap();
    assert!(text(&raw[..200]).contains(r#""__metadata__":{"arch":"word_cnn","format":"pt"}"#), "{}", text(&raw[..200]));
    checkpoint::load(&root.join("a")).unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn byte_order_marks_are_not_text() {
    let root = scratch("bom");
    let dir = root.join("m");
    word_model(&dir, |_| {});
    for file in ["config.json", "vocab.json"] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        std::fs::write(dir.join(file), [&b"\xEF\xBB\xBF"[..], &bytes].concat()).unwrap();
    }
    checkpoint::load(&dir).unwrap();

    let data = root.join("sst2");
    sst2(&data, [4, 2, 2]);
    for split in ["train", "dev", "test"] {
        let p = data.join(format!("stsa.binary.{split}"));
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, [&b"\xEF\xBB\xBF"[..], &bytes].concat()).unwrap();
    }
    let d = hotflip::data::load("sst2", Some(&data), Default::default()).unwrap().into_classification().unwrap();
    assert_eq!(d.train[0].label, 0);
    assert_eq!(d.train[0].text, "the good film");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn word_cnn_max_words_zero_is_refused() {
    let root = scratch("maxwords");
    let dir = root.join("m");
    word_model(&dir, |_| {});
    edit_config(&dir, |o| {
        o.insert("max_words".into(), 0.into());
    });
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("`max_words` is 0"), "{e}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_empty_split_is_an_error_naming_it() {
    let root = scratch("empty");
    let dir = root.join("m");
    word_model(&dir, |_| {});
    let data = root.join("sst2");
    sst2(&data, [4, 2, 0]);
    let out =
        bin(&["eval", "--model"]).arg(&dir).args(["--dataset", "sst2", "--data-dir"]).arg(&data).output().unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("the test split of sst2 is empty") && err.contains(&data.display().to_string()), "{err}");
    assert!(err.contains("stsa.binary"), "{err}");
    // And training on an empty training split says so too.
    sst2(&data, [0, 2, 2]);
    let out =
        bin(&["train", "--arch", "word_cnn", "--dataset", "sst2", "--epochs", "1", "--no-progress", "--data-dir"])
            .arg(&data)
            .arg("--out")
            .arg(root.join("run"))
            .output()
            .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("the train split of sst2 is empty"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn predict_reports_bad_lines_and_cut_texts_per_line() {
    let root = scratch("predict");
    let dir = root.join("m");
    word_model(&dir, |_| {});
    let input = b"good film\n\xff\xfe bad\nthe good film the good film the good film\n\ndull plot\n";
    let run = |json: bool| -> Output {
        let mut cmd = bin(&["predict", "--model"]);
        cmd.arg(&dir);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0]["label"].is_string() && lines[4]["label"].is_string());
    assert!(lines[1]["error"].as_str().unwrap().contains("line 2: not valid UTF-8"), "{}", lines[1]);
    assert_eq!(lines[2]["cut_from_words"], 9);
    assert!(lines[0].get("cut_from_words").is_none());
    let err = text(&out.stderr);
    assert!(err.contains("line 3 has 9 words; the model reads the first 6"), "{err}");
    let out = run(false);
    assert!(text(&out.stdout).lines().nth(1).unwrap().starts_with("(error: line 2"), "{}", text(&out.stdout));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn out_of_range_flags_are_refused_naming_flag_and_value() {
    let out = Command::new(env!("CARGO_BIN_EXE_hotflip")).args(["--threads", "100000", "device"]).output().unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("--threads 100000"), "{err}");
    let root = scratch("beam");
    word_model(&root.join("m"), |_| {});
    sst2(&root.join("sst2"), [4, 2, 4]);
    let run = attack_unk(&root.join("m"), &root.join("sst2"), &root.join("a.jsonl"), 2, &["--beam", "100000"]);
    let e = text(&run.stderr);
    assert!(!run.status.success() && e.contains("--beam 100000") && e.contains("at most 1000"), "{e}");
    let _ = std::fs::remove_dir_all(&root);
    let e = hotflip::attack::Settings { max_changes: Some(0), ..Default::default() }.check().unwrap_err().to_string();
    assert!(e.contains("--max-changes 0") && !e.contains("τ"), "{e}");
    let e = hotflip::attack::Settings { tau: 1.5, ..Default::default() }.check().unwrap_err().to_string();
    assert!(e.contains("--tau 1.5"), "{e}");
}

/// The text of `hotflip <cmd> --help`.
fn help(cmd: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hotflip")).args([cmd, "--help"]).output().unwrap();
    assert!(out.status.success());
    text(&out.stdout)
}

/// The help line of `flag` (and its continuation lines).
fn flag_help(help: &str, flag: &str) -> String {
    let lines: Vec<&str> = help.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{flag} ")) || l.trim() == flag)
        .unwrap_or_else(|| panic!("{flag} not in\n{help}"));
    let rest: Vec<&str> = lines[i + 1..]
        .iter()
        .take_while(|l| !l.trim_start().starts_with('-') && !l.trim().is_empty())
        .copied()
        .collect();
    format!("{} {}", lines[i], rest.join(" "))
}

#[test]
fn every_flag_has_help_and_global_flags_come_last() {
    for (cmd, flags) in [
        ("attack", &["--no-progress", "--split", "--seed"][..]),
        ("eval", &["--batch", "--split"][..]),
        ("interpret", &["--dataset", "--data-dir", "--split"][..]),
    ] {
        let h = help(cmd);
        for flag in flags {
            let line = flag_help(&h, flag);
            let words = line.split_whitespace().filter(|w| !w.starts_with('-') && !w.starts_with('<')).count();
            assert!(words >= 2, "{cmd} {flag} has no help text: {line}");
        }
        // Global flags under their own heading, after the command's own.
        let global = h.find("Global options:").unwrap_or_else(|| panic!("{h}"));
        assert!(h.find("--threads").unwrap() > global && h.find("--device").unwrap() > global, "{h}");
        assert!(h.find("--model").unwrap() < global, "{h}");
    }
    assert!(flag_help(&help("eval"), "--dataset").contains("multi30k"));
}

#[test]
fn device_cpu_prints_no_backend_line() {
    let root = scratch("quiet");
    let dir = root.join("m");
    word_model(&dir, |_| {});
    let data = root.join("sst2");
    sst2(&data, [4, 2, 3]);
    let out =
        bin(&["eval", "--model"]).arg(&dir).args(["--dataset", "sst2", "--data-dir"]).arg(&data).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("backend"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("data:")).count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

fn attack_unk(model: &Path, data: &Path, out: &Path, limit: usize, extra: &[&str]) -> Output {
    bin(&["attack", "--level", "unk", "--dataset", "sst2", "--batch", "2", "--no-progress", "--model"])
        .arg(model)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--limit", &limit.to_string()])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_second_writer_is_refused_and_repeated_indices_are_dropped() {
    let root = scratch("lock");
    let model = root.join("m");
    word_model(&model, |_| {});
    let data = root.join("sst2");
    sst2(&data, [4, 2, 40]);
    let out = root.join("a.jsonl");
    let run = attack_unk(&model, &data, &out, 4, &[]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let first = std::fs::read_to_string(&out).unwrap();

    // Another run holds the lock: this one must not touch the file.
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(root.join("a.jsonl.lock"));
    let lock = lock.unwrap();
    lock.try_lock().unwrap();
    let run = attack_unk(&model, &data, &out, 8, &[]);
    let err = text(&run.stderr);
    assert!(!run.status.success() && err.contains("another run is writing"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first);
    lock.unlock().unwrap();

    // Two writers before there was a lock: every line twice.
    std::fs::write(&out, format!("{first}{first}")).unwrap();
    let summary = root.join("s.json");
    let run = attack_unk(&model, &data, &out, 4, &["--summary", summary.to_str().unwrap()]);
    let err = text(&run.stderr);
    assert!(run.status.success() && err.contains("dropped"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first);
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["attacked"], 4, "{s}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_rerun_with_a_smaller_limit_reports_that_run() {
    let root = scratch("limit");
    let model = root.join("m");
    word_model(&model, |_| {});
    let data = root.join("sst2");
    sst2(&data, [4, 2, 40]);
    let out = root.join("a.jsonl");
    let summary = root.join("s.json");
    let s = summary.to_str().unwrap();
    assert!(attack_unk(&model, &data, &out, 6, &["--summary", s]).status.success());
    let big: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(big["attacked"], 6);
    let run = attack_unk(&model, &data, &out, 3, &["--summary", s]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let small: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(small["attacked"], 3, "{small}");
    assert!(text(&run.stderr).contains("reports the first 3"), "{}", text(&run.stderr));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn ctrl_c_exits_130_and_resume_names_a_changed_setting() {
    let root = scratch("sigint");
    let data = root.join("sst2");
    sst2(&data, [40, 6, 6]);
    let out = root.join("run");
    let train = |extra: &[&str]| {
        let mut c = bin(&["train", "--arch", "word_cnn", "--dataset", "sst2", "--no-progress"]);
        c.arg("--data-dir").arg(&data).arg("--out").arg(&out).args(extra);
        c
    };
    let child = train(&["--epochs", "100000", "--batch", "4"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let log = out.join("train_log.jsonl");
    let t0 = std::time::Instant::now();
    while !log.exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(log.exists(), "training never logged");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let done = child.wait_with_output().unwrap();
    let err = text(&done.stderr);
    assert_eq!(done.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert!(out.join("last/trainer.json").exists());

    let run = train(&["--epochs", "100000", "--resume", "--batch", "8"]).output().unwrap();
    let err = text(&run.stderr);
    assert!(!run.status.success() && err.contains("--batch 4") && err.contains("--batch 8"), "{err}");
    let run = train(&["--epochs", "100000", "--resume", "--batch", "4", "--lr", "0.5"]).output().unwrap();
    let err = text(&run.stderr);
    assert!(!run.status.success() && err.contains("--lr"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn stop_words_are_tested_on_the_normalised_token_and_punctuation_is_no_word() {
    use hotflip::lexicon::StopWords;
    let s = StopWords::english();
    assert!(s.contains("no") && s.contains("no.") && s.contains("(The") && s.contains("it,"));
    assert!(!s.contains("film.") && !s.contains(","));
    for p in [",", "?", "...", "--", "\"", "(", "!?"] {
        assert!(StopWords::is_punctuation(p), "{p}");
    }
    for w in ["a.", "U.S.", "3", "don't"] {
        assert!(!StopWords::is_punctuation(w), "{w}");
    }
}

#[test]
fn word_level_summaries_speak_of_words_and_max_changes_and_name_model_and_data() {
    use hotflip::attack::{report, RunInfo, Summary};
    let info = RunInfo {
        model: "runs/sst2/best".into(),
        dataset: "sst2 test".into(),
        max_changes: Some(2),
        method: "hotflip".into(),
        level: "word".into(),
        tau: 0.5,
        beam: 10,
        budget: 0.1,
        target: None,
        constraints: Default::default(),
    };
    let s = Summary::of(&info, &[]);
    let t = report::table(&s);
    assert!(t.contains("mean words changed") && t.contains("at most 2 word changes (--max-changes)"), "{t}");
    assert!(!t.contains("budget") && !t.contains("characters"), "{t}");
    assert!(t.contains("runs/sst2/best") && t.contains("sst2 test"), "{t}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["model"], "runs/sst2/best");
    assert_eq!(json["dataset"], "sst2 test");
    let html = report::html(&s, &[], &["negative".into(), "positive".into()]);
    assert!(html.contains("<code>runs/sst2/best</code>") && html.contains("<code>sst2 test</code>"));
}

#[test]
fn the_tau_curve_marks_what_was_not_measured() {
    use hotflip::attack::{report, RunInfo, Summary};
    let info = RunInfo {
        model: "m".into(),
        dataset: "d".into(),
        max_changes: None,
        method: "hotflip".into(),
        level: "char".into(),
        tau: 0.7,
        beam: 10,
        budget: 0.1,
        target: None,
        constraints: Default::default(),
    };
    let s = Summary::of(&info, &[]);
    assert_eq!(s.success_by_tau_lower_bounds, vec!["0.8".to_string(), "0.9".to_string()]);
    let t = report::table(&s);
    assert!(t.contains("0.7: 0.0%") && t.contains("0.8: ≥0.0%") && t.contains("lower bound"), "{t}");
    let html = report::html(&s, &[], &["a".into(), "b".into()]);
    assert!(html.contains("stroke-dasharray") && html.contains("lower bound (search stopped at τ 0.7)"));
    let exact = Summary::of(&RunInfo { tau: 0.9, ..info }, &[]);
    assert!(exact.success_by_tau_lower_bounds.is_empty());
    assert!(!report::table(&exact).contains('≥'));
}

#[test]
fn the_pos_tagger_is_trained_once_per_treebank() {
    use hotflip::lexicon::pos::cache::{train_cached, Source};
    use hotflip::lexicon::pos::TrainOptions;
    let root = scratch("pos-cache");
    let bank = root.join("t.conllu");
    let sentence = "1\tthe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n2\tfilm\tfilm\tNOUN\t_\t_\t0\troot\t_\t_\n\n";
    std::fs::write(&bank, sentence.repeat(3)).unwrap();
    let cache = root.join("cache");
    let opts = TrainOptions { iterations: 1, ..TrainOptions::default() };
    let (a, first) = train_cached(&bank, &opts, Some(&cache)).unwrap();
    let (b, second) = train_cached(&bank, &opts, Some(&cache)).unwrap();
    assert_eq!((first, second), (Source::Trained, Source::Cached));
    use hotflip::lexicon::PosTagger;
    assert_eq!(a.tag(&["the", "film"]), b.tag(&["the", "film"]));
    // Another treebank (other bytes) is another entry.
    std::fs::write(&bank, sentence.repeat(4)).unwrap();
    assert_eq!(train_cached(&bank, &opts, Some(&cache)).unwrap().1, Source::Trained);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_word_attack_without_candidates_says_why_and_which_flag() {
    let root = scratch("nocand");
    let model = root.join("m");
    word_model(&model, |_| {});
    let data = root.join("sst2");
    sst2(&data, [4, 2, 40]);
    let (out, summary) = (root.join("a.jsonl"), root.join("s.json"));
    // No pair of these random 4-d embeddings is this close: nothing may flip.
    let run = bin(&["attack", "--level", "word", "--no-pos", "--cosine", "0.99999", "--dataset", "sst2"])
        .args(["--batch", "2", "--no-progress", "--limit", "4", "--model"])
        .arg(&model)
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .arg("--summary")
        .arg(&summary)
        .output()
        .unwrap();
    let err = text(&run.stderr);
    assert!(run.status.success(), "{err}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["unchanged"], s["attacked"], "{s}");
    assert_eq!(s["successes"], 0, "{s}");
    let hint = s["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("largest cosine") && hint.contains("--cosine 0.99999") && hint.contains("--no-cosine"),
        "{s}"
    );
    let largest: f32 = hint.split("word was ").nth(1).and_then(|t| t.split(',').next()).unwrap().parse().unwrap();
    assert!(largest < 0.99999 && largest > -1.0, "{hint}");
    assert!(
        err.contains("unchanged (no allowed change)") && err.contains("note: the constraints allowed no word flip"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
