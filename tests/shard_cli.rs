//! `eval --shard I/N` and `predict --shard I/N`: the union of N shards is
//! the unsharded run (same predictions, summed counts equal); a bad --shard
//! is an error naming the flag.

mod char_fixture;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use char_fixture::bin;

fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    char_fixture::setup("shard-cli", name)
}

fn eval(model: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .args(["eval", "--model"])
        .arg(model)
        .args(["--dataset", "sst2", "--data-dir"])
        .arg(data)
        .args(["--batch", "3", "--json"])
        .args(extra)
        .output()
        .unwrap()
}

fn predict(model: &Path, input: &str, extra: &[&str]) -> std::process::Output {
    let mut child = bin()
        .args(["predict", "--model"])
        .arg(model)
        .args(["--batch", "4"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused --shard exits before reading its input.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn eval_shards_sum_to_the_single_run() {
    let (root, data, model) = setup("eval");
    let single = json(&eval(&model, &data, &[]));
    assert!(single.get("shard").is_none(), "unsharded output unchanged: {single}");
    let n = 3;
    let (mut total, mut correct) = (0u64, 0u64);
    let mut confusion = vec![vec![0u64; 2]; 2];
    for i in 0..n {
        let r = json(&eval(&model, &data, &["--shard", &format!("{i}/{n}")]));
        assert_eq!(r["shard"], format!("{i}/{n}"));
        total += r["n"].as_u64().unwrap();
        correct += r["correct"].as_u64().unwrap();
        for (t, row) in r["confusion"].as_array().unwrap().iter().enumerate() {
            for (p, v) in row.as_array().unwrap().iter().enumerate() {
                confusion[t][p] += v.as_u64().unwrap();
            }
        }
    }
    assert_eq!(total, single["n"].as_u64().unwrap());
    assert_eq!(total, 40, "the fixture's test split");
    assert_eq!(serde_json::json!(confusion), single["confusion"]);
    let acc = single["accuracy"].as_f64().unwrap();
    assert!((correct as f64 / total as f64 - acc).abs() < 1e-12);
    for bad in ["3/3", "1/0", "x"] {
        let o = eval(&model, &data, &["--shard", bad]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success() && err.contains("--shard"), "{bad}: {err}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn predict_shards_join_into_the_single_run() {
    let (root, data, model) = setup("predict");
    let mut input: String = std::fs::read_to_string(data.join("stsa.binary.test"))
        .unwrap()
        .lines()
        .map(|l| format!("{}\n", l.split_once(' ').unwrap().1))
        .collect();
    input.push_str("\nabc de\n");
    let n_lines = input.lines().count();
    for json_out in [true, false] {
        let flag: &[&str] = if json_out { &["--json"] } else { &[] };
        let o = predict(&model, &input, flag);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let single: Vec<String> = String::from_utf8(o.stdout).unwrap().lines().map(String::from).collect();
        assert_eq!(single.len(), n_lines);
        let mut joined: Vec<(usize, String)> = Vec::new();
        for i in 0..3 {
            let o = predict(&model, &input, &[flag, &["--shard", &format!("{i}/3")]].concat());
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            for line in String::from_utf8(o.stdout).unwrap().lines() {
                let (k, rest) = if json_out {
                    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let k = v.as_object_mut().unwrap().remove("index").unwrap().as_u64().unwrap() as usize;
                    (k, v)
                } else {
                    let (k, rest) = line.split_once('\t').unwrap();
                    (k.parse().unwrap(), serde_json::Value::String(rest.to_string()))
                };
                assert_eq!(k % 3, i, "line {k} in shard {i}");
                let rest = if json_out { rest.to_string() } else { rest.as_str().unwrap().to_string() };
                joined.push((k, rest));
            }
        }
        joined.sort();
        let want: Vec<(usize, String)> = single
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let l = if json_out {
                    serde_json::from_str::<serde_json::Value>(l).unwrap().to_string()
                } else {
                    l.clone()
                };
                (k, l)
            })
            .collect();
        // Same predictions; the probabilities agree but for rounding (batches
        // of other company pad differently).
        assert_eq!(joined.len(), want.len(), "json {json_out}");
        for ((k, got), (wk, want)) in joined.iter().zip(&want) {
            assert_eq!(k, wk);
            if !json_out {
                assert_eq!(got.split('\t').next(), want.split('\t').next(), "line {k}");
                continue;
            }
            let (g, w): (serde_json::Value, serde_json::Value) =
                (serde_json::from_str(got).unwrap(), serde_json::from_str(want).unwrap());
            assert_eq!(g["label"], w["label"], "line {k}");
            assert_eq!(g["label_id"], w["label_id"], "line {k}");
            let probs = |v: &serde_json::Value| -> Vec<f64> {
                v["probs"].as_array().map_or(vec![], |a| a.iter().map(|p| p.as_f64().unwrap()).collect())
            };
            assert_eq!(probs(&g).len(), probs(&w).len(), "line {k}");
            for (a, b) in probs(&g).iter().zip(probs(&w)) {
                assert!((a - b).abs() < 1e-5, "line {k}: {got} vs {want}");
            }
        }
    }
    for bad in ["3/3", "1/0", "x"] {
        let o = predict(&model, "abc\n", &["--shard", bad]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success() && err.contains("--shard"), "{bad}: {err}");
    }
    let _ = std::fs::remove_dir_all(&root);
}
