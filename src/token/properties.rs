//! Property tests of the token format: the parser takes any input without panicking, accepts
//! exactly the generated shape, and rejects every single-character edit of a valid token.
//! `PROPTEST_CASES` sets the number of cases (`make fuzz` runs a million).

use proptest::prelude::*;

use super::*;

/// A well-formed token built from an arbitrary random part.
fn well_formed() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{40}".prop_map(|random| {
        let checksum = format::checksum(random.as_bytes());
        format!(
            "{PREFIX}{random}{}",
            std::str::from_utf8(&checksum).unwrap()
        )
    })
}

proptest! {
    #[test]
    fn any_input_is_answered_without_panicking_and_never_echoed(candidate in any::<String>()) {
        if let Err(e) = Token::parse(&candidate) {
            let fixed = [
                MalformedToken::Prefix,
                MalformedToken::Length,
                MalformedToken::Charset,
                MalformedToken::Checksum,
            ]
            .map(|m| m.to_string());
            prop_assert!(fixed.contains(&e.to_string()));
        }
    }

    #[test]
    fn token_shaped_input_is_accepted_only_with_its_checksum(
        random in "[A-Za-z0-9]{40}",
        sum in "[A-Za-z0-9]{6}",
    ) {
        let candidate = format!("{PREFIX}{random}{sum}");
        let expected = format::checksum(random.as_bytes());
        prop_assert_eq!(Token::parse(&candidate).is_ok(), sum.as_bytes() == expected);
    }

    #[test]
    fn a_well_formed_token_round_trips_and_keeps_its_digest(value in well_formed()) {
        let token = Token::parse(&value).unwrap();
        prop_assert_eq!(token.expose(), value.as_str());
        prop_assert_eq!(token.digest(), digest(value.as_bytes()));
        prop_assert!(!token.hint().contains(&value[PREFIX.len() + 4..value.len() - 4]));
        prop_assert_eq!(format!("{token} {token:?}"), "[redacted] Token([redacted])");
    }

    #[test]
    fn every_edit_of_one_character_is_rejected(
        value in well_formed(),
        at in 0..TOKEN_LEN,
        replacement in any::<char>(),
        insert in any::<bool>(),
    ) {
        let mut edited: Vec<char> = value.chars().collect();
        // Replacing a character by itself is no edit: that case inserts instead (a rejected
        // case would count against proptest's cap on rejects, which a million cases exceed).
        if insert || edited[at] == replacement {
            edited.insert(at, replacement);
        } else {
            edited[at] = replacement;
        }
        let edited: String = edited.into_iter().collect();
        prop_assert!(Token::parse(&edited).is_err(), "accepted an edited token");
    }
}
