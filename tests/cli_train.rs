//! `hotflip train`, `eval` and `predict` run as a user runs them, on small
//! data sets written in the real formats (SST-2's `<label> <sentence>`
//! files, FCE's token/label TSV) into temporary folders: the happy paths,
//! Ctrl-C and resume, and the errors for bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hotflip::Rng;
use serde_json::Value;

fn hotflip(args: &[&str]) -> Output {
    // Two threads: tests run in parallel, each with its own process.
    Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "2", "--device", "cpu"])
        .args(args)
        .output()
        .expect("running hotflip")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts success and returns stdout.
fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed ({}):\n{}\n{}", out.status, text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// Asserts a clean failure (exit code 1, an `error:` line, no panic) and
/// returns stderr.
fn fails(out: &Output, what: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what} should fail cleanly:\n{}\n{stderr}", text(&out.stdout));
    assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
    assert!(stderr.contains("error: "), "{what}:\n{stderr}");
    stderr
}

fn temp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("hotflip-cli-{name}-")).tempdir().expect("a temporary directory")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

const POSITIVE: [&str; 4] = ["good", "great", "lovely", "superb"];
const NEGATIVE: [&str; 4] = ["bad", "awful", "dull", "boring"];
const FILLER: [&str; 12] = ["the", "film", "a", "plot", "was", "is", "and", "actors", "story", "it", "quite", "very"];

/// `n` SST-2 lines: filler words with one sentiment word that sets the label.
fn sst2_lines(n: usize, rng: &mut Rng) -> Vec<String> {
    (0..n)
        .map(|_| {
            let label = rng.below(2);
            let mut words: Vec<&str> = (0..3 + rng.below(6)).map(|_| FILLER[rng.below(FILLER.len())]).collect();
            let cue = if label == 1 { POSITIVE } else { NEGATIVE }[rng.below(4)];
            words.insert(rng.below(words.len() + 1), cue);
            format!("{label} {}", words.join(" "))
        })
        .collect()
}

/// Writes `stsa.binary.{train,dev,test}` into `dir`; `bad_train_line`, if
/// given, replaces line 3 of the training file.
fn write_sst2(dir: &Path, bad_train_line: Option<&str>) {
    let mut rng = Rng::new(11);
    for (split, n) in [("train", 240), ("dev", 60), ("test", 80)] {
        let mut lines = sst2_lines(n, &mut rng);
        if split == "train" {
            if let Some(bad) = bad_train_line {
                lines[2] = bad.to_string();
            }
        }
        std::fs::write(dir.join(format!("stsa.binary.{split}")), lines.join("\n") + "\n").expect("writing data");
    }
}

fn sst2_dir(name: &str) -> tempfile::TempDir {
    let d = temp(name);
    write_sst2(d.path(), None);
    d
}

/// Train arguments for a fast word CNN on the data in `data`.
/// `hotflip train` for `arch` on `dataset` read from `data`, quietly.
fn train_cmd<'a>(arch: &'a str, dataset: &'a str, data: &'a Path, out: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--arch",
        arch,
        "--dataset",
        dataset,
        "--data-dir",
        p(data),
        "--out",
        p(out),
        "--epochs",
        epochs,
        "--no-progress",
    ]
}

fn train_args<'a>(data: &'a Path, out: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    [train_cmd("word_cnn", "sst2", data, out, epochs), vec!["--lr", "0.01"]].concat()
}

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn train_then_eval_and_predict_as_json() {
    let data = sst2_dir("round-trip");
    let run = temp("round-trip-run");
    let out = run.path().join("run");
    ok(&hotflip(&train_args(data.path(), &out, "4")), "train");
    for f in ["best/config.json", "best/vocab.json", "best/model.safetensors", "last/trainer.json", "summary.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).expect("train_log.jsonl");
    assert_eq!(log.lines().count(), 4, "one line per epoch:\n{log}");
    let summary = json(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json"));
    assert_eq!(summary["stopped"], "epochs");
    assert_eq!(summary["epochs"], 4.0);

    // eval --json: one object with accuracy, n and a confusion matrix.
    let args = ["eval", "--model", p(&out), "--dataset", "sst2", "--data-dir", p(data.path()), "--split", "test"];
    let report = json(&ok(&hotflip(&[&args[..], &["--json"]].concat()), "eval --json"));
    let acc = report["accuracy"].as_f64().expect("accuracy");
    assert!(acc >= 0.85, "test accuracy {acc} on a one-cue-word task (chance 0.5)");
    assert_eq!(report["n"], 80);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(report["confusion"].clone()).expect("a 2x2 matrix");
    assert_eq!(confusion.len(), 2);
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 80);
    let diag = (confusion[0][0] + confusion[1][1]) as f64 / 80.0;
    assert!((diag - acc).abs() < 1e-12);
    assert!(report.get("f05").is_none(), "classifiers report no F0.5");
    // The eval of summary.json's test figure and of the command agree.
    assert_eq!(summary["test"]["accuracy"].as_f64(), Some(acc));
    // Without --json: a sentence and the confusion table.
    let plain = ok(&hotflip(&args), "eval");
    assert!(plain.contains("accuracy") && plain.contains("true\\pred"), "{plain}");

    // predict --json: one line per input line, label and probabilities.
    let input = "a very good film\nthe plot was dull and boring\n\nquite superb\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "2", "--device", "cpu", "predict", "--model", p(&out), "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running hotflip predict");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("writing stdin");
    let pred = ok(&child.wait_with_output().expect("predict output"), "predict --json");
    let lines: Vec<Value> = pred.lines().map(json).collect();
    assert_eq!(lines.len(), 4, "one line per input line:\n{pred}");
    let expect = [Some("positive"), Some("negative"), None, Some("positive")];
    for (line, want) in lines.iter().zip(expect) {
        match want {
            None => assert!(line["label"].is_null(), "an empty line has no prediction: {line}"),
            Some(label) => {
                assert_eq!(line["label"], label, "{line}");
                let probs: Vec<f64> = serde_json::from_value(line["probs"].clone()).expect("probabilities");
                assert_eq!(probs.len(), 2);
                assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{probs:?}");
            }
        }
    }
}

#[test]
fn a_second_train_needs_resume_and_resume_continues() {
    let data = sst2_dir("resume");
    let run = temp("resume-run");
    let out = run.path().join("run");
    ok(&hotflip(&train_args(data.path(), &out, "1")), "first train");
    let err = fails(&hotflip(&train_args(data.path(), &out, "2")), "train into a used --out");
    assert!(err.contains("already holds a training run") && err.contains("--resume"), "{err}");
    let resumed = hotflip(&[&train_args(data.path(), &out, "2")[..], &["--resume"]].concat());
    ok(&resumed, "train --resume");
    assert!(text(&resumed.stderr).contains("resuming"), "{}", text(&resumed.stderr));
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).expect("train_log.jsonl");
    assert_eq!(log.lines().count(), 2, "epoch 1, then epoch 2 after resuming:\n{log}");
}

#[test]
fn resume_into_an_empty_folder_fails_clearly() {
    let data = sst2_dir("resume-empty");
    let run = temp("resume-empty-run");
    let err = fails(&hotflip(&[&train_args(data.path(), run.path(), "1")[..], &["--resume"]].concat()), "resume");
    assert!(err.contains("nothing to resume") && err.contains("without --resume"), "{err}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_saves_a_resumable_state() {
    let data = sst2_dir("ctrl-c");
    let run = temp("ctrl-c-run");
    let out = run.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "2", "--device", "cpu"])
        .args(train_args(data.path(), &out, "100000"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running hotflip train");
    // Wait until training is under way (the first epoch is logged).
    let log = out.join("train_log.jsonl");
    let start = Instant::now();
    while !log.exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no epoch finished within 2 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    // SAFETY: kill(2) with a pid this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let done = child.wait_with_output().expect("train output");
    // Saved, but not finished: exit 130 (as for SIGINT) so scripts can tell.
    assert_eq!(done.status.code(), Some(130), "interrupted train:\n{}", text(&done.stderr));
    let stderr = text(&done.stderr);
    assert!(stderr.contains("interrupted: state saved"), "{stderr}");
    let summary = json(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json"));
    assert_eq!(summary["stopped"], "interrupted");
    let state = json(&std::fs::read_to_string(out.join("last/trainer.json")).expect("last/trainer.json"));
    let steps = state["step"].as_u64().expect("a step count");
    assert!(steps >= 8, "at least one epoch (8 batches) ran before the interrupt: {steps}");

    // The saved state continues, to a small epoch limit it may already have passed.
    let epochs = (state["epoch"].as_u64().expect("an epoch") + 1).to_string();
    let resumed = hotflip(&[&train_args(data.path(), &out, &epochs)[..], &["--resume"]].concat());
    ok(&resumed, "train --resume after Ctrl-C");
    let summary = json(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json"));
    assert_eq!(summary["stopped"], "epochs");
    assert!(summary["steps"].as_u64().expect("steps") >= steps);
}

#[test]
fn unknown_data_set_is_an_error_listing_the_known_ones() {
    let run = temp("unknown");
    let err = fails(
        &hotflip(&["train", "--arch", "word_cnn", "--dataset", "sst3", "--out", p(&run.path().join("r"))]),
        "unknown data set",
    );
    assert!(err.contains("unknown data set `sst3`") && err.contains("sst2"), "{err}");
    assert!(!run.path().join("r").exists(), "nothing is written for a bad command");
}

#[test]
fn missing_data_dir_is_an_error_naming_it() {
    let run = temp("missing");
    let nowhere = run.path().join("no-such-folder");
    let out = run.path().join("r");
    let err = fails(&hotflip(&train_args(&nowhere, &out, "1")), "missing --data-dir");
    assert!(err.contains("not found") && err.contains(p(&nowhere)), "{err}");
    // A folder that exists but lacks a split's file names that file.
    let empty = temp("missing-files");
    let err = fails(&hotflip(&train_args(empty.path(), &out, "1")), "empty --data-dir");
    assert!(err.contains("stsa.binary.train"), "{err}");
}

#[test]
fn malformed_row_stops_with_file_and_line_unless_skipped() {
    let data = temp("malformed");
    write_sst2(data.path(), Some("positive this line has a word for a label"));
    let run = temp("malformed-run");
    let out = run.path().join("r");
    let err = fails(&hotflip(&train_args(data.path(), &out, "1")), "malformed row");
    assert!(err.contains("stsa.binary.train:3") && err.contains("label `positive`"), "{err}");
    assert!(!out.exists(), "nothing is written when the data do not load");

    let skipped = hotflip(&[&train_args(data.path(), &out, "1")[..], &["--skip-bad-rows"]].concat());
    ok(&skipped, "train --skip-bad-rows");
    let stderr = text(&skipped.stderr);
    assert!(stderr.contains("239 train") && stderr.contains("1 malformed rows skipped"), "{stderr}");
    assert!(out.join("best/model.safetensors").is_file());
}

#[test]
fn model_pointing_at_nothing_is_an_error() {
    let data = sst2_dir("no-model");
    let nothing = data.path().join("no-model-here");
    let args = ["eval", "--model", p(&nothing), "--dataset", "sst2", "--data-dir", p(data.path())];
    let err = fails(&hotflip(&args), "eval --model nowhere");
    assert!(err.contains("neither a checkpoint") && err.contains(p(&nothing)), "{err}");
    let err = fails(&hotflip(&["predict", "--model", p(&nothing)]), "predict --model nowhere");
    assert!(err.contains("neither a checkpoint"), "{err}");
    // A data folder is not a model either.
    let err = fails(&hotflip(&["predict", "--model", p(data.path())]), "predict --model <data folder>");
    assert!(err.contains("neither a checkpoint"), "{err}");
}

#[test]
fn bad_numbers_are_refused_before_any_work() {
    let data = sst2_dir("bad-numbers");
    let run = temp("bad-numbers-run");
    let out = run.path().join("r");
    for (flag, value, expect) in [
        ("--batch", "0", "--batch"),
        ("--minutes", "0", "--minutes"),
        ("--dropout", "1.5", "--dropout"),
        ("--max-norm", "0", "--max-norm"),
    ] {
        let err = fails(&hotflip(&[&train_args(data.path(), &out, "1")[..], &[flag, value]].concat()), flag);
        assert!(err.contains(expect), "{flag} {value}: {err}");
        assert!(!out.join("best").exists(), "{flag} {value} trained anyway");
    }
}

/// FCE-format TSV: sentences of filler tokens where the misspellings below
/// are tagged `i` and everything else `c`.
fn write_fce(dir: &Path) {
    const ERRORS: [&str; 4] = ["teh", "recieve", "becuase", "wich"];
    const WORDS: [&str; 10] = ["i", "will", "go", "to", "the", "shop", "because", "which", "we", "receive"];
    let mut rng = Rng::new(5);
    for (split, n) in [("train", 200), ("dev", 40), ("test", 60)] {
        let mut s = String::new();
        for _ in 0..n {
            for _ in 0..4 + rng.below(6) {
                if rng.below(5) == 0 {
                    s += &format!("{}\ti\n", ERRORS[rng.below(ERRORS.len())]);
                } else {
                    s += &format!("{}\tc\n", WORDS[rng.below(WORDS.len())]);
                }
            }
            s.push('\n');
        }
        std::fs::write(dir.join(format!("fce-public.{split}.original.tsv")), s).expect("writing FCE data");
    }
}

#[test]
fn tagger_trains_and_reports_f05_on_fce_format_data() {
    let data = temp("fce");
    write_fce(data.path());
    let run = temp("fce-run");
    let out: PathBuf = run.path().join("tagger");
    let train = [train_cmd("bilstm_tagger", "fce", data.path(), &out, "4"), vec!["--lr", "0.01"]].concat();
    let trained = hotflip(&train);
    ok(&trained, "train bilstm_tagger");
    assert!(text(&trained.stderr).contains("dev F0.5"), "{}", text(&trained.stderr));
    let args = ["eval", "--model", p(&out), "--dataset", "fce", "--data-dir", p(data.path()), "--json"];
    let report = json(&ok(&hotflip(&args), "eval tagger --json"));
    for field in ["precision", "recall", "f05", "accuracy"] {
        assert!(report[field].is_number(), "{field} in {report}");
    }
    let f05 = report["f05"].as_f64().expect("f05");
    assert!(f05 >= 0.9, "F0.5 {f05} on a four-misspelling task");
    let n = report["n"].as_u64().expect("n");
    let confusion: Vec<Vec<u64>> = serde_json::from_value(report["confusion"].clone()).expect("a 2x2 matrix");
    assert_eq!(confusion.iter().flatten().sum::<u64>(), n, "n counts tokens");
    assert_eq!(report["labels"], serde_json::json!(["c", "i"]));
    let plain = ok(&hotflip(&args[..args.len() - 1]), "eval tagger");
    assert!(plain.contains("F0.5") && plain.contains("label `i`"), "{plain}");
}

/// Sato et al.'s Table 6 path (FCE is not in ../shared/data yet): the tagger
/// trains under each embedding-space method and still learns the task.
#[test]
fn tagger_trains_under_every_embedding_perturbation() {
    let data = temp("fce-adv");
    write_fce(data.path());
    let run = temp("fce-adv-run");
    for adv in ["advt", "vat", "iadvt", "ivat", "random"] {
        let out: PathBuf = run.path().join(adv);
        let extra = ["--lr", "0.01", "--adv", adv, "--epsilon", "0.3"];
        let trained = hotflip(&[train_cmd("bilstm_tagger", "fce", data.path(), &out, "4"), extra.to_vec()].concat());
        ok(&trained, adv);
        assert!(text(&trained.stderr).contains(&format!("objective: {adv}")), "{}", text(&trained.stderr));
        let args = ["eval", "--model", p(&out), "--dataset", "fce", "--data-dir", p(data.path()), "--json"];
        let f05 = json(&ok(&hotflip(&args), adv))["f05"].as_f64().expect("f05");
        assert!(f05 >= 0.8, "{adv}: F0.5 {f05} on a four-misspelling task");
    }
}

#[test]
fn bench_train_times_the_training_step() {
    let args = ["bench", "train", "--batch", "2", "--words", "3", "--chars", "5", "--warmup", "1", "--iters", "2"];
    let report = json(&ok(&hotflip(&[&args[..], &["--json"]].concat()), "bench train --json"));
    assert_eq!(report["workload"], "train");
    assert_eq!(report["preset"], "small");
    assert_eq!(report["dropout"], 0.5);
    assert_eq!((report["batch"].as_u64(), report["iters"].as_u64()), (Some(2), Some(2)));
    let median = report["median_s"].as_f64().expect("median_s");
    let rate = report["docs_per_s"].as_f64().expect("docs_per_s");
    assert!(median > 0.0 && (rate - 2.0 / median).abs() < 1e-6 * rate, "{report}");
    let err = fails(&hotflip(&["bench", "train", "--chars", "1"]), "bench train --chars 1");
    assert!(err.contains("--chars"), "{err}");
}

#[test]
fn lstm_classifier_checkpoint_holds_the_training_word_frequencies() {
    let data = sst2_dir("freq");
    let run = temp("freq-run");
    let out = run.path().join("lstm");
    let args = [
        "train",
        "--arch",
        "lstm_classifier",
        "--dataset",
        "sst2",
        "--data-dir",
        p(data.path()),
        "--out",
        p(&out),
        "--epochs",
        "1",
        "--no-progress",
    ];
    ok(&hotflip(&args), "train lstm_classifier");
    let ck = hotflip::checkpoint::load(&out.join("best")).unwrap_or_else(|e| panic!("{e}"));
    let freq = ck.store.by_name("embedding.freq").expect("normalised embeddings keep their frequencies").data();
    // Count the training file's words by hand.
    let train = std::fs::read_to_string(data.path().join("stsa.binary.train")).expect("training file");
    let words: Vec<&str> = train.lines().flat_map(|l| l.split_whitespace().skip(1)).collect();
    assert_eq!(freq[0], 0.0, "PAD never occurs");
    for w in ["the", "good", "boring"] {
        let expect = words.iter().filter(|&&x| x == w).count() as f32 / words.len() as f32;
        let got = freq[ck.vocab.vocab.id(w)];
        assert!((got - expect).abs() < 1e-6, "{w}: {got} vs {expect}");
    }
    assert!((freq.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn init_starts_from_a_checkpoint_and_refuses_a_different_model() {
    let data = sst2_dir("init");
    let run = temp("init-run");
    let base = run.path().join("base");
    let train = |out: &Path, extra: &[&str]| {
        hotflip(&[train_cmd("lstm_classifier", "sst2", data.path(), out, "1"), extra.to_vec()].concat())
    };
    ok(&train(&base, &[]), "train the base model");
    // One epoch at lr 1e-30 from the base: no f32 weight can move.
    let tuned = run.path().join("tuned");
    let out = train(&tuned, &["--init", p(&base), "--lr", "1e-30", "--adv", "advt"]);
    ok(&out, "train --init");
    assert!(text(&out.stderr).contains("init: weights from"), "{}", text(&out.stderr));
    let a = hotflip::checkpoint::load(&base.join("best")).unwrap_or_else(|e| panic!("{e}"));
    let b = hotflip::checkpoint::load(&tuned.join("best")).unwrap_or_else(|e| panic!("{e}"));
    for (name, t) in a.store.iter() {
        let u = b.store.by_name(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.data(), u.data(), "{name} changed at lr 1e-30");
    }
    // Another vocabulary or another architecture is an error naming --init.
    let err = fails(&train(&run.path().join("v"), &["--init", p(&base), "--max-vocab", "5"]), "other vocab");
    assert!(err.contains("--init") && err.contains("vocabulary"), "{err}");
    let args = ["--init", p(&base), "--preset", "paper"];
    let err = fails(&train(&run.path().join("s"), &args), "other sizes");
    assert!(err.contains("--init"), "{err}");
}

#[test]
fn init_vectors_sets_covered_rows_and_the_embedding_size() {
    let data = sst2_dir("vectors");
    let run = temp("vectors-run");
    // A word2vec header, three vocabulary words (one cased), a word the data lacks.
    let vectors = run.path().join("vectors.txt");
    let rows = [("good", 1.0f32), ("Film", 2.0), ("boring", -3.0), ("zebra", 4.0)];
    let mut file = String::from("4 7\n");
    for (w, base) in rows {
        let v: Vec<String> = (0..7).map(|i| format!("{}", base + 0.125 * i as f32)).collect();
        file += &format!("{w} {}\n", v.join(" "));
    }
    std::fs::write(&vectors, file).expect("writing vectors");
    let out = run.path().join("run");
    let args =
        [train_cmd("word_cnn", "sst2", data.path(), &out, "1"), vec!["--lr", "1e-9", "--init-vectors", p(&vectors)]]
            .concat();
    let res = hotflip(&args);
    ok(&res, "train --init-vectors");
    let stderr = text(&res.stderr);
    assert!(stderr.contains("init: 3 of 20 vocabulary words"), "{stderr}");
    let ck = hotflip::checkpoint::load(&out.join("best")).expect("checkpoint");
    let emb = ck.store.by_name("embedding.weight").expect("embedding.weight");
    assert_eq!(emb.shape()[1], 7, "the embedding size follows the file");
    for (w, base) in &rows[..3] {
        let id = ck.vocab.vocab.get(&w.to_lowercase()).expect("a training word");
        let row = &emb.data()[id * 7..(id + 1) * 7];
        for (i, &x) in row.iter().enumerate() {
            assert!((x - (base + 0.125 * i as f32)).abs() < 1e-4, "{w}: {row:?}");
        }
    }
    // A ragged file is refused, naming file and line.
    std::fs::write(&vectors, "good 1 2 3\nbad 1 2\n").expect("writing vectors");
    let e = fails(&hotflip(&args), "ragged vectors");
    assert!(e.contains("vectors.txt:2"), "{e}");
    let char_args =
        [train_cmd("char_cnn_lstm", "sst2", data.path(), &out, "1"), vec!["--init-vectors", p(&vectors)]].concat();
    assert!(fails(&hotflip(&char_args), "char model").contains("char_cnn_lstm has none"));
}

#[test]
fn pretrain_lm_then_init_lm_copies_embedding_and_lstm() {
    let data = temp("fce-lm");
    write_fce(data.path());
    let run = temp("fce-lm-run");
    let lm = run.path().join("lm");
    let args = ["pretrain-lm", "--arch", "bilstm_tagger", "--dataset", "fce", "--data-dir", p(data.path())];
    let res = hotflip(&[&args[..], &["--out", p(&lm), "--epochs", "3", "--samples", "8", "--lr", "0.01"]].concat());
    ok(&res, "pretrain-lm");
    let stderr = text(&res.stderr);
    assert!(stderr.contains("forward + backward LMs") && stderr.contains("dev perplexity"), "{stderr}");
    let log = std::fs::read_to_string(lm.join("lm_log.jsonl")).expect("lm_log.jsonl");
    let last = json(log.lines().last().expect("a line per epoch"));
    let ppl = last["dev_perplexity"].as_f64().expect("dev_perplexity");
    // Words here are drawn independently, so an LM can only overfit them
    // (whether it learns is train::lm's unit tests); the log must hold a finite
    // full-softmax perplexity above 1.
    assert!(ppl.is_finite() && ppl > 1.0, "dev perplexity {ppl}");
    // The shared loop's resume: the same folder again needs --resume, which continues.
    let more = [&args[..], &["--out", p(&lm), "--epochs", "4", "--samples", "8", "--lr", "0.01"]].concat();
    let err = fails(&hotflip(&more), "pretrain-lm into a used folder");
    assert!(err.contains("--resume"), "{err}");
    let resumed = hotflip(&[&more[..], &["--resume"]].concat());
    ok(&resumed, "pretrain-lm --resume");
    assert!(text(&resumed.stderr).contains("resuming"), "{}", text(&resumed.stderr));
    let log = std::fs::read_to_string(lm.join("lm_log.jsonl")).expect("lm_log.jsonl");
    assert_eq!(log.lines().count(), 4, "one line per epoch, the resumed one included:\n{log}");
    let out = run.path().join("tagger");
    let train =
        [train_cmd("bilstm_tagger", "fce", data.path(), &out, "1"), vec!["--lr", "1e-9", "--init-lm", p(&lm)]].concat();
    let trained = hotflip(&train);
    ok(&trained, "train --init-lm");
    // The tagger's threshold-free figures: AP of P(i), and test at dev's best threshold.
    let ev = ["eval", "--model", p(&out), "--dataset", "fce", "--data-dir", p(data.path()), "--dev-threshold"];
    let scored = hotflip(&[&ev[..], &["--json"]].concat());
    ok(&scored, "eval --dev-threshold");
    let report = json(text(&scored.stdout).trim());
    let ap = report["average_precision"].as_f64().expect("average_precision");
    assert!((0.0..=1.0).contains(&ap), "{report}");
    let at = &report["at_dev_threshold"];
    assert!(at["f05"].as_f64().is_some() && at["threshold"].as_f64().is_some(), "{report}");
    assert!(text(&hotflip(&ev).stdout).contains("average precision of P(i)"));
    assert!(text(&trained.stderr).contains("(9 tensors)"), "{}", text(&trained.stderr));
    let a = hotflip::checkpoint::load(&lm.join("best")).expect("LM checkpoint");
    let b = hotflip::checkpoint::load(&out.join("best")).expect("tagger checkpoint");
    for name in ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0_reverse", "lstm.bias_ih_l0_reverse"] {
        let (x, y) = (a.store.by_name(name).expect(name), b.store.by_name(name).expect(name));
        let diff = x.data().iter().zip(y.data()).map(|(u, v)| (u - v).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "{name} differs by {diff}");
    }
    // A classifier cannot take the tagger's LM.
    let sst = sst2_dir("lm-mismatch");
    let c_out = run.path().join("c");
    let bad = [train_cmd("lstm_classifier", "sst2", sst.path(), &c_out, "1"), vec!["--init-lm", p(&lm)]].concat();
    fails(&hotflip(&bad), "--init-lm across architectures");
}
