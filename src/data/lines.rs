//! Streaming line reader over raw bytes, so that each loader decides the
//! encoding and every error can name its 1-based line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::dataset::io_err;
use crate::error::Result;

pub(crate) struct ByteLines {
    path: PathBuf,
    reader: BufReader<File>,
    buf: Vec<u8>,
    line: usize,
}

impl ByteLines {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(io_err(path))?;
        Ok(ByteLines { path: path.to_path_buf(), reader: BufReader::new(file), buf: Vec::new(), line: 0 })
    }

    /// The next line without its `\n` or `\r\n`, and its 1-based number.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, &[u8])>> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf).map_err(io_err(&self.path))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let mut end = self.buf.len();
        if end > 0 && self.buf[end - 1] == b'\n' {
            end -= 1;
            if end > 0 && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
        }
        // A UTF-8 byte-order mark (Windows editors write one) is not text.
        let start = if self.line == 1 && self.buf[..end].starts_with(BOM) { BOM.len() } else { 0 };
        Ok(Some((self.line, &self.buf[start..end])))
    }
}

const BOM: &[u8] = "\u{feff}".as_bytes();

/// `text` without a leading UTF-8 byte-order mark. Every loader reads its
/// files through this (or `ByteLines`), so a file saved by a Windows editor
/// reads the same as one without the mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// `bytes` without a leading UTF-8 byte-order mark.
pub fn strip_bom_bytes(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// UTF-8 text of a line, or a message saying where it stops being UTF-8.
pub(crate) fn utf8(bytes: &[u8]) -> std::result::Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("not valid UTF-8 at byte {}", e.valid_up_to() + 1))
}
