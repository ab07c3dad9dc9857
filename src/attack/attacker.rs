//! The attack's front door: an attacker built from a checkpoint at a
//! [`Level`], attacking one text or a batch of tasks.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::attack::char_space::CharAttacker;
use crate::attack::result::ExampleResult;
use crate::attack::run::Level;
use crate::attack::search::Task;
use crate::attack::settings::Settings;
use crate::attack::word_space::{WordAttacker, WordConstraints, WordMode, WordSpace};
use crate::backend::CudaDevice;
use crate::checkpoint::Checkpoint;
use crate::cuda::Gpu;
use crate::error::{Error, Result};
use crate::math::argmax;
use crate::models::device::DeviceClassifier;
use crate::train::{predict, Sample, Target, Tokens};

enum Search<'a> {
    Char(Box<CharAttacker<'a>>),
    Word(Box<WordAttacker<'a>>),
}

/// HotFlip (or a baseline, by [`Settings::method`]) on a loaded model.
///
/// ```no_run
/// use hotflip::prelude::*;
///
/// let ck = hotflip::checkpoint::load("runs/char/best".as_ref())?;
/// let attacker = Attacker::from_checkpoint(&ck, Level::Char, Settings::default())?;
/// // No label: the model's own prediction is the one to flip.
/// let r = attacker.attack_text("the film is a triumph", None)?;
/// println!("{} -> {} ({})", r.orig_text, r.adv_text, r.success);
/// # Ok::<(), hotflip::Error>(())
/// ```
pub struct Attacker<'a> {
    ck: &'a Checkpoint,
    search: Search<'a>,
    constraints: BTreeMap<String, String>,
}

impl<'a> Attacker<'a> {
    /// The attack at `level` on the checkpoint's model: `Level::Char` for a
    /// `char_cnn_lstm`, `Level::Word` (with the paper's constraints but no
    /// POS tagger; see [`Attacker::with_constraints`]) or `Level::Unk` for
    /// word models.
    pub fn from_checkpoint(ck: &'a Checkpoint, level: Level, settings: Settings) -> Result<Self> {
        let wc = match level {
            Level::Word => WordConstraints::paper(None),
            _ => WordConstraints::none(),
        };
        Self::with_constraints(ck, level, settings, wc)
    }

    /// As [`Attacker::from_checkpoint`], with the word constraints given
    /// (ignored at the character level; at `Level::Unk` only the cosine
    /// setting is read).
    pub fn with_constraints(
        ck: &'a Checkpoint,
        level: Level,
        settings: Settings,
        constraints: WordConstraints,
    ) -> Result<Self> {
        Self::with_constraints_on(ck, level, settings, constraints, None)
    }

    /// As [`Attacker::with_constraints`]; with a `gpu`, the model's forward
    /// and backward passes run there (`models::device::DeviceClassifier`).
    /// The character attack also scores and prunes there (the fused kernels
    /// of `kernels/hotflip_score.cu`) on gradients that stay on the device;
    /// the word attack downloads dJ/d(embedded words) and scores its flips
    /// on the host, where the constraints are.
    pub fn with_constraints_on(
        ck: &'a Checkpoint,
        level: Level,
        settings: Settings,
        constraints: WordConstraints,
        gpu: Option<Arc<Gpu>>,
    ) -> Result<Self> {
        if (level == Level::Char) != ck.config.model.is_char_level() {
            return Err(Error::invalid(
                "attack",
                format!(
                    "--level {} does not fit {} ({}): use --level char for char_cnn_lstm, word or unk for word models",
                    level.name(),
                    ck.dir.display(),
                    ck.config.model.arch()
                ),
            ));
        }
        let mut described = BTreeMap::new();
        described.insert("one_change_per_word".to_string(), settings.one_change_per_word.to_string());
        let search = match level {
            Level::Char => {
                let ops = &settings.char_ops;
                let names: Vec<&str> = [(ops.flip, "flip"), (ops.insert, "insert"), (ops.delete, "delete")]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, n)| *n)
                    .collect();
                described.insert("ops".into(), names.join(","));
                described.insert("not_training_word".into(), settings.forbid_training_words.to_string());
                Search::Char(Box::new(CharAttacker::chars_on_device(
                    &ck.model,
                    &ck.store,
                    &ck.vocab,
                    ck.config.lowercase,
                    settings,
                    gpu,
                )?))
            }
            Level::Word | Level::Unk => {
                if level == Level::Word {
                    described.extend(constraints.describe());
                }
                let mode = if level == Level::Word { WordMode::Flip } else { WordMode::Unk };
                let space = WordSpace::new(
                    &ck.model,
                    &ck.store,
                    &ck.vocab.vocab,
                    ck.config.lowercase,
                    mode,
                    constraints,
                    &settings,
                )?;
                let attacker = WordAttacker::new(&ck.model, &ck.store, space, settings)?;
                Search::Word(Box::new(match gpu {
                    // Forward and backward passes on the device; the word
                    // flips are scored on the host (the constraints are there).
                    Some(gpu) => {
                        let device = Arc::new(CudaDevice::new(gpu));
                        attacker.on_device(DeviceClassifier::new(&ck.model, &ck.store, device)?)
                    }
                    None => attacker,
                }))
            }
        };
        Ok(Attacker { ck, search, constraints: described })
    }

    /// At word level with a cosine threshold: the largest cosine between an
    /// attacked word and any other vocabulary word met so far (what to report
    /// when the threshold left no candidates).
    pub fn largest_cosine_seen(&self) -> Option<f32> {
        match &self.search {
            Search::Char(_) => None,
            Search::Word(a) => a.space.largest_cosine_seen(),
        }
    }

    /// Whether the model's passes run on a GPU.
    pub fn on_gpu(&self) -> bool {
        match &self.search {
            Search::Char(a) => a.device.is_some(),
            Search::Word(a) => a.device.is_some(),
        }
    }

    /// Which constraints are on, as the summary and results file record them.
    pub fn constraints(&self) -> &BTreeMap<String, String> {
        &self.constraints
    }

    /// Attacks a batch of tasks together (their beams share passes); one
    /// result per task, in order.
    pub fn attack(&self, tasks: &[Task]) -> Result<Vec<ExampleResult>> {
        match &self.search {
            Search::Char(a) => a.attack(tasks),
            Search::Word(a) => a.attack(tasks),
        }
    }

    /// The class the model predicts for `text`.
    pub fn predict(&self, text: &str) -> Result<usize> {
        let cfg = &self.ck.config.model;
        let tokens = Tokens::of_text(text, &self.ck.vocab.vocab, self.ck.config.lowercase, cfg)?;
        let sample = Sample { tokens, target: Target::Class(0), index: 0 };
        if sample.is_empty() {
            return Err(Error::invalid("attack", "the text has no words the model can read"));
        }
        let probs = predict(&self.ck.model, &self.ck.store, &[sample], 1)?;
        Ok(argmax(&probs[0]))
    }

    /// Attacks one text. Without a `label`, the model's own prediction is
    /// the class to move away from (so the text is never skipped).
    pub fn attack_text(&self, text: &str, label: Option<usize>) -> Result<ExampleResult> {
        let n = self.ck.config.labels.len();
        let label = match label {
            Some(l) if l >= n => {
                return Err(Error::invalid("attack", format!("label {l} out of range: the model has {n} classes")))
            }
            Some(l) => l,
            None => self.predict(text)?,
        };
        let mut rs = self.attack(&[Task { index: 0, text: text.to_string(), label }])?;
        rs.pop().ok_or_else(|| Error::invalid("attack", "the search returned no result"))
    }
}
