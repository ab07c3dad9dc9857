//! Embeds every `kernels/*.cu` file into the library.
//!
//! The registry is derived from the directory itself, so a kernel file the
//! library does not know about cannot exist: `$OUT_DIR/kernel_registry.rs`
//! lists each file (stem, source via `include_str!`, the `extern "C"
//! __global__` functions it defines) and a constant per kernel, so a launcher
//! that names a kernel which does not exist fails to compile.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Kernel names follow `<op>_<dtype>`.
const DTYPES: [&str; 3] = ["_f32", "_f16", "_bf16"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = root.join("kernels");
    // A directory makes cargo rescan it, so new and deleted files count too.
    println!("cargo:rerun-if-changed=kernels");

    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap_or_else(|e| fail(&format!("reading {}: {e}", dir.display()))).path())
            .filter(|p| p.extension().is_some_and(|x| x == "cu"))
            .collect(),
        Err(e) => fail(&format!("reading {}: {e}", dir.display())),
    };
    files.sort();

    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut registry = String::from("pub static KERNEL_FILES: &[KernelFile] = &[\n");
    let mut consts = String::from(
        "/// One constant per kernel, by file: `k::unary::TANH_FWD_F32`.\npub mod k {\n    use super::KernelRef;\n",
    );
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let stem =
            path.file_stem().and_then(|s| s.to_str()).unwrap_or_else(|| fail(&format!("{}: bad name", path.display())));
        if !stem.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            fail(&format!("kernels/{stem}.cu: file stems must be lowercase snake_case (they name Rust modules)"));
        }
        let source = std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        let names = kernel_names(path, &source);
        if names.is_empty() {
            fail(&format!("kernels/{stem}.cu defines no extern \"C\" __global__ kernel"));
        }
        writeln!(
            registry,
            "    KernelFile {{ stem: {stem:?}, source: include_str!({:?}), kernels: &[",
            path.to_string_lossy()
        )
        .unwrap();
        writeln!(consts, "    pub mod {stem} {{\n        use super::KernelRef;").unwrap();
        for name in &names {
            if let Some(other) = seen.insert(name.clone(), stem.to_string()) {
                fail(&format!("kernel `{name}` is defined in both kernels/{other}.cu and kernels/{stem}.cu"));
            }
            if !DTYPES.iter().any(|d| name.ends_with(d)) {
                fail(&format!("kernels/{stem}.cu: kernel `{name}` must be named <op>_<dtype> (f32, f16 or bf16)"));
            }
            writeln!(registry, "        {name:?},").unwrap();
            writeln!(
                consts,
                "        pub const {}: KernelRef = KernelRef {{ file: {stem:?}, name: {name:?} }};",
                name.to_uppercase()
            )
            .unwrap();
        }
        registry.push_str("    ] },\n");
        consts.push_str("    }\n");
    }
    registry.push_str("];\n");
    consts.push_str("}\n");

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("kernel_registry.rs");
    std::fs::write(&out, registry + &consts).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
}

fn fail(msg: &str) -> ! {
    panic!("build.rs: {msg}");
}

/// The `extern "C" __global__ void NAME(` functions of a file, in order.
/// Every `__global__` must be `extern "C"`: a C++-mangled name cannot be
/// looked up by name in the loaded module.
fn kernel_names(path: &Path, source: &str) -> Vec<String> {
    let code = strip_comments(source);
    let mut names = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("__global__") {
        let before = rest[..at].trim_end();
        if !before.ends_with("extern \"C\"") {
            fail(&format!("{}: every __global__ function must be declared extern \"C\"", path.display()));
        }
        let mut tail = rest[at + "__global__".len()..].trim_start();
        if let Some(t) = tail.strip_prefix("__launch_bounds__") {
            let close = t.find(')').unwrap_or_else(|| fail(&format!("{}: unclosed __launch_bounds__", path.display())));
            tail = t[close + 1..].trim_start();
        }
        let tail = tail
            .strip_prefix("void")
            .unwrap_or_else(|| fail(&format!("{}: a __global__ function must return void", path.display())))
            .trim_start();
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        if name.is_empty() || !tail[end..].trim_start().starts_with('(') {
            fail(&format!(
                "{}: cannot read the name of a __global__ function near `{}`",
                path.display(),
                &tail[..tail.len().min(40)]
            ));
        }
        names.push(name.to_string());
        rest = &tail[end..];
    }
    names
}

/// Replaces comments with spaces, so commented-out kernels do not count.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_str = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    if n == '\n' {
                        out.push('\n');
                    }
                    prev = n;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}
