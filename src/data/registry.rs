//! Loading a data set by name.

use std::path::Path;

use super::dataset::{Dataset, Example, LoadOptions, ParallelPair, TaggedSentence};
use super::locate::locate;
use super::{ag_news, fce, imdb, mr, multi30k, sst2};
use crate::error::{Error, Result};

/// The names [`load`] accepts.
pub const KNOWN: [&str; 7] =
    [ag_news::NAME, ag_news::SMALL_NAME, sst2::NAME, mr::NAME, imdb::NAME, fce::NAME, multi30k::NAME];

/// A loaded data set of whichever task its name implies.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyDataset {
    /// One label per text.
    Classification(Dataset<Example>),
    /// One label per token.
    Tagging(Dataset<TaggedSentence>),
    /// Sentence pairs.
    Translation(Dataset<ParallelPair>),
}

impl AnyDataset {
    /// The data set's name ([`Dataset::name`]).
    pub fn name(&self) -> &str {
        match self {
            AnyDataset::Classification(d) => &d.name,
            AnyDataset::Tagging(d) => &d.name,
            AnyDataset::Translation(d) => &d.name,
        }
    }

    /// The split description ([`Dataset::split`]).
    pub fn split(&self) -> &str {
        match self {
            AnyDataset::Classification(d) => &d.split,
            AnyDataset::Tagging(d) => &d.split,
            AnyDataset::Translation(d) => &d.split,
        }
    }

    /// The folder the data set was read from.
    pub fn dir(&self) -> &Path {
        match self {
            AnyDataset::Classification(d) => &d.dir,
            AnyDataset::Tagging(d) => &d.dir,
            AnyDataset::Translation(d) => &d.dir,
        }
    }

    /// The error for a split with no examples, naming its files.
    pub fn empty_split(&self, which: &str) -> Error {
        empty_split(self.name(), self.dir(), self.split(), which)
    }

    /// The classification data set, or an error naming the data set.
    pub fn into_classification(self) -> Result<Dataset<Example>> {
        match self {
            AnyDataset::Classification(d) => Ok(d),
            other => Err(Error::invalid("data", format!("`{}` is not a classification data set", other.name()))),
        }
    }

    /// The tagging data set, or an error naming the data set.
    pub fn into_tagging(self) -> Result<Dataset<TaggedSentence>> {
        match self {
            AnyDataset::Tagging(d) => Ok(d),
            other => Err(Error::invalid("data", format!("`{}` is not a token tagging data set", other.name()))),
        }
    }

    /// The translation data set, or an error naming the data set.
    pub fn into_translation(self) -> Result<Dataset<ParallelPair>> {
        match self {
            AnyDataset::Translation(d) => Ok(d),
            other => Err(Error::invalid("data", format!("`{}` is not a translation data set", other.name()))),
        }
    }
}

/// Loads data set `name` from `data_dir` (its own folder) or the default
/// places ([`locate`](super::locate)). `ag_news_small` reads the `ag_news`
/// folder and forces the reduced split.
pub fn load(name: &str, data_dir: Option<&Path>, opts: LoadOptions) -> Result<AnyDataset> {
    type Loader = fn(&Path, LoadOptions) -> Result<AnyDataset>;
    let (folder, loader): (&str, Loader) = match name {
        ag_news::NAME => (ag_news::NAME, |d, o| Ok(AnyDataset::Classification(ag_news::load(d, o, false)?))),
        ag_news::SMALL_NAME => (ag_news::NAME, |d, o| Ok(AnyDataset::Classification(ag_news::load(d, o, true)?))),
        sst2::NAME => (sst2::NAME, |d, o| Ok(AnyDataset::Classification(sst2::load(d, o)?))),
        mr::NAME => (mr::NAME, |d, o| Ok(AnyDataset::Classification(mr::load(d, o)?))),
        imdb::NAME => (imdb::NAME, |d, o| Ok(AnyDataset::Classification(imdb::load(d, o)?))),
        fce::NAME => (fce::NAME, |d, o| Ok(AnyDataset::Tagging(fce::load(d, o)?))),
        multi30k::NAME => (multi30k::NAME, |d, o| Ok(AnyDataset::Translation(multi30k::load(d, o)?))),
        _ => {
            return Err(Error::UnknownDataset {
                name: name.into(),
                known: KNOWN.iter().map(|s| s.to_string()).collect(),
            })
        }
    };
    loader(&locate(folder, data_dir)?, opts)
}

/// The error for split `which` of data set `name` (read from `dir`, split
/// as `split` describes) having no examples.
pub fn empty_split(name: &str, dir: &Path, split: &str, which: &str) -> Error {
    Error::BadFile {
        path: dir.to_path_buf(),
        msg: format!("the {which} split of {name} is empty (no examples; split: {split})"),
    }
}
