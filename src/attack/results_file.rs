//! The `--out` JSON Lines file: resumable and never losing finished lines.
//!
//! Results are appended a batch at a time and flushed to disk. On start, an
//! existing file is read back; a last line cut short by a crash is dropped
//! (the file is rewritten atomically without it) and its example is simply
//! attacked again. A sidecar `<out>.meta.json` records the run's settings,
//! so that resuming with different ones is refused instead of mixing runs.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::attack::result::ExampleResult;
use crate::error::{Error, Result};
use crate::util::atomic;

pub struct ResultsFile {
    path: PathBuf,
    /// Everything in the file, old and new, in file order.
    pub results: Vec<ExampleResult>,
    pub done: BTreeSet<usize>,
}

fn meta_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".meta.json");
    PathBuf::from(p)
}

impl ResultsFile {
    /// Opens (or creates) the results file of a run with `settings`.
    pub fn open(path: &Path, settings: &serde_json::Value) -> Result<Self> {
        let meta = meta_path(path);
        let mut results = Vec::new();
        if path.exists() {
            let text = fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
            if meta.exists() {
                let old = fs::read_to_string(&meta).map_err(|source| Error::Io { path: meta.clone(), source })?;
                let old: serde_json::Value = serde_json::from_str(&old)
                    .map_err(|e| Error::BadFile { path: meta.clone(), msg: format!("not JSON: {e}") })?;
                if &old != settings {
                    return Err(Error::BadFile {
                        path: path.to_path_buf(),
                        msg: format!(
                            "holds results of a run with other settings ({}); use another --out or the same settings",
                            meta.display()
                        ),
                    });
                }
            } else if !text.trim().is_empty() {
                return Err(Error::BadFile {
                    path: path.to_path_buf(),
                    msg: format!("exists without {}; not resuming into a file of unknown origin", meta.display()),
                });
            }
            let mut good = 0usize;
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            for (i, line) in lines.iter().enumerate() {
                let complete = line.ends_with('\n');
                match serde_json::from_str::<ExampleResult>(line.trim_end()) {
                    Ok(r) if complete => {
                        results.push(r);
                        good += line.len();
                    }
                    // A torn last line from a crash: dropped and redone.
                    _ if i + 1 == lines.len() => break,
                    Err(e) => {
                        return Err(Error::Data {
                            path: path.to_path_buf(),
                            line: i + 1,
                            msg: format!("not a result line: {e}"),
                        });
                    }
                    Ok(_) => unreachable!("complete is false only for the last line"),
                }
            }
            if good != text.len() {
                atomic::write_file(path, &text.as_bytes()[..good])?;
            }
        }
        let bytes = serde_json::to_vec_pretty(settings).map_err(|e| Error::invalid("results file", e.to_string()))?;
        atomic::write_file(&meta, &bytes)?;
        let done = results.iter().map(|r| r.index).collect();
        Ok(ResultsFile { path: path.to_path_buf(), results, done })
    }

    /// Appends results and makes them durable before returning.
    pub fn append(&mut self, batch: &[ExampleResult]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for r in batch {
            serde_json::to_writer(&mut buf, r).map_err(|e| Error::invalid("results file", e.to_string()))?;
            buf.push(b'\n');
        }
        let io = |source| Error::Io { path: self.path.clone(), source };
        let mut f = fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        f.write_all(&buf).map_err(io)?;
        f.sync_data().map_err(io)?;
        for r in batch {
            self.done.insert(r.index);
            self.results.push(r.clone());
        }
        Ok(())
    }
}
