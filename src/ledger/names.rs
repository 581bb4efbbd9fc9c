//! One spelling for every enum that outlives a process: the same text is written to the store,
//! read back, used in SQL filters, in fingerprints and in exports. Each enum says its names once,
//! with `named!`, which gives it `as_str`, `FromStr` and `Display`.

/// A stored name that no variant has: a damaged row, or one written by a newer release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a {kind}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

/// `named!(Enum { Variant => "text", … })`.
macro_rules! named {
    ($enum:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $enum {
            /// The one spelling of this value, in the store, in SQL and in fingerprints.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($enum::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $enum {
            type Err = $crate::ledger::names::UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                match name {
                    $($text => Ok($enum::$variant),)+
                    other => Err($crate::ledger::names::UnknownName {
                        kind: stringify!($enum),
                        name: other.to_string(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named;
