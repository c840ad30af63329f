//! Witboost access tokens: generation, validation, digest and hint, and the key that
//! authenticates what is recorded beside a token. No Kubernetes types here.
//!
//! Format: `wbat-` + body, where the body is a random part of 40 base62 characters (≈238 bits from
//! a CSPRNG) followed by the base62 CRC32 of the random part, left-padded to 6 characters. The
//! checksum lets scanners and the token service reject a mistyped or made-up token offline, without
//! a look-up. Every token matches `^wbat-[A-Za-z0-9_-]+$`, the only shape Witboost clients check.

mod format;
mod record_key;

use std::fmt;

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

pub use format::MalformedToken;
pub use record_key::RecordKey;

/// The prefix of every access token.
pub const PREFIX: &str = "wbat-";
/// Characters of the random part.
pub const RANDOM_LEN: usize = 40;
/// Characters of the checksum.
pub const CHECKSUM_LEN: usize = 6;
/// Characters of a whole token.
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;

/// An access token value. It never prints: `Debug` and `Display` show `[redacted]`; only
/// [`Token::expose`] gives the value, for the one place that writes it into a Secret or compares it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A new token from the thread-local CSPRNG (ChaCha, seeded and reseeded from the OS).
    pub fn generate() -> Self {
        let random = Alphanumeric.sample_string(&mut rand::rng(), RANDOM_LEN);
        let mut value = String::with_capacity(TOKEN_LEN);
        value.push_str(PREFIX);
        value.push_str(&random);
        let checksum = format::checksum(random.as_bytes());
        value.push_str(std::str::from_utf8(&checksum).expect("base62 is ASCII"));
        Self(value)
    }

    /// Validates a candidate token: prefix, length, charset and checksum.
    pub fn parse(candidate: &str) -> Result<Self, MalformedToken> {
        format::check(candidate)?;
        Ok(Self(candidate.to_owned()))
    }

    /// The token value itself. Callers must not log, print or store it anywhere but a Secret.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sha256:<hex>` of the value: what status and the token service's index hold.
    pub fn digest(&self) -> String {
        digest(self.0.as_bytes())
    }

    /// The prefix, the first 4 and the last 4 characters of the body, to recognise a token.
    pub fn hint(&self) -> String {
        let body = &self.0[PREFIX.len()..];
        format!("{PREFIX}{}…{}", &body[..4], &body[body.len() - 4..])
    }
}

/// `sha256:<hex>` of any bytes; for a well-formed token use [`Token::digest`].
pub fn digest(value: &[u8]) -> String {
    const LABEL: &str = "sha256:";
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(value), &mut hex).expect("64 hex digits for 32 bytes");
    let mut digest = String::with_capacity(LABEL.len() + hex.len());
    digest.push_str(LABEL);
    digest.push_str(std::str::from_utf8(&hex).expect("hex is ASCII"));
    digest
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let token = Token::generate();
        let value = token.expose();
        assert_eq!(value.len(), TOKEN_LEN);
        assert!(value.starts_with("wbat-"));
        assert!(
            value[PREFIX.len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert_eq!(Token::parse(value).unwrap(), token);
    }

    #[test]
    fn generated_tokens_differ() {
        let tokens: std::collections::HashSet<String> = (0..1000)
            .map(|_| Token::generate().expose().to_owned())
            .collect();
        assert_eq!(tokens.len(), 1000);
    }

    #[test]
    fn the_random_part_carries_at_least_200_bits() {
        let bits = RANDOM_LEN as f64 * 62f64.log2();
        assert!(bits >= 200.0, "{bits} bits");
    }

    #[test]
    fn every_single_character_change_of_a_valid_token_is_rejected() {
        let token = Token::generate();
        let value = token.expose();
        let alphabet: Vec<char> = BASE62.chars().chain("-_+/=. é".chars()).collect();
        let mut tried = 0;
        for (i, original) in value.char_indices() {
            for &c in &alphabet {
                if c == original {
                    continue;
                }
                let mut mutated = String::with_capacity(value.len() + 1);
                mutated.push_str(&value[..i]);
                mutated.push(c);
                mutated.push_str(&value[i + original.len_utf8()..]);
                assert!(
                    Token::parse(&mutated).is_err(),
                    "accepted a change at {i} to {c:?}"
                );
                tried += 1;
            }
        }
        assert!(tried > value.len() * 60);
    }

    #[test]
    fn malformed_tokens_are_rejected_with_the_reason() {
        let valid = Token::generate().expose().to_owned();
        let body = &valid[PREFIX.len()..];
        assert_eq!(
            Token::parse(&format!("wbxt-{body}")),
            Err(MalformedToken::Prefix)
        );
        assert_eq!(Token::parse(body), Err(MalformedToken::Prefix));
        assert_eq!(
            Token::parse(&valid[..valid.len() - 1]),
            Err(MalformedToken::Length)
        );
        assert_eq!(
            Token::parse(&format!("{valid}0")),
            Err(MalformedToken::Length)
        );
        assert_eq!(Token::parse(""), Err(MalformedToken::Prefix));
        let mut bad_char = valid.clone();
        bad_char.replace_range(10..11, "_");
        assert_eq!(Token::parse(&bad_char), Err(MalformedToken::Charset));
        let mut bad_sum = valid.clone();
        let last = if valid.ends_with('0') { "1" } else { "0" };
        bad_sum.replace_range(valid.len() - 1.., last);
        assert_eq!(Token::parse(&bad_sum), Err(MalformedToken::Checksum));
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let token = Token::generate();
        let body = &token.expose()[PREFIX.len()..];
        for shown in [
            format!("{token}"),
            format!("{token:?}"),
            format!("{:?}", Some(&token)),
        ] {
            assert!(!shown.contains(body), "{shown}");
            assert!(shown.contains("[redacted]"));
        }
    }

    #[test]
    fn digest_is_sha256_hex_of_the_value() {
        let token = Token::parse("wbat-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").err();
        assert!(token.is_some(), "a token without its checksum is malformed");
        let token = Token::generate();
        let digest = token.digest();
        assert_eq!(digest.len(), "sha256:".len() + 64);
        assert_eq!(digest, super::digest(token.expose().as_bytes()));
        assert_eq!(
            super::digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hint_shows_prefix_and_four_characters_at_each_end() {
        let token = Token::generate();
        let value = token.expose();
        let hint = token.hint();
        assert_eq!(
            hint,
            format!("wbat-{}…{}", &value[5..9], &value[value.len() - 4..])
        );
    }
}
