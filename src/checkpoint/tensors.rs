//! Named tensors in a safetensors file (the format PyTorch's
//! `safetensors.torch.load_file` reads).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use crate::util::atomic;

struct F32View<'a>(&'a Tensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        self.0.shape()
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.0.as_bytes())
    }

    fn data_len(&self) -> usize {
        self.0.numel() * 4
    }
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
}

/// The bytes of a safetensors file holding `tensors` as float32; `path`
/// only names the file in errors. `metadata` goes into the header's
/// `__metadata__` (string to string).
pub fn to_bytes(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let views = tensors.iter().map(|(n, t)| (n.as_str(), F32View(t)));
    safetensors::tensor::serialize(views, metadata).map_err(|e| bad(path, e.to_string()))
}

/// Writes `tensors` as float32, atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], metadata: Option<HashMap<String, String>>) -> Result<()> {
    atomic::write_file(path, &to_bytes(path, tensors, metadata)?)
}

/// Reads every tensor, converting f16/bf16 to f32; other dtypes are an error
/// naming the tensor. Returned in the file's order (sorted by name).
pub fn load(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = Vec::with_capacity(st.len());
    let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    for name in names {
        let view = st.tensor(&name).map_err(|e| bad(path, format!("tensor `{name}`: {e}")))?;
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(bad(path, format!("tensor `{name}` has dtype {other:?}; expected F32 (or F16/BF16)")));
            }
        };
        let t = Tensor::from_le_bytes(view.shape(), dtype, view.data())
            .map_err(|e| bad(path, format!("tensor `{name}`: {e}")))?;
        out.push((name, t));
    }
    Ok(out)
}
