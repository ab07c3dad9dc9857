//! `hotflip interpret`: which words iAdvT's perturbation points at.

use std::path::PathBuf;

use clap::Args;

use hotflip::adv::interpret::{interpret, render_html, render_text};
use hotflip::checkpoint::atomic;
use hotflip::cuda::Backend;
use hotflip::data::AnyDataset;

use super::common::{announce_backend, load_model, DataArgs};
use super::eval::Split;
use super::CliResult;

#[derive(Args)]
pub struct InterpretArgs {
    /// A word classifier's checkpoint, or a training run (its best/).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// One text to interpret.
    #[arg(long, conflicts_with = "dataset")]
    text: Option<String>,
    /// Interpret texts of this data set (sst2, mr, imdb, ag_news, ag_news_small; see ../shared/data/README.md).
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
    let items = interpret(&ck.model, &ck.store, &ck.vocab.vocab, ck.config.lowercase, &texts, a.neighbours, a.epsilon)?;
    if !a.json {
        println!("{}\n", hotflip::adv::interpret::LEGEND);
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
