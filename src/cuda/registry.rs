//! The kernel files compiled into the binary.
//!
//! build.rs derives this list from `kernels/*.cu` (see there), so every file
//! in the directory is here, with its source and its `extern "C"
//! __global__` functions, and `k::<file>::<KERNEL>` names each kernel.

/// One `kernels/<stem>.cu` file.
#[derive(Debug)]
pub struct KernelFile {
    pub stem: &'static str,
    pub source: &'static str,
    /// Its kernels, in source order.
    pub kernels: &'static [&'static str],
}

impl KernelFile {
    /// `kernels/<stem>.cu`, as users see it.
    pub fn path(&self) -> String {
        format!("kernels/{}.cu", self.stem)
    }
}

/// A kernel by file and function name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelRef {
    pub file: &'static str,
    pub name: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/kernel_registry.rs"));

/// Every kernel of every file, in registry order.
pub fn all_kernels() -> impl Iterator<Item = KernelRef> {
    KERNEL_FILES.iter().flat_map(|f| f.kernels.iter().map(move |&name| KernelRef { file: f.stem, name }))
}

pub fn file(stem: &str) -> Option<&'static KernelFile> {
    KERNEL_FILES.iter().find(|f| f.stem == stem)
}

/// The `.entry` names a PTX module defines.
pub fn ptx_entries(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter_map(|l| {
            let rest =
                l.trim_start().strip_prefix(".visible .entry ").or_else(|| l.trim_start().strip_prefix(".entry "))?;
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            Some(rest[..end].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_matches_the_kernels_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "cu").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        on_disk.sort();
        let registered: Vec<String> = KERNEL_FILES.iter().map(|f| f.stem.to_string()).collect();
        assert_eq!(on_disk, registered);
        for f in KERNEL_FILES {
            assert!(!f.kernels.is_empty(), "{} has no kernels", f.path());
            assert!(f.source.contains(f.kernels[0]));
        }
    }

    #[test]
    fn constants_name_registered_kernels() {
        assert_eq!(k::unary::TANH_FWD_F32, KernelRef { file: "unary", name: "tanh_fwd_f32" });
        assert!(all_kernels().any(|k| k == k::lstm::LSTM_CELL_BWD_F32));
    }

    #[test]
    fn reads_ptx_entries() {
        let ptx = "//\n.version 9.0\n.visible .entry add_f32(\n\t.param .align 8 .b8 add_f32_param_0[160],\n)\n.entry x_f32()\n";
        assert_eq!(ptx_entries(ptx), vec!["add_f32", "x_f32"]);
    }
}
