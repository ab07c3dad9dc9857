//! `char_nmt` checkpoints, MODELS.md's format: `config.json` (`"arch":
//! "char_nmt"` and the config fields), `vocab.json` (with `tgt_tokens`) and
//! `model.safetensors` with PyTorch names, written atomically and checked
//! tensor by tensor on load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{atomic, tensors, CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE};
use crate::error::{Error, Result};
use crate::models::char_nmt::{CharNmt, CharNmtConfig};
use crate::nmt::NmtVocab;
use crate::nn::ParamStore;
use crate::rng::Rng;

/// The `"arch"` value that marks a `char_nmt` checkpoint's `config.json`.
pub const ARCH: &str = "char_nmt";

/// `config.json` of a `char_nmt` checkpoint: the architecture tag, the model
/// config flattened beside it, and optional provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NmtConfigFile {
    /// Always [`ARCH`]; `load` refuses anything else.
    pub arch: String,
    /// The model's hyper-parameters (stored as top-level fields).
    #[serde(flatten)]
    pub model: CharNmtConfig,
    /// Name of the data set it was trained on, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Free-form training record (for `best/`: epoch, step, minutes, seed and
    /// greedy dev BLEU); `null` when absent.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub training: serde_json::Value,
}

/// A loaded `char_nmt` checkpoint: the model with its weights and the
/// vocabularies to encode sources and decode targets.
pub struct NmtCheckpoint {
    /// The directory it was loaded from.
    pub dir: PathBuf,
    /// Its `config.json`.
    pub config: NmtConfigFile,
    /// Its `vocab.json`, consistent with the config's `n_chars` and `n_tgt`.
    pub vocab: NmtVocab,
    /// The model structure (weights live in `store`).
    pub model: CharNmt,
    /// The weights, under PyTorch names.
    pub store: ParamStore,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
}

/// Whether `dir/config.json` names the `char_nmt` architecture.
pub fn is_nmt(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(CONFIG_FILE)) else { return false };
    serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v["arch"] == ARCH)
}

/// Writes `config.json`, `vocab.json`, `model.safetensors` and the `extra`
/// `(file name, bytes)` files (e.g. optimiser state) to `dir` atomically:
/// an interrupted save leaves the previous checkpoint whole.
pub fn save(
    dir: &Path,
    config: &NmtConfigFile,
    vocab: &NmtVocab,
    store: &ParamStore,
    extra: &[(&str, Vec<u8>)],
) -> Result<()> {
    let tensors: Vec<(String, crate::Tensor)> = store.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    let mut config_bytes = serde_json::to_string_pretty(config).map_err(|e| bad(dir, e.to_string()))?.into_bytes();
    config_bytes.push(b'\n');
    let mut vocab_bytes = vocab.to_json().into_bytes();
    vocab_bytes.push(b'\n');
    let meta = HashMap::from([("format".to_string(), "pt".to_string()), ("arch".into(), ARCH.into())]);
    atomic::write_dir(dir, |tmp| {
        for (name, bytes) in [(CONFIG_FILE, &config_bytes), (VOCAB_FILE, &vocab_bytes)] {
            std::fs::write(tmp.join(name), bytes).map_err(|source| Error::Io { path: tmp.join(name), source })?;
        }
        tensors::save(&tmp.join(WEIGHTS_FILE), &tensors, Some(meta))?;
        for (name, bytes) in extra {
            std::fs::write(tmp.join(name), bytes).map_err(|source| Error::Io { path: tmp.join(name), source })?;
        }
        Ok(())
    })
}

/// Loads a checkpoint directory, checking the architecture, that the
/// vocabulary sizes match the config, and every tensor's name, shape and
/// finiteness. Errors name the offending file.
pub fn load(dir: &Path) -> Result<NmtCheckpoint> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let config: NmtConfigFile =
        serde_json::from_str(&text).map_err(|e| bad(&path, format!("invalid char_nmt config: {e}")))?;
    if config.arch != ARCH {
        return Err(bad(&path, format!("architecture `{}`, not {ARCH}", config.arch)));
    }
    let vocab = NmtVocab::load(&dir.join(VOCAB_FILE))?;
    if vocab.chars.len() != config.model.n_chars || vocab.n_tgt() != config.model.n_tgt {
        return Err(bad(
            &dir.join(VOCAB_FILE),
            format!(
                "{} characters and {} target words (specials included), but config.json says {} and {}",
                vocab.chars.len(),
                vocab.n_tgt(),
                config.model.n_chars,
                config.model.n_tgt
            ),
        ));
    }
    let (model, store) = load_weights(&dir.join(WEIGHTS_FILE), &config.model)?;
    Ok(NmtCheckpoint { dir: dir.to_path_buf(), config, vocab, model, store })
}

/// Builds the model and fills it from a safetensors file, checking names
/// and shapes.
pub fn load_weights(path: &Path, config: &CharNmtConfig) -> Result<(CharNmt, ParamStore)> {
    let mut store = ParamStore::new();
    let model = CharNmt::new(config.clone(), &mut store, &mut Rng::new(0))?;
    let mut found: HashMap<String, crate::Tensor> = tensors::load(path)?.into_iter().collect();
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let name = store.name(id).to_string();
        let t = found.remove(&name).ok_or_else(|| bad(path, format!("tensor `{name}` is missing ({ARCH})")))?;
        if t.shape() != store.get(id).shape() {
            return Err(bad(
                path,
                format!("tensor `{name}` has shape {:?}, config.json implies {:?}", t.shape(), store.get(id).shape()),
            ));
        }
        if !t.all_finite() {
            return Err(bad(path, format!("tensor `{name}` contains NaN or infinite values")));
        }
        store.set(id, t)?;
    }
    if let Some(extra) = found.keys().min() {
        return Err(bad(path, format!("unexpected tensor `{extra}` for {ARCH}")));
    }
    Ok((model, store))
}
