//! On-disk cache of compiled PTX, so each kernel file is compiled once per
//! (source, target, compiler), not once per process.
//!
//! Entries live in `$HOTFLIP_PTX_CACHE`, else `$XDG_CACHE_HOME/hotflip/ptx`,
//! else `~/.cache/hotflip/ptx`, named `<stem>-<arch>-nvrtc<ver>-<hash>.ptx`
//! where the hash covers the source, the arch, the NVRTC version and the
//! options. Writes go to a temporary file renamed into place, so a reader
//! (another process compiling at the same time) never sees half an entry.
//! The cache is an optimisation: if it cannot be read or written, callers
//! compile as if it were empty.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The cache directory (not created here).
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("HOTFLIP_PTX_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("hotflip").join("ptx"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("hotflip").join("ptx"))
}

/// What a cache entry depends on.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub stem: &'a str,
    pub source: &'a str,
    pub arch: &'a str,
    pub nvrtc_version: &'a str,
    pub options: &'a [String],
}

impl Key<'_> {
    /// FNV-1a over every part, each followed by a separator byte: stable
    /// across Rust versions and platforms, unlike `DefaultHasher`.
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes.iter().chain(std::iter::once(&0xff)) {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(self.source.as_bytes());
        eat(self.arch.as_bytes());
        eat(self.nvrtc_version.as_bytes());
        for o in self.options {
            eat(o.as_bytes());
        }
        h
    }

    pub fn file_name(&self) -> String {
        format!("{}-{}-nvrtc{}-{:016x}.ptx", self.stem, self.arch, self.nvrtc_version, self.hash())
    }
}

/// A cache rooted at one directory.
#[derive(Debug, Clone)]
pub struct PtxCache {
    dir: PathBuf,
}

impl PtxCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PtxCache { dir: dir.into() }
    }

    /// The cache at [`default_dir`], if there is a home to put it in.
    pub fn open_default() -> Option<Self> {
        default_dir().map(PtxCache::new)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cached PTX, if present and plausible (a truncated or foreign
    /// file is ignored and later overwritten).
    pub fn load(&self, key: &Key<'_>) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join(key.file_name())).ok()?;
        (text.contains(".version") && text.contains(".entry")).then_some(text)
    }

    /// Stores `ptx` atomically (temp file + rename).
    pub fn store(&self, key: &Key<'_>, ptx: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(key.file_name());
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let tmp = self.dir.join(format!(".{}.{}.{nanos}.tmp", key.file_name(), std::process::id()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(ptx.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(source: &'a str, arch: &'a str, options: &'a [String]) -> Key<'a> {
        Key { stem: "unary", source, arch, nvrtc_version: "13.0", options }
    }

    #[test]
    fn key_depends_on_every_part() {
        let o = vec!["--std=c++17".to_string()];
        let base = key("a", "compute_90", &o).hash();
        assert_eq!(base, key("a", "compute_90", &o).hash());
        assert_ne!(base, key("b", "compute_90", &o).hash());
        assert_ne!(base, key("a", "compute_80", &o).hash());
        assert_ne!(base, Key { nvrtc_version: "12.9", ..key("a", "compute_90", &o) }.hash());
        assert_ne!(base, key("a", "compute_90", &[]).hash());
        // Parts are separated: moving a byte between them changes the key.
        assert_ne!(key("ab", "c", &[]).hash(), key("a", "bc", &[]).hash());
    }

    #[test]
    fn stores_atomically_and_ignores_junk() {
        let dir = std::env::temp_dir().join(format!("hotflip-ptx-test-{}", std::process::id()));
        let cache = PtxCache::new(&dir);
        let k = key("src", "compute_90", &[]);
        assert_eq!(cache.load(&k), None);
        let ptx = ".version 9.0\n.visible .entry x_f32()\n{\n}\n";
        let path = cache.store(&k, ptx).unwrap();
        assert_eq!(cache.load(&k).as_deref(), Some(ptx));
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::write(&path, "trunc").unwrap();
        assert_eq!(cache.load(&k), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
