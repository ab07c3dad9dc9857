//! Layers built from ops, parameter storage and initialisation.

pub mod init;
mod linear;
mod lstm;
pub mod lstm_cell;
mod params;

pub use linear::{Highway, Linear};
pub use lstm::{Lstm, LstmOutput};
pub use params::{Bound, ParamId, ParamStore};
