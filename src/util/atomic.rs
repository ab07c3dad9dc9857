//! Writes that never leave a half-written file or directory under the
//! target name: build beside the target, flush to disk, then rename.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// A sibling path of `target` that no other writer uses.
fn sibling(target: &Path, tag: &str) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    target.with_file_name(format!(".{name}.{tag}-{}-{nanos}", std::process::id()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Directory fsync makes the rename itself durable; not all platforms
    // allow opening a directory, so failure to open is not an error.
    if let Ok(f) = fs::File::open(dir) {
        f.sync_all().map_err(io(dir))?;
    }
    Ok(())
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Replaces `path` with `bytes` atomically.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = parent_of(path);
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let tmp = sibling(path, "tmp");
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))?;
        sync_dir(&parent)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Appends one line to a log file and flushes it (a line either lands whole
/// or a reader sees the file without it, up to the last newline).
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new().create(true).append(true).open(path).map_err(io(path))?;
    let mut buf = line.trim_end_matches('\n').as_bytes().to_vec();
    buf.push(b'\n');
    f.write_all(&buf).map_err(io(path))?;
    f.sync_data().map_err(io(path))
}

/// Builds a directory with `fill` in a temporary sibling, then puts it in
/// place of `target` in one step. An existing `target` is exchanged
/// atomically where the OS can (Linux `renameat2(RENAME_EXCHANGE)`); a crash
/// at any point leaves either the old or the new directory under `target`.
pub fn write_dir(target: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = parent_of(target);
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let tmp = sibling(target, "tmp");
    fs::create_dir(&tmp).map_err(io(&tmp))?;
    let result = fill(&tmp).and_then(|()| {
        for entry in fs::read_dir(&tmp).map_err(io(&tmp))? {
            let p = entry.map_err(io(&tmp))?.path();
            if p.is_file() {
                fs::File::open(&p).and_then(|f| f.sync_all()).map_err(io(&p))?;
            }
        }
        sync_dir(&tmp)?;
        install(&tmp, target)?;
        sync_dir(&parent)
    });
    if tmp.exists() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Moves the finished `tmp` to `target`; afterwards `tmp` holds the old
/// directory (if any) or does not exist.
fn install(tmp: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return fs::rename(tmp, target).map_err(io(target));
    }
    if !target.is_dir() {
        return Err(Error::Io {
            path: target.to_path_buf(),
            source: std::io::Error::other("exists and is not a directory; refusing to replace it"),
        });
    }
    if exchange(tmp, target)? {
        return Ok(());
    }
    // No atomic exchange here: move the old one aside first. A crash between
    // the two renames leaves the complete old directory at `old`.
    let old = sibling(target, "old");
    fs::rename(target, &old).map_err(io(target))?;
    fs::rename(tmp, target).map_err(io(target))?;
    fs::rename(&old, tmp).map_err(io(tmp))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes()).map_err(|e| Error::invalid("checkpoint", e.to_string()))?;
    let cb = CString::new(b.as_os_str().as_bytes()).map_err(|e| Error::invalid("checkpoint", e.to_string()))?;
    // SAFETY: both pointers are valid NUL-terminated strings for the call's
    // duration; the syscall reads them and nothing else.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    // Old kernels and some file systems lack it: fall back to two renames.
    match err.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(Error::Io { path: b.to_path_buf(), source: err }),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hotflip-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replaces_directories_whole_and_cleans_up() {
        let root = scratch("dir");
        let target = root.join("ckpt");
        write_dir(&target, |d| write_file(&d.join("a"), b"one")).unwrap();
        write_dir(&target, |d| write_file(&d.join("b"), b"two")).unwrap();
        assert!(!target.join("a").exists(), "the old directory is replaced, not merged");
        assert_eq!(fs::read(target.join("b")).unwrap(), b"two");
        // A failing fill leaves the previous directory untouched.
        let err = write_dir(&target, |d| {
            write_file(&d.join("c"), b"partial")?;
            Err(Error::invalid("test", "fail mid-save"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(target.join("b")).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "temporary directories left behind: {leftovers:?}");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn files_and_log_lines() {
        let root = scratch("file");
        let f = root.join("x.json");
        write_file(&f, b"1").unwrap();
        write_file(&f, b"22").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"22");
        let log = root.join("log.jsonl");
        append_line(&log, "{\"a\":1}").unwrap();
        append_line(&log, "{\"a\":2}\n").unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        let _ = fs::remove_dir_all(&root);
    }
}
