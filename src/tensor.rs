//! Dense f32 tensors, row-major, with shared storage.
//!
//! Storage is reference-counted so that the tape can keep a value alive for
//! backward without copying it; mutation goes through `Arc::make_mut`, which
//! copies only when the data really is shared.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::pool::Buf;
use crate::rng::Rng;

#[derive(Clone, PartialEq)]
/// A dense row-major f32 array. Cloning shares the data (copy on write).
pub struct Tensor {
    shape: Vec<usize>,
    data: Arc<Buf>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head: Vec<f32> = self.data.iter().take(8).copied().collect();
        write!(f, "Tensor{:?} {:?}", self.shape, head)?;
        if self.data.len() > 8 {
            write!(f, "…")?;
        }
        Ok(())
    }
}

/// Elements of an array of `shape` (1 for a scalar's empty shape).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    /// A tensor of `shape` holding `data`; an error if the lengths disagree.
    pub fn new(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        let expected = numel(shape);
        if data.len() != expected {
            return Err(Error::DataLength { shape: shape.to_vec(), expected, got: data.len() });
        }
        Ok(Tensor { shape: shape.to_vec(), data: Arc::new(data.into()) })
    }

    /// For kernels that computed `data` for `shape` themselves.
    /// `data` may be a `Vec<f32>` or a pooled [`Buf`] (recycled when the
    /// last tensor sharing it is dropped).
    pub(crate) fn from_parts(shape: Vec<usize>, data: impl Into<Buf>) -> Self {
        let data = data.into();
        debug_assert_eq!(numel(&shape), data.len(), "from_parts {shape:?}");
        Tensor { shape, data: Arc::new(data) }
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor::from_parts(shape.to_vec(), Buf::zeroed(numel(shape)))
    }

    /// Every element `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Tensor::from_parts(shape.to_vec(), Buf::full(numel(shape), value))
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f32) -> Self {
        Tensor::from_parts(vec![], vec![value])
    }

    /// Independent draws uniform in [lo, hi).
    pub fn uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut Rng) -> Self {
        let data: Vec<f32> = (0..numel(shape)).map(|_| rng.uniform_range(lo, hi)).collect();
        Tensor::from_parts(shape.to_vec(), data)
    }

    /// Independent draws from N(0, std²).
    pub fn randn(shape: &[usize], std: f32, rng: &mut Rng) -> Self {
        let data: Vec<f32> = (0..numel(shape)).map(|_| std * rng.normal()).collect();
        Tensor::from_parts(shape.to_vec(), data)
    }

    /// The size of each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Size of dimension `d`; negative counts from the end.
    pub fn dim(&self, d: isize) -> Result<usize> {
        let r = self.shape.len() as isize;
        let i = if d < 0 { r + d } else { d };
        if i < 0 || i >= r {
            return Err(Error::invalid("dim", format!("dimension {d} of a rank-{r} tensor {:?}", self.shape)));
        }
        Ok(self.shape[i as usize])
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, mutable (copies them first if shared).
    pub fn data_mut(&mut self) -> &mut [f32] {
        let buf: &mut Buf = Arc::make_mut(&mut self.data);
        buf
    }

    /// The values, without a copy unless shared.
    pub fn into_vec(self) -> Vec<f32> {
        Arc::try_unwrap(self.data).map(Buf::into_vec).unwrap_or_else(|shared| shared.to_vec())
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.data.len() != 1 {
            return Err(Error::invalid(
                "item",
                format!("tensor of shape {:?} has {} values, not 1", self.shape, self.numel()),
            ));
        }
        Ok(self.data[0])
    }

    /// Same data, new shape (no copy).
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.numel() {
            return Err(Error::shapes("reshape", &self.shape, shape));
        }
        Ok(Tensor { shape: shape.to_vec(), data: Arc::clone(&self.data) })
    }

    /// Whether both share one buffer (a clone or reshape not yet written to).
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    /// Little-endian f32 bytes, a zero-copy view (safetensors layout).
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.data)
    }

    /// Reads little-endian f32, f16 or bf16 bytes (as stored in checkpoints).
    pub fn from_le_bytes(shape: &[usize], dtype: DType, bytes: &[u8]) -> Result<Self> {
        let n = numel(shape);
        if bytes.len() != n * dtype.size() {
            return Err(Error::DataLength { shape: shape.to_vec(), expected: n * dtype.size(), got: bytes.len() });
        }
        // Bytes from a file need not be aligned, so decode element-wise
        // instead of casting the slice.
        let data: Vec<f32> = match dtype {
            DType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            DType::F16 => bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            DType::BF16 => bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        };
        Ok(Tensor::from_parts(shape.to_vec(), data))
    }

    /// Converts to half-precision little-endian bytes (rounding to nearest).
    pub fn to_le_bytes(&self, dtype: DType) -> Vec<u8> {
        match dtype {
            DType::F32 => self.as_bytes().to_vec(),
            DType::F16 => {
                let h: Vec<half::f16> = self.data.iter().map(|&x| half::f16::from_f32(x)).collect();
                bytemuck::cast_slice(&h).to_vec()
            }
            DType::BF16 => {
                let h: Vec<half::bf16> = self.data.iter().map(|&x| half::bf16::from_f32(x)).collect();
                bytemuck::cast_slice(&h).to_vec()
            }
        }
    }

    /// Largest |a - b| over elements; errors if shapes differ.
    pub fn max_abs_diff(&self, other: &Tensor) -> Result<f32> {
        if self.shape != other.shape {
            return Err(Error::shapes("max_abs_diff", &self.shape, &other.shape));
        }
        Ok(self.data.iter().zip(other.data.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max))
    }

    /// Whether no value is NaN or infinite.
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }
}

/// Element types a tensor can be stored as on disk or on a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16: f32's exponent, 7 mantissa bits.
    BF16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_length_and_names_shape() {
        let err = Tensor::new(&[2, 3], vec![0.0; 5]).unwrap_err().to_string();
        assert!(err.contains("[2, 3]") && err.contains('6') && err.contains('5'), "{err}");
    }

    #[test]
    fn reshape_shares_storage_and_checks_size() {
        let t = Tensor::new(&[2, 3], (0..6).map(|x| x as f32).collect()).unwrap();
        let r = t.reshape(&[3, 2]).unwrap();
        assert!(r.same_storage(&t));
        assert!(t.reshape(&[4, 2]).is_err());
    }

    #[test]
    fn half_round_trips_within_precision() {
        let mut rng = Rng::new(1);
        let t = Tensor::randn(&[64], 1.0, &mut rng);
        for (dtype, tol) in [(DType::F32, 0.0), (DType::F16, 1e-3), (DType::BF16, 8e-3)] {
            let bytes = t.to_le_bytes(dtype);
            let back = Tensor::from_le_bytes(&[64], dtype, &bytes).unwrap();
            for (a, b) in t.data().iter().zip(back.data()) {
                assert!((a - b).abs() <= tol * a.abs().max(1.0), "{dtype:?} {a} {b}");
            }
        }
    }
}
