//! Device buffers. Launchers take `&DeviceBuf` inputs and `&mut DeviceBuf`
//! outputs, so a kernel can be fed from host data ([`Gpu::upload`]) or from
//! another kernel's output without a round trip; [`Gpu::download`] brings a
//! result back.
//!
//! A buffer lives in GPU memory, or, on the emulated device
//! ([`super::emu`]), in host memory that the emulator runs the kernels on.
//!
//! [`Gpu::upload`]: super::Gpu::upload
//! [`Gpu::download`]: super::Gpu::download

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchArgs, PushKernelArg};

use crate::error::{Error, Result};

/// Where a buffer's elements are.
pub(crate) enum Mem<T> {
    Cuda(CudaSlice<T>),
    /// The emulated device's memory: `max(len, 1)` elements, as on a GPU.
    Host(Vec<T>),
}

/// `len` elements of `T` in device memory.
pub struct DeviceBuf<T> {
    /// At least one element: CUDA rejects empty allocations, so an empty
    /// buffer holds one unused element.
    pub(crate) mem: Mem<T>,
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

    /// The CUDA allocation, or an error on the emulated device.
    pub(crate) fn cuda(&self, op: &'static str) -> Result<&CudaSlice<T>> {
        match &self.mem {
            Mem::Cuda(s) => Ok(s),
            Mem::Host(_) => Err(emulated(op)),
        }
    }

    pub(crate) fn cuda_mut(&mut self, op: &'static str) -> Result<&mut CudaSlice<T>> {
        match &mut self.mem {
            Mem::Cuda(s) => Ok(s),
            Mem::Host(_) => Err(emulated(op)),
        }
    }

    /// The emulated device's elements (all `max(len, 1)` of them).
    pub(crate) fn host(&self, op: &'static str) -> Result<&[T]> {
        match &self.mem {
            Mem::Host(v) => Ok(v),
            Mem::Cuda(_) => Err(Error::Cuda { op, msg: "a GPU buffer on the emulated device".into() }),
        }
    }

    pub(crate) fn host_mut(&mut self, op: &'static str) -> Result<&mut [T]> {
        match &mut self.mem {
            Mem::Host(v) => Ok(v),
            Mem::Cuda(_) => Err(Error::Cuda { op, msg: "a GPU buffer on the emulated device".into() }),
        }
    }
}

fn emulated(op: &'static str) -> Error {
    Error::Cuda { op, msg: "an emulated device's buffer passed to a GPU".into() }
}

/// The bytes of a plain-data slice (the element types kernels take: f32,
/// f64, u32, u64 and `#[repr(C)]` parameter structs without padding).
pub(crate) fn bytes_of<T: DeviceRepr>(xs: &[T]) -> &[u8] {
    // SAFETY: DeviceRepr types are plain data that a kernel reads as bytes.
    unsafe { std::slice::from_raw_parts(xs.as_ptr().cast::<u8>(), std::mem::size_of_val(xs)) }
}

pub(crate) fn bytes_of_mut<T: DeviceRepr>(xs: &mut [T]) -> &mut [u8] {
    // SAFETY: as `bytes_of`; every bit pattern is a valid f32/f64/u32/u64.
    unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(xs)) }
}

/// A buffer argument of a launch, whatever its element type.
pub(crate) trait DevMem {
    fn push<'a>(&'a self, args: &mut LaunchArgs<'a>) -> Result<()>;
    fn push_mut<'a>(&'a mut self, args: &mut LaunchArgs<'a>) -> Result<()>;
    fn bytes(&self) -> Result<&[u8]>;
    fn bytes_mut(&mut self) -> Result<&mut [u8]>;
}

impl<T: DeviceRepr> DevMem for DeviceBuf<T> {
    fn push<'a>(&'a self, args: &mut LaunchArgs<'a>) -> Result<()> {
        args.arg(self.cuda("launch")?);
        Ok(())
    }
    fn push_mut<'a>(&'a mut self, args: &mut LaunchArgs<'a>) -> Result<()> {
        args.arg(self.cuda_mut("launch")?);
        Ok(())
    }
    fn bytes(&self) -> Result<&[u8]> {
        Ok(bytes_of(self.host("emulated launch")?))
    }
    fn bytes_mut(&mut self) -> Result<&mut [u8]> {
        Ok(bytes_of_mut(self.host_mut("emulated launch")?))
    }
}
