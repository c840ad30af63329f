//! Redaction of secrets in texts that come from elsewhere (the API server may echo a request or
//! an object in its error messages), before they reach logs and Events.
//!
//! Caught: access tokens (`wbat-…`), JWTs (three base64url segments, the first a JSON object),
//! and either of them base64-encoded, with the standard or the URL-safe alphabet, padded or not,
//! at any alignment, once or twice over (a Secret's `data` holds the base64 of a value; a Basic
//! header the base64 of `user:token`). A token or a JWT is replaced by `[redacted]`; so is a
//! whole word (a run of base64, `.` and `=` characters) that encodes one. So are PEM private
//! keys (the token service's signing key), from `-----BEGIN … PRIVATE KEY-----` to the END line,
//! and a word that encodes one.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::token::PREFIX;

const REDACTED: &str = "[redacted]";

/// How many times over an encoded secret is looked for: base64 of base64 of a token.
const DEPTH: u8 = 2;

/// Shortest run decoded: base64 of `wbat-` and one character is 8 characters.
const SHORTEST_ENCODED: usize = 8;

/// Lenient decoding (padding optional, stray bits allowed): a fragment of an encoding is still
/// decoded as far as it goes.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// `text` with every token, JWT and base64-encoded token or JWT replaced by `[redacted]`.
pub fn redact(text: &str) -> String {
    let plain = redact_private_keys(&redact_tokens(text));
    let mut out = String::with_capacity(plain.len());
    let mut rest = plain.as_str();
    while let Some(start) = rest.find(is_word_char) {
        out.push_str(&rest[..start]);
        let word = &rest[start..];
        let end = word.find(|c| !is_word_char(c)).unwrap_or(word.len());
        let word = &word[..end];
        if holds_jwt(word) || encodes_secret(word, DEPTH) {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        rest = &rest[start + end..];
    }
    out.push_str(rest);
    out
}

/// Characters of base64 (both alphabets), of its padding and of a JWT's separators.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=' | '.')
}

/// Replaces `wbat-` and the token characters after it; `wbat-` alone stays.
fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(PREFIX) {
        out.push_str(&rest[..i]);
        let after = &rest[i + PREFIX.len()..];
        let body = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        if body == 0 {
            out.push_str(PREFIX);
        } else {
            out.push_str(REDACTED);
        }
        rest = &after[body..];
    }
    out.push_str(rest);
    out
}

const PEM_BEGIN: &str = "-----BEGIN ";
const PEM_END: &str = "-----END ";
const PEM_DASHES: &str = "-----";

/// Replaces each PEM block whose label names a private key, header to END line (or to the end
/// of the text when it was cut off); other PEM blocks (certificates, public keys) stay.
fn redact_private_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(PEM_BEGIN) {
        let block = &rest[i..];
        let header = block[PEM_BEGIN.len()..]
            .find(PEM_DASHES)
            .map(|j| PEM_BEGIN.len() + j + PEM_DASHES.len());
        match header {
            Some(h) if block[..h].contains("PRIVATE KEY") => {
                out.push_str(&rest[..i]);
                out.push_str(REDACTED);
                let body = &block[h..];
                let end = body
                    .find(PEM_END)
                    .and_then(|e| {
                        let label = e + PEM_END.len();
                        body[label..]
                            .find(PEM_DASHES)
                            .map(|f| label + f + PEM_DASHES.len())
                    })
                    .unwrap_or(body.len());
                rest = &body[end..];
            }
            _ => {
                out.push_str(&rest[..i + PEM_BEGIN.len()]);
                rest = &rest[i + PEM_BEGIN.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether `text` holds a token, a JWT or a private key, plainly or encoded up to `depth`
/// times.
fn holds_secret(text: &str, depth: u8) -> bool {
    redact_tokens(text) != text
        || redact_private_keys(text) != text
        || text
            .split(|c| !is_word_char(c))
            .any(|word| holds_jwt(word) || encodes_secret(word, depth))
}

/// Whether `word` contains a JWT: two or three consecutive `.`-separated base64url segments,
/// the first of which decodes to a JSON object.
fn holds_jwt(word: &str) -> bool {
    let segments: Vec<&str> = word.split('.').collect();
    segments.windows(2).any(|pair| {
        let (header, claims) = (pair[0], pair[1]);
        header.len() >= 4
            && !claims.is_empty()
            && [header, claims].iter().all(|s| {
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            && decode(header).is_some_and(|json| json.trim_ascii_start().starts_with(b"{"))
    })
}

/// Whether some piece of `word` (between `.` and `=`) is base64 of a text holding a token or
/// a JWT, at any of the four alignments.
fn encodes_secret(word: &str, depth: u8) -> bool {
    depth > 0
        && word
            .split(['.', '='])
            .filter(|piece| piece.len() >= SHORTEST_ENCODED)
            .any(|piece| {
                (0..4).any(|skip| {
                    decode(&piece[skip..]).is_some_and(|bytes| {
                        holds_secret(&String::from_utf8_lossy(&bytes), depth - 1)
                    })
                })
            })
}

/// Decodes base64 of either alphabet, unpadded, as far as whole characters go.
fn decode(piece: &str) -> Option<Vec<u8>> {
    let standard: String = piece
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    // A length of 4n+1 cannot be base64: the last character is a fragment.
    let whole = if standard.len() % 4 == 1 {
        &standard[..standard.len() - 1]
    } else {
        &standard
    };
    LENIENT.decode(whole).ok()
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const PEM: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkTfakeKeyMaterialForTheTestOnly0123456789abcdefAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n";

    #[test]
    fn a_private_key_is_redacted_plain_with_escaped_newlines_and_base64_encoded() {
        let plain = format!("secret \"signing-key\" is invalid: {PEM} (data)");
        let redacted = super::redact(&plain);
        assert_eq!(
            redacted,
            "secret \"signing-key\" is invalid: [redacted]\n (data)"
        );
        // As a JSON error message echoes it: the newlines escaped.
        let escaped = super::redact(&PEM.replace('\n', "\\n"));
        assert!(!escaped.contains("MHcCAQEE"), "{escaped}");
        let encoded = super::redact(&format!(
            "data: {{\"key.pem\": \"{}\"}}",
            STANDARD.encode(PEM)
        ));
        assert!(!encoded.contains(&STANDARD.encode(PEM)[..20]), "{encoded}");
        assert!(encoded.contains("[redacted]"), "{encoded}");
    }

    #[test]
    fn certificates_and_public_keys_stay() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----";
        assert_eq!(super::redact(cert), cert);
        let public = "-----BEGIN PUBLIC KEY-----\nMFkwfake\n-----END PUBLIC KEY-----";
        assert_eq!(super::redact(public), public);
    }

    #[test]
    fn a_private_key_cut_off_is_redacted_to_the_end() {
        assert_eq!(
            super::redact("before -----BEGIN RSA PRIVATE KEY-----\nMIIEow"),
            "before [redacted]"
        );
    }

    use super::*;
    use crate::token::Token;

    /// A JWT's shape: header, claims and signature, each base64url.
    fn jwt() -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#);
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"bot@example.com","wbat":"default/ci"}"#);
        let signature = URL_SAFE_NO_PAD.encode([7u8; 64]);
        format!("{header}.{claims}.{signature}")
    }

    #[test]
    fn token_shaped_text_in_error_messages_is_redacted() {
        let token = Token::generate();
        let text = format!("Invalid value: \"{}\": nope; wbat- alone", token.expose());
        let clean = redact(&text);
        assert_eq!(clean, "Invalid value: \"[redacted]\": nope; wbat- alone");
    }

    #[test]
    fn a_jwt_is_redacted_whole() {
        let jwt = jwt();
        assert_eq!(
            redact(&format!("bad request: Authorization: Bearer {jwt}.")),
            "bad request: Authorization: Bearer [redacted]"
        );
        assert_eq!(
            redact(&format!("\"jwt\":\"{jwt}\"")),
            "\"jwt\":\"[redacted]\""
        );
    }

    #[test]
    fn a_token_or_a_jwt_in_a_secrets_data_is_redacted() {
        let token = Token::generate();
        let jwt = jwt();
        // What an API error echoing the Secret would hold: each value base64-encoded.
        let secret = serde_json::json!({
            "kind": "Secret",
            "data": {
                "token": STANDARD.encode(token.expose()),
                "jwt": STANDARD.encode(&jwt),
            }
        })
        .to_string();
        let clean = redact(&format!("admission webhook denied the request: {secret}"));
        assert_eq!(
            clean,
            "admission webhook denied the request: {\"data\":{\"jwt\":\"[redacted]\",\
             \"token\":\"[redacted]\"},\"kind\":\"Secret\"}"
        );
    }

    #[test]
    fn basic_credentials_holding_a_token_are_redacted() {
        let token = Token::generate();
        let basic = STANDARD.encode(format!("witboost:{}", token.expose()));
        assert_eq!(
            redact(&format!("Authorization: Basic {basic}")),
            "Authorization: Basic [redacted]"
        );
    }

    #[test]
    fn an_encoding_is_caught_at_any_alignment_with_either_alphabet_and_twice_over() {
        let token = Token::generate();
        for lead in ["", "a", "ab", "abc"] {
            // The token somewhere inside a longer encoded text.
            let text = format!("{lead}value={}", token.expose());
            for encoded in [
                STANDARD.encode(&text),
                URL_SAFE_NO_PAD.encode(&text),
                format!("x{}", STANDARD.encode(&text)),
                STANDARD.encode(STANDARD.encode(&text)),
            ] {
                let clean = redact(&format!("error: {encoded}; retry"));
                assert_eq!(clean, "error: [redacted]; retry", "{text} as {encoded}");
            }
        }
    }

    #[test]
    fn ordinary_error_texts_are_left_as_they_are() {
        for text in [
            "secrets \"ci-token\" is forbidden: User \"system:serviceaccount:witboost:op\" \
             cannot patch resource \"secrets\" in API group \"\" in the namespace \"default\"",
            "failed to patch AccessToken default/ci: Operation cannot be fulfilled on \
             accesstokens.iam.witboost.com \"ci\": the object has been modified",
            "error trying to connect: tcp connect error: Connection refused (os error 111)",
            "https://10.96.0.1:443/api/v1/namespaces/default/secrets?labelSelector=a%3Db",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "aGVsbG8gd29ybGQsIG5vdGhpbmcgc2VjcmV0IGhlcmU=",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}

/// Property tests (`make fuzz` runs a million cases of each).
#[cfg(test)]
mod properties {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_text_is_redacted_without_panicking_and_once_is_enough(text in any::<String>()) {
            let once = redact(&text);
            prop_assert_eq!(redact(&once), once);
        }

        #[test]
        fn a_token_never_survives_plain_or_encoded(
            body in "[A-Za-z0-9]{46}",
            before in "[ -~]{0,16}",
            after in "[ -~]{0,16}",
            lead in "[ -~]{0,5}",
            form in 0..6u8,
        ) {
            let token = format!("{PREFIX}{body}");
            let shown = match form {
                0 => token.clone(),
                1 => STANDARD.encode(&token),
                2 => URL_SAFE_NO_PAD.encode(&token),
                3 => STANDARD.encode(format!("witboost:{token}")),
                4 => URL_SAFE.encode(format!("{lead}{token}")),
                _ => STANDARD.encode(STANDARD.encode(format!("{lead}{token}"))),
            };
            let clean = redact(&format!("{before}{shown}{after}"));
            prop_assert!(!clean.contains(&body), "{}", clean);
            prop_assert!(!clean.contains(&shown), "{}", clean);
        }
    }
}
