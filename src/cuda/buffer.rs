//! Device buffers. Launchers take `&DeviceBuf` inputs and `&mut DeviceBuf`
//! outputs, so a kernel can be fed from host data ([`Gpu::upload`]) or from
//! another kernel's output without a round trip; [`Gpu::download`] brings a
//! result back.
//!
//! [`Gpu::upload`]: super::Gpu::upload
//! [`Gpu::download`]: super::Gpu::download

use cudarc::driver::{CudaSlice, DeviceRepr};

use crate::error::{Error, Result};

/// `len` elements of `T` in device memory.
pub struct DeviceBuf<T> {
    /// At least one element: CUDA rejects empty allocations, so an empty
    /// buffer holds one unused element.
    pub(crate) slice: CudaSlice<T>,
    pub(crate) len: usize,
}

impl<T: DeviceRepr> DeviceBuf<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// An error unless the buffer holds exactly `want` elements.
    pub(crate) fn expect_len(&self, op: &'static str, what: &str, want: usize) -> Result<()> {
        if self.len != want {
            return Err(Error::invalid(op, format!("{what} holds {} elements, the kernel needs {want}", self.len)));
        }
        Ok(())
    }
}
