//! An embedded, in-memory Kubernetes API server: the test cluster and the try-it-out mode.

pub mod patch;
pub mod selector;
pub mod table;
pub mod validation;
