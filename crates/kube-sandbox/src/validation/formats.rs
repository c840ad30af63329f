//! The string `format`s kube-apiserver checks on custom resources (kube-openapi's `strfmt`
//! registry); any other format, including the numeric ones (`int32`, `double`, ...), is an
//! annotation only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;

/// Whether a string is in a format.
pub(crate) type Check = fn(&str) -> bool;

/// Formats this module checks, each with its check.
pub(crate) const CHECKED: &[(&str, Check)] = &[
    ("date-time", is_date_time),
    ("datetime", is_date_time),
    ("date", is_date),
    ("email", is_email),
    ("hostname", is_hostname),
    ("ipv4", is_ipv4),
    ("ipv6", is_ipv6),
    ("cidr", is_cidr),
    ("mac", is_mac),
    ("uuid", |s| is_uuid(s, None)),
    ("uuid3", |s| is_uuid(s, Some('3'))),
    ("uuid4", |s| is_uuid(s, Some('4'))),
    ("uuid5", |s| is_uuid(s, Some('5'))),
    ("byte", is_base64),
    ("uri", is_uri),
    ("duration", is_duration),
    ("hexcolor", is_hex_color),
];

/// The check for `format`, if the apiserver checks it.
pub(crate) fn check(format: &str) -> Option<Check> {
    CHECKED
        .iter()
        .find(|(name, _)| *name == format)
        .map(|(_, f)| *f)
}

/// RFC 3339 with an offset, or the offset-less forms `strfmt.ParseDateTime` also accepts.
fn is_date_time(s: &str) -> bool {
    s.parse::<jiff::Timestamp>().is_ok()
        || (s.contains('T') && s.parse::<jiff::civil::DateTime>().is_ok())
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok()
}

/// A bare `local@domain` address (display names like `A <a@b>` are not accepted).
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
        && !local.contains('@')
        && is_hostname(domain)
}

/// An RFC 1123 host name.
fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_ipv4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

fn is_ipv6(s: &str) -> bool {
    s.parse::<Ipv6Addr>().is_ok()
}

fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => prefix <= 32,
        Ok(IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

/// An IEEE 802 MAC-48, EUI-64 or 20-octet address with `:` or `-` separators.
fn is_mac(s: &str) -> bool {
    let separator = if s.contains(':') { ':' } else { '-' };
    let groups: Vec<&str> = s.split(separator).collect();
    matches!(groups.len(), 6 | 8 | 20)
        && groups
            .iter()
            .all(|g| g.len() == 2 && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_uuid(s: &str, version: Option<char>) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()));
    shape_ok && version.is_none_or(|v| groups[2].starts_with(v))
}

fn is_base64(s: &str) -> bool {
    base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

/// An absolute URI (`scheme:...`) or an absolute path, like Go's `url.ParseRequestURI`.
fn is_uri(s: &str) -> bool {
    if s.starts_with('/') {
        return !s.chars().any(char::is_whitespace);
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

/// A Go duration (`1h30m`, `300ms`, `-1.5h`), also with the `d` and `w` units strfmt adds.
fn is_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[number_len..];
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h", "d", "w"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(unit) => rest = &rest[unit.len()..],
            None => return false,
        }
    }
    true
}

fn is_hex_color(s: &str) -> bool {
    let hex = s.strip_prefix('#').unwrap_or(s);
    matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_accepts_rfc3339_and_rejects_dates_and_words() {
        let f = check("date-time").unwrap();
        assert!(f("2024-05-01T10:00:00Z"));
        assert!(f("2024-05-01T10:00:00.123+02:00"));
        assert!(!f("2024-05-01"));
        assert!(!f("tomorrow"));
    }

    #[test]
    fn email_requires_a_local_part_and_a_host_name() {
        let f = check("email").unwrap();
        assert!(f("bot@example.com"));
        assert!(!f("bot"));
        assert!(!f("@example.com"));
        assert!(!f("bot@exa mple.com"));
        assert!(!f("bot@-example.com"));
    }

    #[test]
    fn duration_accepts_go_durations_with_days_and_weeks() {
        let f = check("duration").unwrap();
        for ok in ["1h", "1h30m", "300ms", "-1.5h", "7d", "2w", "0"] {
            assert!(f(ok), "{ok}");
        }
        for bad in ["", "h", "1x", "1.2.3s", "P1D"] {
            assert!(!f(bad), "{bad}");
        }
    }

    #[test]
    fn network_formats_accept_addresses_and_reject_garbage() {
        assert!(check("ipv4").unwrap()("10.0.0.1"));
        assert!(!check("ipv4").unwrap()("10.0.0.256"));
        assert!(check("ipv6").unwrap()("::1"));
        assert!(check("cidr").unwrap()("10.0.0.0/8"));
        assert!(!check("cidr").unwrap()("10.0.0.0/33"));
        assert!(check("mac").unwrap()("00:1a:2b:3c:4d:5e"));
        assert!(!check("mac").unwrap()("00:1a:2b"));
        assert!(check("hostname").unwrap()("api.example.com"));
        assert!(!check("hostname").unwrap()("under_score.example.com"));
    }

    #[test]
    fn uuid_versions_check_the_version_digit() {
        let id = "123e4567-e89b-42d3-a456-426614174000";
        assert!(check("uuid").unwrap()(id));
        assert!(check("uuid4").unwrap()(id));
        assert!(!check("uuid5").unwrap()(id));
        assert!(!check("uuid").unwrap()("123e4567"));
    }

    #[test]
    fn byte_uri_and_hexcolor_are_checked() {
        assert!(check("byte").unwrap()("aGVsbG8="));
        assert!(!check("byte").unwrap()("not base64!"));
        assert!(check("uri").unwrap()("https://example.com/x"));
        assert!(check("uri").unwrap()("/path"));
        assert!(!check("uri").unwrap()("example.com"));
        assert!(check("hexcolor").unwrap()("#a0f"));
        assert!(!check("hexcolor").unwrap()("#a0"));
    }

    #[test]
    fn numeric_and_unknown_formats_are_not_checked() {
        assert!(check("int32").is_none());
        assert!(check("password").is_none());
        assert!(check("something-else").is_none());
    }
}
