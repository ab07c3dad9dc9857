//! The tagger's JSON file:
//!
//! ```json
//! {"format": "hotflip-pos-perceptron", "version": 1,
//!  "features": "hotflip-pos-features-v1", "lowercase": false,
//!  "classes": ["ADJ", "ADP", ...],
//!  "tagdict": {"the": "DET", ...},
//!  "weights": [[feature_hash, [[class_index, weight], ...]], ...]}
//! ```
//!
//! `classes` are the tags seen in training (no other is predicted);
//! `class_index` is the tag's position in [`Upos::ALL`]; only non-zero
//! weights are written, and features are sorted by hash, so the same model
//! always gives the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::features::FEATURE_SET;
use super::perceptron::Weights;
use super::{PerceptronTagger, Upos};
use crate::error::{Error, Result};
use crate::util::atomic::write_file;

const FORMAT: &str = "hotflip-pos-perceptron";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct TaggerFile {
    format: String,
    version: u32,
    features: String,
    lowercase: bool,
    classes: Vec<String>,
    tagdict: BTreeMap<String, String>,
    weights: Vec<(u64, Vec<(u8, f32)>)>,
}

pub(super) fn save(tagger: &PerceptronTagger, path: &Path) -> Result<()> {
    let weights = &tagger.weights;
    let file = TaggerFile {
        format: FORMAT.to_string(),
        version: VERSION,
        features: FEATURE_SET.to_string(),
        lowercase: tagger.lowercase,
        classes: Upos::ALL.iter().filter(|t| weights.classes()[t.index()]).map(|t| t.to_string()).collect(),
        tagdict: tagger.tagdict.iter().map(|(w, t)| (w.clone(), t.to_string())).collect(),
        weights: weights
            .sorted_rows()
            .into_iter()
            .map(|(f, row)| {
                (f, row.iter().enumerate().filter(|(_, &w)| w != 0.0).map(|(k, &w)| (k as u8, w)).collect())
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&file).map_err(|e| bad(path, format!("cannot encode the tagger: {e}")))?;
    write_file(path, &bytes)
}

pub(super) fn load(path: &Path) -> Result<PerceptronTagger> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let file: TaggerFile = serde_json::from_slice(crate::data::strip_bom_bytes(&bytes))
        .map_err(|e| bad(path, format!("not a hotflip POS tagger file: {e}")))?;
    if file.format != FORMAT || file.version != VERSION {
        return Err(bad(
            path,
            format!("format `{}` version {}; this build reads `{FORMAT}` version {VERSION}", file.format, file.version),
        ));
    }
    if file.features != FEATURE_SET {
        return Err(bad(
            path,
            format!(
                "made with feature set `{}`, this build computes `{FEATURE_SET}`: retrain the tagger",
                file.features
            ),
        ));
    }
    let tag = |s: &str, what: &str| s.parse::<Upos>().map_err(|e| bad(path, format!("{what}: {e}")));
    let mut classes = [false; Upos::COUNT];
    for c in &file.classes {
        classes[tag(c, "classes")?.index()] = true;
    }
    if !classes.contains(&true) {
        return Err(bad(path, "no classes"));
    }
    let mut tagdict = HashMap::with_capacity(file.tagdict.len());
    for (word, t) in &file.tagdict {
        tagdict.insert(word.clone(), tag(t, &format!("tagdict entry `{word}`"))?);
    }
    let mut weights = Weights::empty(classes);
    for (feature, entries) in file.weights {
        let mut row = [0f32; Upos::COUNT];
        for (k, w) in entries {
            let cell = row
                .get_mut(k as usize)
                .ok_or_else(|| bad(path, format!("feature {feature}: class index {k} is not below {}", Upos::COUNT)))?;
            if !w.is_finite() {
                return Err(bad(path, format!("feature {feature}: weight {w} is not finite")));
            }
            *cell = w;
        }
        if !weights.insert(feature, row) {
            return Err(bad(path, format!("feature {feature} appears twice")));
        }
    }
    Ok(PerceptronTagger { weights, tagdict, lowercase: file.lowercase })
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::BadFile { path: path.to_path_buf(), msg: msg.into() }
}
