//! The bytes of a key: generated from the operating system's randomness, hashed with SHA-256,
//! compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Hex characters of a key's public prefix (48 bits).
pub const PREFIX_LEN: usize = 12;
/// Hex characters of a key's secret part (256 bits).
const SECRET_LEN: usize = 64;
const SCHEME: &str = "cl_";

/// A whole key, as the caller sends it. Only ever shown once, at creation.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}…)", self.prefix())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the operating system gave no randomness: {0}")]
    NoRandomness(String),
    #[error("not an API key of this service (cl_<12 hex>_<64 hex>)")]
    Malformed,
}

impl Secret {
    pub fn generate() -> Result<Secret, SecretError> {
        let mut bytes = [0u8; PREFIX_LEN / 2 + SECRET_LEN / 2];
        getrandom::fill(&mut bytes).map_err(|e| SecretError::NoRandomness(e.to_string()))?;
        let (prefix, secret) = bytes.split_at(PREFIX_LEN / 2);
        Ok(Secret(format!(
            "{SCHEME}{}_{}",
            hex::encode(prefix),
            hex::encode(secret)
        )))
    }

    /// Reads a key as a caller sent it; anything not shaped like one of ours is refused before
    /// any lookup.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let rest = text.strip_prefix(SCHEME).ok_or(SecretError::Malformed)?;
        let (prefix, secret) = rest.split_once('_').ok_or(SecretError::Malformed)?;
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        match hex(prefix, PREFIX_LEN) && hex(secret, SECRET_LEN) {
            true => Ok(Secret(text.to_string())),
            false => Err(SecretError::Malformed),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.0[SCHEME.len()..SCHEME.len() + PREFIX_LEN]
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether this key hashes to `stored`, compared in constant time.
    pub fn matches(&self, stored: &str) -> bool {
        hash_of(self).as_bytes().ct_eq(stored.as_bytes()).into()
    }
}

/// Lower-case hex SHA-256 of the whole key: what the store keeps. A key carries 256 random
/// bits, so a fast hash is enough; there is nothing to guess.
pub fn hash_of(secret: &Secret) -> String {
    hex::encode(Sha256::digest(secret.0.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_and_matches_only_its_hash() {
        let key = Secret::generate().unwrap();
        let parsed = Secret::parse(key.expose()).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(key.prefix().len(), PREFIX_LEN);
        assert!(key.expose().starts_with(&format!("cl_{}_", key.prefix())));
        assert!(key.matches(&hash_of(&key)));
        let other = Secret::generate().unwrap();
        assert_ne!(other.prefix(), key.prefix());
        assert!(!other.matches(&hash_of(&key)));
        assert!(!format!("{key:?}").contains(&key.expose()[16..]));
    }

    #[test]
    fn anything_else_is_malformed() {
        let good = format!("cl_{}_{}", "a".repeat(12), "0".repeat(64));
        assert!(Secret::parse(&good).is_ok());
        for bad in [
            String::new(),
            "Bearer x".into(),
            good.replacen("cl_", "ck_", 1),
            good.to_uppercase(),
            format!("{good}0"),
            format!("cl_{}_{}", "a".repeat(11), "0".repeat(65)),
            format!("cl_{}_{}", "g".repeat(12), "0".repeat(64)),
            format!("cl_{}{}", "a".repeat(12), "0".repeat(64)),
        ] {
            assert_eq!(Secret::parse(&bad), Err(SecretError::Malformed), "{bad}");
        }
    }

    /// The stored form is pinned: a change of hash would lock every existing key out.
    #[test]
    fn the_stored_hash_is_sha256_hex_of_the_whole_key() {
        let key = Secret::parse(&format!("cl_{}_{}", "0".repeat(12), "1".repeat(64))).unwrap();
        assert_eq!(
            hash_of(&key),
            "8a9720f5cf6598c875d65d85e3a28881d72b4449b9aa43c89d5aaf10795e83fe"
        );
    }
}
