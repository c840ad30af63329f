//! An error and its sources on one line, for messages that leave the process (Events, status,
//! logs). Shared by the pure steps and the report, so neither depends on the other.

/// An error and its sources on one line: `outer: inner: innermost`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    chain
}
