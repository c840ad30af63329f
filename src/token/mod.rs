//! Token format.
