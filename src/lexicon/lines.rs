//! Reading a text resource one line at a time, with every error naming the
//! file and the 1-based line: the CoNLL-U reader and the stop-word list
//! loader share it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub(crate) struct TextLines<R> {
    path: PathBuf,
    input: R,
    buf: Vec<u8>,
    line: usize,
}

impl TextLines<BufReader<File>> {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Ok(TextLines::new(BufReader::new(file), path))
    }
}

impl<R: BufRead> TextLines<R> {
    /// Reads from `input`; `path` is only used to name errors.
    pub(crate) fn new(input: R, path: &Path) -> Self {
        TextLines { path: path.to_path_buf(), input, buf: Vec::new(), line: 0 }
    }

    /// The next line without its `\n` or `\r\n` (and, on line 1, without a
    /// UTF-8 byte order mark), or `None` at the end. Not valid UTF-8 is an
    /// error, since every resource here is UTF-8.
    pub(crate) fn next_line(&mut self) -> Result<Option<&str>> {
        self.buf.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| Error::Io { path: self.path.clone(), source })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let mut bytes = self.buf.as_slice();
        if let Some(rest) = bytes.strip_suffix(b"\n") {
            bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        if self.line == 1 {
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        std::str::from_utf8(bytes).map(Some).map_err(|e| Error::Data {
            path: self.path.clone(),
            line: self.line,
            msg: format!("not valid UTF-8 at byte {}", e.valid_up_to() + 1),
        })
    }

    /// An error about the line read last.
    pub(crate) fn error(&self, msg: impl Into<String>) -> Error {
        Error::Data { path: self.path.clone(), line: self.line, msg: msg.into() }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
