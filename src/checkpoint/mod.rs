//! Checkpoints as MODELS.md defines them: a directory with `config.json`,
//! `vocab.json` and `model.safetensors` (PyTorch names and layouts), written
//! atomically and validated tensor by tensor on load.

pub use crate::util::atomic;
pub mod derive;
pub mod tensors;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::ModelVocab;
use crate::error::{Error, Result};
use crate::models::{Model, ModelConfig};
use crate::nn::ParamStore;
use crate::rng::Rng;

/// The configuration file of a checkpoint directory.
pub const CONFIG_FILE: &str = "config.json";
/// The vocabulary file of a checkpoint directory.
pub const VOCAB_FILE: &str = "vocab.json";
/// The weights (safetensors) of a checkpoint directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// `config.json`: the architecture with its hyper-parameters (flattened, with
/// `"arch"`), the label names, tokenisation, and what training left behind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    #[serde(flatten)]
    /// The architecture and its sizes.
    pub model: ModelConfig,
    /// Label names, index = class id.
    pub labels: Vec<String>,
    /// Whether words/characters are lowercased before lookup.
    pub lowercase: bool,
    /// The data set the model was trained on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Training summary (epochs, dev accuracy, method, …); free-form.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub training: serde_json::Value,
}

/// A loaded checkpoint.
///
/// ```no_run
/// use hotflip::checkpoint;
///
/// let ck = checkpoint::load("runs/sst2/best".as_ref())?;
/// println!("{} over {:?}, {} parameters", ck.config.model.arch(), ck.config.labels, ck.store.num_values());
/// # Ok::<(), hotflip::Error>(())
/// ```
pub struct Checkpoint {
    /// The directory it was loaded from.
    pub dir: PathBuf,
    /// `config.json`: the model, labels, casing and how it was trained.
    pub config: CheckpointConfig,
    /// `vocab.json`: input tokens and, for a character model, the training
    /// word vocabulary.
    pub vocab: ModelVocab,
    /// The model's structure.
    pub model: Model,
    /// Its weights.
    pub store: ParamStore,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
}

fn json_bytes(path: &Path, value: &impl Serialize) -> Result<Vec<u8>> {
    let mut s = serde_json::to_string_pretty(value).map_err(|e| bad(path, e.to_string()))?;
    s.push('\n');
    Ok(s.into_bytes())
}

/// Writes a checkpoint directory into `dir` (atomically replacing it).
/// `extra` files (name, bytes) go into the same directory, e.g. optimizer
/// state for resuming.
pub fn save(
    dir: &Path,
    config: &CheckpointConfig,
    vocab: &ModelVocab,
    store: &ParamStore,
    extra: &[(&str, Vec<u8>)],
) -> Result<()> {
    let tensors: Vec<(String, crate::Tensor)> = store.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    let config_bytes = json_bytes(&dir.join(CONFIG_FILE), config)?;
    let mut vocab_bytes = vocab.to_json().into_bytes();
    vocab_bytes.push(b'\n');
    let meta = HashMap::from([("format".to_string(), "pt".to_string()), ("arch".into(), config.model.arch().into())]);
    atomic::write_dir(dir, |tmp| {
        std::fs::write(tmp.join(CONFIG_FILE), &config_bytes)
            .map_err(|source| Error::Io { path: tmp.join(CONFIG_FILE), source })?;
        std::fs::write(tmp.join(VOCAB_FILE), &vocab_bytes)
            .map_err(|source| Error::Io { path: tmp.join(VOCAB_FILE), source })?;
        tensors::save(&tmp.join(WEIGHTS_FILE), &tensors, Some(meta))?;
        for (name, bytes) in extra {
            std::fs::write(tmp.join(name), bytes).map_err(|source| Error::Io { path: tmp.join(name), source })?;
        }
        Ok(())
    })
}

/// Reads `config.json` alone (as this project writes it: every size given).
pub fn load_config(dir: &Path) -> Result<CheckpointConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    serde_json::from_str(crate::data::strip_bom(&text)).map_err(|e| bad(&path, format!("invalid config: {e}")))
}

/// Loads and validates a checkpoint: sizes config.json leaves out are
/// derived from vocab.json, `labels` and the tensors (MODELS.md), every size
/// is checked against the safetensors header before anything is allocated,
/// then every tensor the architecture defines must be present with its
/// exact shape, and nothing else may be.
pub fn load(dir: &Path) -> Result<Checkpoint> {
    if !dir.join(CONFIG_FILE).exists() {
        return Err(bad(dir, format!("not a checkpoint directory (no {CONFIG_FILE})")));
    }
    let (config_path, vocab_path, weights_path) = (dir.join(CONFIG_FILE), dir.join(VOCAB_FILE), dir.join(WEIGHTS_FILE));
    let text =
        std::fs::read_to_string(&config_path).map_err(|source| Error::Io { path: config_path.clone(), source })?;
    let mut raw: serde_json::Value = serde_json::from_str(crate::data::strip_bom(&text))
        .map_err(|e| bad(&config_path, format!("invalid config: {e}")))?;
    if !raw.get("arch").and_then(serde_json::Value::as_str).is_some_and(derive::known_arch) {
        // serde names the field or the unknown architecture.
        let e =
            serde_json::from_value::<CheckpointConfig>(raw).err().map_or("unknown `arch`".into(), |e| e.to_string());
        return Err(bad(&config_path, format!("invalid config: {e}")));
    }
    let vocab = ModelVocab::load(&vocab_path)?;
    let header = tensors::read_header(&weights_path)?;
    let paths = derive::Paths { config: &config_path, vocab: &vocab_path, weights: &weights_path };
    derive::complete(&mut raw, vocab.vocab.len(), &header, &paths)?;
    let config: CheckpointConfig =
        serde_json::from_value(raw).map_err(|e| bad(&config_path, format!("invalid config: {e}")))?;
    derive::check_sizes(&config.model, &header, &weights_path)?;
    let (model, store) = load_weights(&weights_path, &config.model)?;
    Ok(Checkpoint { dir: dir.to_path_buf(), config, vocab, model, store })
}

/// Builds the architecture and fills it from a safetensors file, checking
/// names and shapes.
pub fn load_weights(path: &Path, config: &ModelConfig) -> Result<(Model, ParamStore)> {
    let mut store = ParamStore::new();
    let model = Model::new(config, &mut store, &mut Rng::new(0))?;
    let mut found: HashMap<String, crate::Tensor> = tensors::load(path)?.into_iter().collect();
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let name = store.name(id).to_string();
        let t = found.remove(&name).ok_or_else(|| {
            bad(path, format!("tensor `{name}` is missing (architecture {}, see MODELS.md)", config.arch()))
        })?;
        if t.shape() != store.get(id).shape() {
            return Err(bad(
                path,
                format!(
                    "tensor `{name}` has shape {:?}, but config.json implies {:?}",
                    t.shape(),
                    store.get(id).shape()
                ),
            ));
        }
        if !t.all_finite() {
            return Err(bad(path, format!("tensor `{name}` contains NaN or infinite values")));
        }
        store.set(id, t)?;
    }
    if let Some(extra) = found.keys().min() {
        return Err(bad(path, format!("unexpected tensor `{extra}` for architecture {}", config.arch())));
    }
    Ok((model, store))
}
