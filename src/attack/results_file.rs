//! The `--out` JSON Lines file: resumable and never losing finished lines.
//!
//! Results are appended a batch at a time and flushed to disk. On start, an
//! existing file is read back; a last line cut short by a crash is dropped
//! (the file is rewritten atomically without it) and its example is simply
//! attacked again. A sidecar `<out>.meta.json` records the run's settings,
//! so that resuming with different ones is refused instead of mixing runs.
//! While a run has the file open it holds an exclusive lock on
//! `<out>.lock`, so a second run on the same `--out` is refused instead of
//! interleaving its lines; the lock goes with the process, however it ends.
//! Reading back, a repeated index (two writers before there was a lock, a
//! file joined by hand) keeps its first line and drops the others.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::attack::result::ExampleResult;
use crate::error::{Error, Result};
use crate::util::atomic;

/// An open `--out` file (see the module docs): the results already in it,
/// and an exclusive lock for as long as this value lives. Open with
/// [`ResultsFile::open`], add lines with [`ResultsFile::append`].
pub struct ResultsFile {
    path: PathBuf,
    /// Held (locked) for as long as the file is open.
    _lock: fs::File,
    /// Lines dropped on reading because their index came earlier too.
    pub duplicates_dropped: usize,
    /// Everything in the file, old and new, in file order.
    pub results: Vec<ExampleResult>,
    /// The split indices already in the file: examples a resumed run skips.
    pub done: BTreeSet<usize>,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The sidecar holding a results file's settings: `<path>.meta.json`.
pub(crate) fn meta_path(path: &Path) -> PathBuf {
    sibling(path, ".meta.json")
}

/// Takes the exclusive lock of results file `path`, or says who holds it.
fn lock(path: &Path) -> Result<fs::File> {
    let lock = sibling(path, ".lock");
    let io = |source| Error::Io { path: lock.clone(), source };
    let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock).map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::BadFile {
            path: path.to_path_buf(),
            msg: format!(
                "another run is writing this file (it holds {}); wait for it to finish or use another --out",
                lock.display()
            ),
        }),
        Err(fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

impl ResultsFile {
    /// Opens (or creates) the results file of a run with `settings`.
    pub fn open(path: &Path, settings: &serde_json::Value) -> Result<Self> {
        let meta = meta_path(path);
        let lock = lock(path)?;
        let mut results = Vec::new();
        let mut duplicates_dropped = 0;
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
            let mut kept = String::with_capacity(text.len());
            let mut seen = BTreeSet::new();
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            for (i, line) in lines.iter().enumerate() {
                let complete = line.ends_with('\n');
                match serde_json::from_str::<ExampleResult>(line.trim_end()) {
                    Ok(r) if complete && !seen.insert(r.index) => duplicates_dropped += 1,
                    Ok(r) if complete => {
                        results.push(r);
                        kept.push_str(line);
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
            if kept.len() != text.len() {
                atomic::write_file(path, kept.as_bytes())?;
            }
        }
        let bytes = serde_json::to_vec_pretty(settings).map_err(|e| Error::invalid("results file", e.to_string()))?;
        atomic::write_file(&meta, &bytes)?;
        let done = results.iter().map(|r| r.index).collect();
        Ok(ResultsFile { path: path.to_path_buf(), _lock: lock, duplicates_dropped, results, done })
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

/// Every result of a finished results file, strictly: a line that is not a
/// result (a torn one included) is an error naming the file and line.
pub fn read_results(path: &Path) -> Result<Vec<ExampleResult>> {
    let text = fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let mut results = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let r = serde_json::from_str::<ExampleResult>(line.trim_end()).ok().filter(|_| line.ends_with('\n'));
        match r {
            Some(r) => results.push(r),
            None if line.trim().is_empty() => {}
            None => {
                return Err(Error::Data {
                    path: path.to_path_buf(),
                    line: i + 1,
                    msg: "not a complete result line (an unfinished shard?)".into(),
                })
            }
        }
    }
    Ok(results)
}
