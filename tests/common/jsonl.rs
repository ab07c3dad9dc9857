//! Comparing two runs' JSON Lines results (CPU against a device): the
//! records, and their JSON equal but for `seconds`, numbers within a
//! tolerance. Included with `#[path = "common/jsonl.rs"] mod jsonl;`.

#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

/// The file's records, blank lines skipped.
pub fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Equal JSON, numbers within `tol` (relative above 1), `seconds` ignored;
/// every difference is pushed onto `diffs` with its path.
pub fn same(path: &str, a: &Value, b: &Value, tol: f64, diffs: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys.into_iter().filter(|k| k.as_str() != "seconds") {
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => same(&format!("{path}.{k}"), u, v, tol, diffs),
                    _ => diffs.push(format!("{path}.{k}: only in one file")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                same(&format!("{path}[{i}]"), u, v, tol, diffs);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (u, v) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (u - v).abs() > tol * v.abs().max(1.0) {
                diffs.push(format!("{path}: {u} vs {v}"));
            }
        }
        _ if a == b => {}
        _ => diffs.push(format!("{path}: {a} vs {b}")),
    }
}
