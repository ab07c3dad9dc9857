//! `hotflip pos-train` and `hotflip pos-tag`, run as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn hotflip(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--device", "cpu", "--threads", "1"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running hotflip");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A few tagged sentences as CoNLL-U.
fn conllu(sentences: &[&str]) -> String {
    let mut out = String::new();
    for (n, s) in sentences.iter().enumerate() {
        out.push_str(&format!("# sent_id = {n}\n"));
        for (i, item) in s.split(' ').enumerate() {
            let (form, tag) = item.split_once('/').unwrap();
            out.push_str(&format!("{}\t{form}\t_\t{tag}\t_\t_\t0\tdep\t_\t_\n", i + 1));
        }
        out.push('\n');
    }
    out
}

const SENTENCES: &[&str] = &[
    "The/DET cat/NOUN sleeps/VERB ./PUNCT",
    "The/DET dog/NOUN runs/VERB ./PUNCT",
    "A/DET bird/NOUN sings/VERB ./PUNCT",
    "The/DET old/ADJ cat/NOUN runs/VERB ./PUNCT",
    "A/DET small/ADJ dog/NOUN sleeps/VERB ./PUNCT",
    "The/DET bird/NOUN runs/VERB ./PUNCT",
];

#[test]
fn pos_train_then_pos_tag() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.conllu");
    std::fs::write(&train, conllu(SENTENCES)).unwrap();
    let model = dir.path().join("tagger.json");
    let out = hotflip(
        &[
            "pos-train",
            "--conllu",
            train.to_str().unwrap(),
            "--dev",
            train.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
            "--iterations",
            "8",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("accuracy 1.0000 (26/26 words)"), "{stdout}\n{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("pass 8/8"));
    assert!(model.is_file());

    let out = hotflip(&["pos-tag", "--model", model.to_str().unwrap()], "The dog sleeps .\n\n  A   cat runs .\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "The/DET dog/NOUN sleeps/VERB ./PUNCT\n\nA/DET cat/NOUN runs/VERB ./PUNCT\n");
}

#[test]
fn pos_train_without_a_treebank_says_what_it_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotflip(
        &[
            "pos-train",
            "--data-root",
            dir.path().to_str().unwrap(),
            "--out",
            dir.path().join("t.json").to_str().unwrap(),
        ],
        "",
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("no POS treebank (CoNLL-U) found under"), "{err}");

    let bad = dir.path().join("bad.conllu");
    std::fs::write(&bad, "1\tThe\t_\tDT\t_\t_\t0\tdep\t_\t_\n").unwrap();
    let out = hotflip(
        &["pos-train", "--conllu", bad.to_str().unwrap(), "--out", dir.path().join("t.json").to_str().unwrap()],
        "",
    );
    assert!(
        text(&out.stderr).contains("bad.conllu:1: word 1 `The`: UPOS column: unknown UPOS tag `DT`"),
        "{}",
        text(&out.stderr)
    );
}
