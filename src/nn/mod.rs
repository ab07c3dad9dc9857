//! Layers built from ops, parameter storage and initialisation.

mod params;

pub use params::{Bound, ParamId, ParamStore};
