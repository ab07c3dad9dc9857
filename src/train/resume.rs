//! What both training loops (`Trainer` for the classifiers and taggers,
//! `nmt::train` for `char_nmt`) keep in `last/` besides the weights, and
//! the checks before a run starts or continues: Adam's state
//! (`optimizer.safetensors`), the loop's own state (`trainer.json`), and
//! the settings a resumed run must share.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::checkpoint::tensors;
use crate::error::{Error, Result};
use crate::nn::ParamStore;
use crate::optim::{Adam, AdamConfig, Optimizer};
use crate::train::trainer::LAST;

/// Adam's moments and step count, in `last/`.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The loop's state (epoch, batch, step, best score, …), in `last/`.
pub const STATE_FILE: &str = "trainer.json";

/// The settings a resume must not change, by their flags.
pub fn resume_settings(
    batch: usize,
    adam: &AdamConfig,
    clip: Option<f32>,
    max_norm: Option<f32>,
) -> BTreeMap<String, serde_json::Value> {
    use serde_json::json;
    [
        ("--batch", json!(batch)),
        ("--lr", json!(adam.lr)),
        ("--lr-decay", json!(adam.decay)),
        ("--clip", json!(clip.unwrap_or(0.0))),
        ("--max-norm", json!(max_norm)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A fresh run must not overwrite one that could be resumed.
pub fn check_fresh(out: &Path) -> Result<()> {
    if out.join(LAST).exists() {
        return Err(Error::Checkpoint {
            path: out.to_path_buf(),
            msg: "already holds a training run: pass --resume to continue it, or choose another --out".into(),
        });
    }
    Ok(())
}

/// The files `last/` holds besides the checkpoint: Adam's state and `state`.
pub fn state_files<S: Serialize>(
    dir: &Path,
    adam: &Adam,
    store: &ParamStore,
    state: &S,
) -> Result<[(&'static str, Vec<u8>); 2]> {
    let (tensors, steps) = adam.state(store);
    let meta = std::collections::HashMap::from([("steps".to_string(), steps.to_string())]);
    let opt_bytes = tensors::to_bytes(&dir.join(OPTIMIZER_FILE), &tensors, Some(meta))?;
    let state_bytes = serde_json::to_vec_pretty(state).map_err(|e| Error::invalid("trainer state", e.to_string()))?;
    Ok([(OPTIMIZER_FILE, opt_bytes), (STATE_FILE, state_bytes)])
}

/// `out/last/trainer.json`, or an error saying there is nothing to resume.
pub fn read_state<S: DeserializeOwned>(out: &Path) -> Result<S> {
    let path = out.join(LAST).join(STATE_FILE);
    if !path.exists() {
        return Err(Error::Checkpoint {
            path: out.to_path_buf(),
            msg: format!(
                "nothing to resume here (no {LAST}/{STATE_FILE}); start the run without --resume, or point --out at the run to continue"
            ),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    serde_json::from_str(crate::data::strip_bom(&text)).map_err(|e| Error::Checkpoint { path, msg: e.to_string() })
}

/// The first setting that differs between the saved run and this command.
pub fn check_settings(
    dir: &Path,
    old: &BTreeMap<String, serde_json::Value>,
    now: &BTreeMap<String, serde_json::Value>,
) -> Result<()> {
    for (flag, old) in old {
        let new = now.get(flag).cloned().unwrap_or_default();
        if !same_setting(old, &new) {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                msg: format!(
                    "was trained with {flag} {old}; this command asks for {flag} {new}: resume with the same {flag}, or train into another --out"
                ),
            });
        }
    }
    Ok(())
}

/// Whether a saved setting equals this command's. Numbers compare as the
/// f32 the flags are: serde_json's default float parsing is not exactly
/// round-trip, so an f32 widened, written and read back (0.999 as
/// 0.9990000128746033 → …032) can differ from the value in the last bit.
fn same_setting(old: &serde_json::Value, new: &serde_json::Value) -> bool {
    match (old.as_f64(), new.as_f64()) {
        (Some(a), Some(b)) => a as f32 == b as f32,
        _ => old == new,
    }
}

/// Restores Adam from `dir` (a `last/`) for the weights in `store`.
pub fn load_optimizer(dir: &Path, adam: &mut Adam, store: &ParamStore, step: u64) -> Result<()> {
    let opt = tensors::load(&dir.join(OPTIMIZER_FILE))?;
    adam.load_state(store, &opt, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_f32_setting_read_back_from_json_is_the_same_and_a_changed_one_is_named() {
        let adam = AdamConfig { lr: 1e-2, decay: 0.999, ..AdamConfig::default() };
        let now = resume_settings(16, &adam, Some(5.0), None);
        let text = serde_json::to_string(&now).unwrap();
        let saved: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        check_settings(Path::new("x"), &saved, &now).unwrap();
        let changed = resume_settings(16, &AdamConfig { decay: 0.998, ..adam }, Some(5.0), None);
        let err = check_settings(Path::new("x"), &saved, &changed).unwrap_err().to_string();
        assert!(err.contains("--lr-decay"), "{err}");
        let other_batch = resume_settings(8, &adam, Some(5.0), None);
        assert!(check_settings(Path::new("x"), &saved, &other_batch).is_err());
    }
}
