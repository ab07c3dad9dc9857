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
    let bytes = safetensors::tensor::serialize(views, None).map_err(|e| bad(path, e.to_string()))?;
    match metadata {
        Some(m) if !m.is_empty() => with_sorted_metadata(&bytes, m).map_err(|msg| bad(path, msg)),
        _ => Ok(bytes),
    }
}

/// Puts `metadata` into the header of serialized safetensors `bytes` with
/// its keys sorted: the crate writes a `HashMap` in random order, so two
/// identical runs would write different checkpoint bytes.
fn with_sorted_metadata(bytes: &[u8], metadata: HashMap<String, String>) -> std::result::Result<Vec<u8>, String> {
    let n = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| "short buffer")?) as usize;
    // serde_json's Map is ordered by key (no `preserve_order`), so the whole
    // header comes out sorted.
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).map_err(|e| e.to_string())?;
    let sorted: std::collections::BTreeMap<String, String> = metadata.into_iter().collect();
    header.insert("__metadata__".into(), serde_json::to_value(sorted).map_err(|e| e.to_string())?);
    let mut text = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    // The data must start at a multiple of 8 bytes (as the crate pads).
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
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

/// What a safetensors file's header says about one tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The safetensors dtype name (`F32`, `BF16`, …).
    pub dtype: String,
    /// The tensor's shape.
    pub shape: Vec<usize>,
}

/// Largest header this reader accepts (the safetensors crate's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// Reads only the header of a safetensors file: every tensor's dtype and
/// shape, checked against the bytes the file holds (so that sizes can be
/// compared with config.json before anything the size of a tensor is
/// allocated). Sorted by name.
pub fn read_header(path: &Path) -> Result<std::collections::BTreeMap<String, TensorInfo>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let file_len = file.metadata().map_err(|source| Error::Io { path: path.to_path_buf(), source })?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|_| bad(path, "not a valid safetensors file: shorter than 8 bytes"))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER || n > file_len.saturating_sub(8) {
        return Err(bad(path, format!("not a valid safetensors file: header of {n} bytes in a file of {file_len}")));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    parse_header(&header, file_len - 8 - n).map_err(|msg| bad(path, format!("not a valid safetensors file: {msg}")))
}

/// Parses a safetensors JSON header; `data_len` is the number of bytes
/// after it. Every tensor's byte range must match its dtype and shape and lie
/// inside the data.
pub fn parse_header(
    header: &[u8],
    data_len: u64,
) -> std::result::Result<std::collections::BTreeMap<String, TensorInfo>, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        dtype: String,
        shape: Vec<usize>,
        data_offsets: (u64, u64),
    }
    let raw: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| format!("header is not a JSON object: {e}"))?;
    let mut out = std::collections::BTreeMap::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let e: Entry = serde_json::from_value(value).map_err(|e| format!("tensor `{name}`: {e}"))?;
        let width: u64 = match e.dtype.as_str() {
            "F64" | "I64" | "U64" => 8,
            "F32" | "I32" | "U32" => 4,
            "F16" | "BF16" | "I16" | "U16" => 2,
            "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
            other => return Err(format!("tensor `{name}`: unknown dtype {other}")),
        };
        let bytes = e
            .shape
            .iter()
            .try_fold(width, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(|| format!("tensor `{name}`: shape {:?} overflows", e.shape))?;
        let (begin, end) = e.data_offsets;
        if end < begin || end - begin != bytes || end > data_len {
            return Err(format!(
                "tensor `{name}`: {} of shape {:?} needs {bytes} bytes, its offsets {begin}..{end} (data: {data_len} bytes) disagree",
                e.dtype, e.shape
            ));
        }
        out.insert(name, TensorInfo { dtype: e.dtype, shape: e.shape });
    }
    Ok(out)
}
