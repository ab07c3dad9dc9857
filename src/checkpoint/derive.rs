//! MODELS.md lets config.json leave out the sizes that vocab.json, `labels`
//! or the tensors already give (vocabulary size, number of classes). This
//! module fills them in, refuses two sources that disagree (naming both), and
//! checks every size config.json gives against the safetensors header before
//! the model allocates anything: a config that says `lstm_hidden: 100000`
//! over a file of small tensors is an error, not a 160 GB allocation.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::tensors::TensorInfo;
use crate::error::{Error, Result};
use crate::models::ModelConfig;

/// The safetensors header: tensor name → dtype and shape.
pub type Header = BTreeMap<String, TensorInfo>;

/// Where the files of a checkpoint are, for error messages.
pub struct Paths<'a> {
    /// `config.json`.
    pub config: &'a Path,
    /// `vocab.json`.
    pub vocab: &'a Path,
    /// `model.safetensors`.
    pub weights: &'a Path,
}

/// Whether `arch` is an architecture this build knows.
pub fn known_arch(arch: &str) -> bool {
    vocab_field(arch).is_some()
}

/// The config field holding the input vocabulary size, and the embedding
/// tensor whose rows give it.
fn vocab_field(arch: &str) -> Option<(&'static str, &'static str)> {
    match arch {
        "char_cnn_lstm" => Some(("n_chars", "char_embedding.weight")),
        "word_cnn" | "lstm_classifier" | "bilstm_tagger" => Some(("vocab", "embedding.weight")),
        _ => None,
    }
}

/// Fills `n_chars`/`vocab` and `n_classes` into a parsed config.json when
/// absent, from vocab.json's `n_tokens` (PAD and UNK included), `labels` and
/// the tensors; every source present must agree.
pub fn complete(config: &mut Value, n_tokens: usize, header: &Header, paths: &Paths) -> Result<()> {
    let bad = |msg: String| Error::Checkpoint { path: paths.config.to_path_buf(), msg };
    let obj = config.as_object_mut().ok_or_else(|| bad("invalid config: not a JSON object".into()))?;
    let arch =
        obj.get("arch").and_then(Value::as_str).ok_or_else(|| bad("invalid config: missing field `arch`".into()))?;
    // An unknown architecture: serde names it when the config is parsed.
    let Some((vocab_field, embedding)) = vocab_field(arch) else { return Ok(()) };
    let weights = paths.weights.display();
    let rows = |name: &str| {
        let t = header.get(name)?;
        let n = *t.shape.first()?;
        Some((format!("{weights}: tensor `{name}` of shape {:?} has {n} rows", t.shape), n))
    };

    let mut vocab = vec![(format!("{} ({} tokens with PAD and UNK)", paths.vocab.display(), n_tokens), n_tokens)];
    vocab.extend(rows(embedding));
    settle(obj, vocab_field, vocab, paths.config)?;

    let mut classes = Vec::new();
    if let Some(labels) = obj.get("labels").and_then(Value::as_array) {
        classes.push((format!("`labels` has {} names", labels.len()), labels.len()));
    }
    classes.extend(rows("classifier.weight"));
    settle(obj, "n_classes", classes, paths.config)?;
    Ok(())
}

/// Puts the agreed value of `field` into `obj`, or names two sources that
/// disagree (config.json's own value counts as one).
fn settle(
    obj: &mut serde_json::Map<String, Value>,
    field: &str,
    mut sources: Vec<(String, usize)>,
    config: &Path,
) -> Result<()> {
    let bad = |msg: String| Error::Checkpoint { path: config.to_path_buf(), msg };
    if let Some(v) = obj.get(field) {
        let n = v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| bad(format!("invalid config: `{field}` must be a non-negative integer, got {v}")))?;
        sources.insert(0, (format!("config.json says `{field}` {n}"), n));
    }
    let Some((first, n)) = sources.first().cloned() else {
        return Err(bad(format!("invalid config: `{field}` is absent and nothing else gives it")));
    };
    if let Some((other, _)) = sources.iter().find(|(_, m)| *m != n) {
        return Err(bad(format!("`{field}` disagrees: {first}, but {other}")));
    }
    obj.insert(field.to_string(), Value::from(n));
    Ok(())
}

/// Checks the sizes of `model` against the tensors the header holds, with
/// overflow-checked arithmetic and without allocating: each tensor whose
/// shape the sizes imply must be present with that shape.
pub fn check_sizes(model: &ModelConfig, header: &Header, weights: &Path) -> Result<()> {
    let bad = |msg: String| Error::Checkpoint { path: weights.to_path_buf(), msg };
    let too_big = || bad("config.json's sizes overflow".to_string());
    let mul = |a: usize, b: usize| a.checked_mul(b).ok_or_else(too_big);
    let mut expect: Vec<(String, Vec<usize>, &str)> = Vec::new();
    match model {
        ModelConfig::CharCnnLstm(c) => {
            let f: usize = c.kernel_filters.iter().try_fold(0usize, |a, &b| a.checked_add(b)).ok_or_else(too_big)?;
            expect.push(("char_embedding.weight".into(), vec![c.n_chars, c.char_dim], "n_chars, char_dim"));
            for (i, (&w, &n)) in c.kernel_widths.iter().zip(&c.kernel_filters).enumerate() {
                expect.push((format!("convs.{i}.weight"), vec![n, c.char_dim, w], "kernel_filters, kernel_widths"));
            }
            // Stop at the first layer the file lacks: a huge count fails there.
            for l in 0..c.highway_layers {
                expect.push((format!("highway.{l}.gate.weight"), vec![f, f], "highway_layers, kernel_filters"));
                if !header.contains_key(&format!("highway.{l}.gate.weight")) {
                    break;
                }
            }
            let g = mul(4, c.lstm_hidden)?;
            for k in 0..c.lstm_layers {
                let input = if k == 0 { f } else { c.lstm_hidden };
                expect.push((format!("lstm.weight_ih_l{k}"), vec![g, input], "lstm_hidden, lstm_layers"));
                expect.push((format!("lstm.weight_hh_l{k}"), vec![g, c.lstm_hidden], "lstm_hidden, lstm_layers"));
                if !header.contains_key(&format!("lstm.weight_hh_l{k}")) {
                    break;
                }
            }
            expect.push(("classifier.weight".into(), vec![c.n_classes, c.lstm_hidden], "n_classes, lstm_hidden"));
        }
        ModelConfig::WordCnn(c) => {
            let f: usize = c.kernel_filters.iter().try_fold(0usize, |a, &b| a.checked_add(b)).ok_or_else(too_big)?;
            expect.push(("embedding.weight".into(), vec![c.vocab, c.embed_dim], "vocab, embed_dim"));
            for (i, (&w, &n)) in c.kernel_widths.iter().zip(&c.kernel_filters).enumerate() {
                expect.push((format!("convs.{i}.weight"), vec![n, c.embed_dim, w], "kernel_filters, kernel_widths"));
            }
            expect.push(("classifier.weight".into(), vec![c.n_classes, f], "n_classes, kernel_filters"));
        }
        ModelConfig::LstmClassifier(c) | ModelConfig::BilstmTagger(c) => {
            let dirs: &[&str] = if model.is_tagger() { &["", "_reverse"] } else { &[""] };
            let g = mul(4, c.lstm_hidden)?;
            expect.push(("embedding.weight".into(), vec![c.vocab, c.embed_dim], "vocab, embed_dim"));
            for d in dirs {
                expect.push((format!("lstm.weight_ih_l0{d}"), vec![g, c.embed_dim], "lstm_hidden, embed_dim"));
                expect.push((format!("lstm.weight_hh_l0{d}"), vec![g, c.lstm_hidden], "lstm_hidden"));
            }
            let h = mul(dirs.len(), c.lstm_hidden)?;
            expect.push(("hidden.weight".into(), vec![c.ffnn_dim, h], "ffnn_dim, lstm_hidden"));
            expect.push(("classifier.weight".into(), vec![c.n_classes, c.ffnn_dim], "n_classes, ffnn_dim"));
        }
    }
    for (name, shape, fields) in expect {
        match header.get(&name) {
            None => {
                return Err(bad(format!(
                    "tensor `{name}` is missing (architecture {}, config.json's {fields}; see MODELS.md)",
                    model.arch()
                )))
            }
            Some(t) if t.shape != shape => {
                return Err(bad(format!(
                    "tensor `{name}` has shape {:?}, but config.json's {fields} imply {shape:?}",
                    t.shape
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(entries: &[(&str, &[usize])]) -> Header {
        entries.iter().map(|(n, s)| (n.to_string(), TensorInfo { dtype: "F32".into(), shape: s.to_vec() })).collect()
    }

    fn paths() -> Paths<'static> {
        Paths { config: Path::new("c.json"), vocab: Path::new("v.json"), weights: Path::new("m.safetensors") }
    }

    #[test]
    fn absent_sizes_are_derived_and_disagreements_name_both_sources() {
        let h = header(&[("embedding.weight", &[12, 4]), ("classifier.weight", &[3, 5])]);
        let mut cfg = serde_json::json!({"arch": "word_cnn", "labels": ["a", "b", "c"]});
        complete(&mut cfg, 12, &h, &paths()).unwrap();
        assert_eq!(cfg["vocab"], 12);
        assert_eq!(cfg["n_classes"], 3);

        let mut cfg = serde_json::json!({"arch": "word_cnn", "labels": ["a", "b"]});
        let e = complete(&mut cfg, 12, &h, &paths()).unwrap_err().to_string();
        assert!(
            e.contains("`labels` has 2 names") && e.contains("`classifier.weight` of shape [3, 5] has 3 rows"),
            "{e}"
        );

        let mut cfg = serde_json::json!({"arch": "word_cnn", "vocab": 13, "labels": ["a", "b", "c"]});
        let e = complete(&mut cfg, 12, &h, &paths()).unwrap_err().to_string();
        assert!(e.contains("config.json says `vocab` 13") && e.contains("v.json (12 tokens"), "{e}");
    }
}
