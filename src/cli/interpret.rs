//! `hotflip interpret`: which words iAdvT's perturbation points at.

use std::path::PathBuf;

use clap::Args;

use hotflip::adv::interpret::{interpret, interpret_tagged, render_html, render_text, Interpretation};
use hotflip::checkpoint::atomic;
use hotflip::cuda::Backend;
use hotflip::data::AnyDataset;

use super::common::{announce_backend, load_model, DataArgs};
use super::eval::Split;
use super::CliResult;

#[derive(Args)]
pub struct InterpretArgs {
    /// A word classifier's or `bilstm_tagger`'s checkpoint, or a training run (its best/).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// One text to interpret.
    #[arg(long, conflicts_with = "dataset")]
    text: Option<String>,
    /// Interpret texts of this data set (sst2, mr, imdb, ag_news, ag_news_small; fce for a tagger,
    /// perturbed against the gold labels; see ../shared/data/README.md).
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// The data set's own folder (default: $HOTFLIP_DATA/<name>, then data/<name>, then ../shared/data/<name>).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Which split the texts come from.
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    /// Texts from the split.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// K nearest words.
    #[arg(long, default_value_t = 10)]
    neighbours: usize,
    /// Perturbation radius ε.
    #[arg(long, default_value_t = 15.0)]
    epsilon: f32,
    /// An HTML heat map.
    #[arg(long, value_name = "FILE.html")]
    html: Option<PathBuf>,
    /// One JSON object per text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: InterpretArgs, threads: usize, backend: &Backend) -> CliResult<()> {
    announce_backend(threads, backend);
    if a.neighbours == 0 || a.epsilon <= 0.0 {
        return Err("--neighbours must be at least 1 and --epsilon positive".into());
    }
    let ck = load_model(&a.model)?;
    let items = if ck.config.model.is_tagger() { tagged(&a, &ck)? } else { classified(&a, &ck)? };
    if !a.json {
        println!("{}", hotflip::adv::interpret::LEGEND);
        if ck.config.model.is_tagger() {
            println!("{}", hotflip::adv::interpret::TAGGER_LEGEND);
        }
        println!();
    }
    for it in &items {
        if a.json {
            println!("{}", serde_json::to_string(it)?);
        } else {
            print!("{}", render_text(it, &ck.config.labels));
        }
    }
    if let Some(p) = &a.html {
        atomic::write_file(p, render_html(&items, &ck.config.labels).as_bytes())?;
    }
    Ok(())
}

/// A word classifier's texts: `--text`, or the first `--limit` of a split.
fn classified(a: &InterpretArgs, ck: &hotflip::checkpoint::Checkpoint) -> CliResult<Vec<Interpretation>> {
    let texts: Vec<String> = match (&a.text, &a.dataset) {
        (Some(t), _) => vec![t.clone()],
        (None, Some(name)) => {
            let data = DataArgs { dataset: name.clone(), data_dir: a.data_dir.clone(), skip_bad_rows: false }.load()?;
            let AnyDataset::Classification(d) = data else {
                return Err(format!("`{name}` is not a classification data set").into());
            };
            let split = match a.split {
                Split::Train => &d.train,
                Split::Dev => &d.dev,
                Split::Test => &d.test,
            };
            split.iter().take(a.limit).map(|e| e.text.clone()).collect()
        }
        (None, None) => return Err("give --text \"...\" or --dataset NAME".into()),
    };
    Ok(interpret(&ck.model, &ck.store, &ck.vocab.vocab, ck.config.lowercase, &texts, a.neighbours, a.epsilon)?)
}

/// A tagger's sentences: `--text` (split on spaces, against the predicted
/// labels), or the first `--limit` of a tagging set's split (against the
/// gold labels).
fn tagged(a: &InterpretArgs, ck: &hotflip::checkpoint::Checkpoint) -> CliResult<Vec<Interpretation>> {
    let (sentences, gold): (Vec<Vec<String>>, Option<Vec<Vec<usize>>>) = match (&a.text, &a.dataset) {
        (Some(t), _) => (vec![t.split_whitespace().map(String::from).collect()], None),
        (None, Some(name)) => {
            let data = DataArgs { dataset: name.clone(), data_dir: a.data_dir.clone(), skip_bad_rows: false }.load()?;
            let AnyDataset::Tagging(d) = data else {
                return Err(format!("`{name}` is not a tagging data set; the model is a tagger").into());
            };
            let split = match a.split {
                Split::Train => &d.train,
                Split::Dev => &d.dev,
                Split::Test => &d.test,
            };
            let picked: Vec<_> = split.iter().filter(|s| !s.tokens.is_empty()).take(a.limit).collect();
            (picked.iter().map(|s| s.tokens.clone()).collect(), Some(picked.iter().map(|s| s.labels.clone()).collect()))
        }
        (None, None) => return Err("give --text \"...\" or --dataset NAME".into()),
    };
    let (v, lc) = (&ck.vocab.vocab, ck.config.lowercase);
    Ok(interpret_tagged(&ck.model, &ck.store, v, lc, &sentences, gold.as_deref(), a.neighbours, a.epsilon)?)
}
