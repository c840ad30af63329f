//! The token body's alphabet, checksum and well-formedness check.

use super::{CHECKSUM_LEN, PREFIX, TOKEN_LEN};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a candidate is not a well-formed access token. Messages never include the candidate.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum MalformedToken {
    #[error("token does not start with wbat-")]
    Prefix,
    #[error("token has the wrong length")]
    Length,
    #[error("token has characters outside A-Z, a-z, 0-9")]
    Charset,
    #[error("token checksum does not match")]
    Checksum,
}

/// The base62 CRC32 of `random`, left-padded with `0` to [`CHECKSUM_LEN`] characters
/// (62^6 > 2^32, so every CRC32 fits). ASCII.
pub(super) fn checksum(random: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(random);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

pub(super) fn check(candidate: &str) -> Result<(), MalformedToken> {
    let body = candidate
        .strip_prefix(PREFIX)
        .ok_or(MalformedToken::Prefix)?;
    if candidate.len() != TOKEN_LEN {
        return Err(MalformedToken::Length);
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(MalformedToken::Charset);
    }
    let (random, sum) = body.split_at(body.len() - CHECKSUM_LEN);
    if checksum(random.as_bytes()) != sum.as_bytes() {
        return Err(MalformedToken::Checksum);
    }
    Ok(())
}
