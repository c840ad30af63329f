//! The key that authenticates what the operator records beside a token (its revision, digest
//! and times, in the Secret's annotations): HMAC-SHA256, so that a record written by hand by
//! someone who may write the Secret, but is not the operator, is never believed.

use std::fmt;

use ring::hmac;

/// Bytes of a record key.
pub const LEN: usize = 32;

/// A record key. `Debug` never shows it.
#[derive(Clone)]
pub struct RecordKey {
    bytes: [u8; LEN],
    key: hmac::Key,
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordKey([redacted])")
    }
}

/// Stored bytes that are not a record key.
#[derive(Debug, thiserror::Error)]
#[error("a record key has {LEN} bytes, found {0}")]
pub struct BadLength(usize);

impl RecordKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::from_array(rand::random())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadLength> {
        let bytes: [u8; LEN] = bytes.try_into().map_err(|_| BadLength(bytes.len()))?;
        Ok(Self::from_array(bytes))
    }

    fn from_array(bytes: [u8; LEN]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            bytes,
        }
    }

    /// The key's bytes, for its Secret and nowhere else.
    pub fn to_bytes(&self) -> [u8; LEN] {
        self.bytes
    }

    /// The MAC of `fields`, as lowercase hex. Each field is length-prefixed, so no two lists of
    /// fields share a message.
    pub fn sign(&self, fields: &[&str]) -> String {
        hex::encode(hmac::sign(&self.key, &message(fields)).as_ref())
    }

    /// Whether `mac` is the MAC of `fields` (compared in constant time).
    pub fn verify(&self, fields: &[&str], mac: &str) -> bool {
        hex::decode(mac).is_ok_and(|tag| hmac::verify(&self.key, &message(fields), &tag).is_ok())
    }
}

fn message(fields: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_verifies_under_its_key_and_fields_only() {
        let key = RecordKey::generate();
        let mac = key.sign(&["ns/ci", "uid", "3"]);
        assert!(key.verify(&["ns/ci", "uid", "3"], &mac));
        assert!(!key.verify(&["ns/ci", "uid", "4"], &mac), "another field");
        assert!(!key.verify(&["ns/ci", "uid3"], &mac), "fields run together");
        assert!(!key.verify(&["ns/ci", "uid", "3"], "00"), "a made-up MAC");
        assert!(!key.verify(&["ns/ci", "uid", "3"], "not hex"));
        assert!(
            !RecordKey::generate().verify(&["ns/ci", "uid", "3"], &mac),
            "another key"
        );
        let stored = RecordKey::from_bytes(&key.to_bytes()).unwrap();
        assert!(
            stored.verify(&["ns/ci", "uid", "3"], &mac),
            "the stored key"
        );
        assert!(RecordKey::from_bytes(&[0; 5]).is_err());
        assert_eq!(format!("{key:?}"), "RecordKey([redacted])");
    }
}
