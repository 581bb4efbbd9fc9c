//! Unit and currency codes: what every quantity (an account's unit) and every amount of money (a
//! lot's or a credit line's currency) is counted in. A code is 1 to 16 of `A-Z`, `0-9`, `_` and
//! `-`, kept inline (no allocation, `Copy`), so an account, a lot and each of an entry's postings
//! carry theirs for free.

use std::fmt;
use std::str::FromStr;

use super::amount::truncated;

/// The longest code.
pub const CODE_LEN_MAX: usize = 16;

/// A code's characters, unpadded on the left. Ordered as its text is (every character sorts
/// after the zero padding), so reports keyed by code list them as they always have.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code {
    bytes: [u8; CODE_LEN_MAX],
    len: u8,
}

/// Text that is not a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("use 1-16 of A-Z, 0-9, '_', '-': {text:?}")]
pub struct InvalidCode {
    text: String,
}

impl Code {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("codes are ASCII")
    }
}

impl FromStr for Code {
    type Err = InvalidCode;

    fn from_str(text: &str) -> Result<Self, InvalidCode> {
        let allowed =
            |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
        if text.is_empty() || text.len() > CODE_LEN_MAX || !text.bytes().all(allowed) {
            return Err(InvalidCode {
                text: truncated(text).to_string(),
            });
        }
        let mut bytes = [0; CODE_LEN_MAX];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(Code {
            bytes,
            len: text.len() as u8,
        })
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Code);

        impl $name {
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The bare code, as a posting carries it (its book says which kind it is).
            pub fn code(self) -> Code {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidCode;
            fn from_str(text: &str) -> Result<Self, InvalidCode> {
                text.parse().map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

code_type!(
    /// What an account counts credit in (`CREDIT`, `TOKENS`, …): every quantity of the account,
    /// its lots and its holds is in it.
    Unit
);
code_type!(
    /// An ISO 4217 code or any other money code the seller uses (`USD`, `EUR`, …).
    Currency
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codes_parse_and_they_sort_as_their_text() {
        for good in ["USD", "CREDIT", "GPU_SECONDS", "A-1", "0123456789ABCDEF"] {
            assert_eq!(good.parse::<Code>().unwrap().as_str(), good);
        }
        for bad in ["", "usd", "US D", "0123456789ABCDEFG", "É", "US\0"] {
            assert!(bad.parse::<Code>().is_err(), "{bad:?}");
        }
        let mut codes: Vec<Code> = ["USD", "EUR", "EU", "EURO", "A", "_"]
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        codes.sort();
        let texts: Vec<&str> = codes.iter().map(Code::as_str).collect();
        assert_eq!(texts, ["A", "EU", "EUR", "EURO", "USD", "_"]);
        assert!("usd".parse::<Currency>().is_err());
        assert_eq!("USD".parse::<Currency>().unwrap(), "USD");
    }
}
