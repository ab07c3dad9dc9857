//! Scale-out without a scheduler of our own: `--shard I/N` runs the batches
//! `k` of a split with `k mod N = I` (I counts from 0; `eval` and `predict`
//! shard examples and input lines the same way, see [`Shard::owns`]), so a Slurm job array
//! or a Kubernetes Indexed Job runs N shards; [`merge`] joins their results
//! files into the file one unsharded run writes (index order), refusing
//! shards of other settings or with overlapping examples.
//!
//! Shards are whole batches, so every example is attacked in the same
//! company as in one run and gets the same numbers (but for timing).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::attack::result::{ExampleResult, RunInfo};
use crate::attack::results_file::{meta_path, read_results};
use crate::error::{Error, Result};

/// Shard `index` of `count` (index counts from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: usize,
    /// How many shards the split is cut into.
    pub count: usize,
}

impl Shard {
    /// Whether item number `k` (counting from 0) belongs to this shard:
    /// a batch for `attack`, an example for `eval`, an input line for
    /// `predict`.
    pub fn owns(self, k: usize) -> bool {
        k % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `I/N` with `0 ≤ I < N`.
    fn from_str(s: &str) -> Result<Shard> {
        let bad = || Error::invalid("shard", format!("`{s}` is not I/N with 0 <= I < N (I counts from 0)"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Shard results files joined into one run's.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The run's settings, as an unsharded run records them.
    pub meta: serde_json::Value,
    /// Every result, in index order.
    pub results: Vec<ExampleResult>,
}

fn read_meta(path: &Path) -> Result<serde_json::Value> {
    let meta = meta_path(path);
    let text = std::fs::read_to_string(&meta).map_err(|source| Error::Io { path: meta.clone(), source })?;
    serde_json::from_str(&text).map_err(|e| Error::BadFile { path: meta, msg: format!("not JSON: {e}") })
}

/// Reads the shard files at `paths` (each with its `.meta.json`), checks
/// that they come from one run's settings, cover distinct shards and hold
/// no example twice, and joins their results in index order.
pub fn merge(paths: &[PathBuf]) -> Result<Merged> {
    let mut common: Option<(PathBuf, serde_json::Value)> = None;
    let mut shards: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut by_index: BTreeMap<usize, (ExampleResult, PathBuf)> = BTreeMap::new();
    for path in paths {
        let mut meta = read_meta(path)?;
        let shard = meta.as_object_mut().and_then(|m| m.remove("shard"));
        let shard = shard.and_then(|s| s.as_str().map(str::to_string)).unwrap_or_else(|| "0/1".into());
        if let Some(other) = shards.insert(shard.clone(), path.clone()) {
            return Err(Error::BadFile {
                path: path.clone(),
                msg: format!("is shard {shard} again (also {})", other.display()),
            });
        }
        match &common {
            None => common = Some((path.clone(), meta.clone())),
            Some((first, m)) if *m != meta => {
                return Err(Error::BadFile {
                    path: path.clone(),
                    msg: format!("was run with other settings than {}; shards of one run only", first.display()),
                })
            }
            Some(_) => {}
        }
        for r in read_results(path)? {
            if let Some((_, other)) = by_index.get(&r.index) {
                return Err(Error::BadFile {
                    path: path.clone(),
                    msg: format!("example {} is also in {}: the shards overlap", r.index, other.display()),
                });
            }
            by_index.insert(r.index, (r, path.clone()));
        }
    }
    let counts: BTreeSet<usize> = shards.keys().filter_map(|s| s.parse::<Shard>().ok()).map(|s| s.count).collect();
    if counts.len() > 1 {
        return Err(Error::invalid("merge", format!("the shards cut the split differently: {counts:?} shards")));
    }
    let (_, meta) = common.ok_or_else(|| Error::invalid("merge", "no shard files given"))?;
    Ok(Merged { meta, results: by_index.into_values().map(|(r, _)| r).collect() })
}

impl Merged {
    /// What the summary repeats of the run's settings.
    pub fn info(&self) -> Result<RunInfo> {
        let m = &self.meta;
        let bad = |what: &str| Error::invalid("merge", format!("the shards' settings lack `{what}`"));
        let constraints: BTreeMap<String, String> =
            serde_json::from_value(m["constraints"].clone()).map_err(|_| bad("constraints"))?;
        Ok(RunInfo {
            model: m["model"].as_str().ok_or_else(|| bad("model"))?.to_string(),
            dataset: format!(
                "{} {}",
                m["dataset"].as_str().ok_or_else(|| bad("dataset"))?,
                m["split"].as_str().ok_or_else(|| bad("split"))?
            ),
            max_changes: m["max_changes"].as_u64().map(|n| n as usize),
            method: m["method"].as_str().ok_or_else(|| bad("method"))?.to_string(),
            level: m["level"].as_str().ok_or_else(|| bad("level"))?.to_string(),
            tau: m["tau"].as_f64().ok_or_else(|| bad("tau"))? as f32,
            beam: m["beam"].as_u64().ok_or_else(|| bad("beam"))? as usize,
            budget: m["budget"].as_f64().ok_or_else(|| bad("budget"))? as f32,
            target: m["target"].as_u64().map(|t| t as usize),
            constraints,
        })
    }

    /// The model directory the shards attacked.
    pub fn model_dir(&self) -> Option<PathBuf> {
        self.meta["model"].as_str().map(PathBuf::from)
    }
}
