//! Token and JWT shapes in text: what must never appear in a log line, an Event or a status.
//! The observer knows no token value it has not seen, so it looks for the shapes: an access
//! token (`wbat-` and a long body), a JWT (two base64url JSON segments), and the base64
//! encoding of `wbat-` at any of the three alignments (a Secret's `data`, a Basic header).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// Characters of a token body after `wbat-` that make a match: a hint (prefix and last four
/// characters) is shorter.
const MIN_TOKEN_BODY: usize = 20;

/// What was found, and where (byte offset), or `None`.
pub fn find_secret(text: &str) -> Option<(&'static str, usize)> {
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("wbat-") {
        let body = bytes[i + 5..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
            .count();
        if body >= MIN_TOKEN_BODY {
            return Some(("an access token", i));
        }
    }
    for (i, _) in text.match_indices("eyJ") {
        let first = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
            .count();
        if first >= 10 && text[i + first..].starts_with(".eyJ") {
            return Some(("a JWT", i));
        }
    }
    for needle in encoded_prefixes() {
        if let Some(i) = text.find(&needle) {
            return Some(("a base64-encoded access token", i));
        }
    }
    None
}

/// The characters of `wbat-`'s base64 encoding that do not depend on the neighbouring bytes, at
/// each alignment and in both alphabets.
fn encoded_prefixes() -> Vec<String> {
    let mut out = Vec::new();
    for engine in [&STANDARD, &URL_SAFE] {
        for pad in 0..3 {
            let encode = |fill: u8| {
                let mut raw = vec![fill; pad];
                raw.extend_from_slice(b"wbat-");
                raw.extend_from_slice(&[fill; 3]);
                engine.encode(raw)
            };
            let (a, b) = (encode(0x00), encode(0xff));
            let same: Vec<bool> = a.bytes().zip(b.bytes()).map(|(x, y)| x == y).collect();
            // The longest run of positions where the fillers make no difference.
            let (mut best, mut start) = ((0, 0), 0);
            for i in 0..=same.len() {
                if i == same.len() || !same[i] {
                    if i - start > best.1 - best.0 {
                        best = (start, i);
                    }
                    start = i + 1;
                }
            }
            let needle = a[best.0..best.1].to_owned();
            if !out.contains(&needle) {
                out.push(needle);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "wbat-4kQ7Zp2mX9cV1bN8aL3sD6fG0hJ5kW2eR7tY9uI1oP3aS5d";

    #[test]
    fn a_token_a_jwt_and_an_encoded_token_are_found_anywhere_in_a_line() {
        assert!(find_secret(&format!("issued {TOKEN} now")).is_some());
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJl";
        assert_eq!(find_secret(&format!("bearer={jwt}")).unwrap().0, "a JWT");
        for pad in ["", "x", "xy"] {
            for engine in [&STANDARD, &URL_SAFE] {
                let encoded = engine.encode(format!("{pad}witboost:{TOKEN}"));
                assert!(find_secret(&encoded).is_some(), "{pad:?} {encoded}");
            }
        }
    }

    #[test]
    fn hints_digests_and_ordinary_log_lines_are_not_secrets() {
        for line in [
            "token wbat-4kQ7…9uI1 issued, revision 3",
            "tokenDigest sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            r#"{"level":"INFO","message":"reconciled","accesstoken":"soak/tok-1"}"#,
            "became the leader",
        ] {
            assert_eq!(find_secret(line), None, "{line}");
        }
    }
}
