//! The library's error type. Every variant names what went wrong in terms a
//! user can act on: the op and both shapes, the tensor, or the file.

use std::path::PathBuf;

/// Everything the library can fail with. Fields are what the message
/// prints; match on the variant to tell a user's mistake (bad arguments,
/// files, data) from an environment problem (CUDA, I/O).
#[allow(missing_docs)] // variant fields: named for what the message prints
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two operands whose shapes do not fit `op`.
    #[error("{op}: shape mismatch: {lhs:?} vs {rhs:?}")]
    ShapeMismatch { op: &'static str, lhs: Vec<usize>, rhs: Vec<usize> },

    /// An argument out of range or inconsistent with another (`op` names
    /// the function or command).
    #[error("{op}: {msg}")]
    InvalidArgument { op: &'static str, msg: String },

    /// An index (an id, a class, a position) past the end of its dimension.
    #[error("{op}: index {index} out of range for a dimension of size {size}")]
    IndexOutOfRange { op: &'static str, index: usize, size: usize },

    /// A tensor built from a buffer of the wrong length for its shape.
    #[error("tensor of shape {shape:?} needs {expected} values, got {got}")]
    DataLength { shape: Vec<usize>, expected: usize, got: usize },

    /// A `Var` used on a tape it was not recorded on.
    #[error("variable #{id} was recorded on another tape (tape {var_tape}, this is tape {tape})")]
    ForeignVar { id: usize, var_tape: u64, tape: u64 },

    /// Back-propagation was asked for something it cannot do (a
    /// non-scalar root without a seed, a seed of the wrong shape).
    #[error("backward: {0}")]
    Backward(String),

    /// A named parameter that is missing, duplicated or of the wrong shape.
    #[error("parameter `{name}`: {msg}")]
    Param { name: String, msg: String },

    /// A checkpoint directory that cannot be read or written as one.
    #[error("{path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    /// A CUDA driver, cuBLAS or launch failure; `op` is the call or kernel.
    #[error("CUDA {op}: {msg}")]
    Cuda { op: &'static str, msg: String },

    /// NVRTC rejected a kernel file; `log` is the compiler's log.
    #[error("NVRTC could not compile {file}:\n{log}")]
    Nvrtc { file: String, log: String },

    /// A CUDA component the request needs is missing (driver, GPU, NVRTC).
    #[error("{what} is not available: {reason}")]
    CudaUnavailable { what: &'static str, reason: String },

    /// An I/O failure on `path`.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// One bad row or record of a data file; `line` is 1-based.
    #[error("{}:{line}: {msg}", path.display())]
    Data { path: PathBuf, line: usize, msg: String },

    /// A file that is wrong as a whole (a vocab.json, a review file, two
    /// parallel files of different lengths).
    #[error("{}: {msg}", path.display())]
    BadFile { path: PathBuf, msg: String },

    /// A known data set whose files are not in any of the places looked in.
    #[error("data set `{name}` not found; looked in: {}. {hint}", list_paths(looked))]
    MissingDataset { name: String, looked: Vec<PathBuf>, hint: String },

    /// A data set name the loaders do not know.
    #[error("unknown data set `{name}`; known: {}", known.join(", "))]
    UnknownDataset { name: String, known: Vec<String> },

    /// A part-of-speech tag that is not one of the 17 Universal POS tags.
    #[error(
        "unknown UPOS tag `{tag}`; expected one of ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X"
    )]
    UnknownUpos { tag: String },

    /// A linguistic resource (a POS treebank, a stop-word list) that is not
    /// under the data root; `looked_for` says which names would have matched.
    #[error("no {what} found under {}; looked for {looked_for}", root.display())]
    MissingResource { what: &'static str, root: PathBuf, looked_for: String },
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidArgument { op, msg: msg.into() }
    }

    pub(crate) fn shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Self {
        Error::ShapeMismatch { op, lhs: lhs.to_vec(), rhs: rhs.to_vec() }
    }
}
