//! Enums whose values are property spellings: [`spelled_enum!`] declares
//! one from a list of canonical spellings, which the property table also
//! uses as the valid values, so the documentation and the parser cannot
//! disagree.

/// Declares a property enum whose variants map 1:1 to canonical spellings.
macro_rules! spelled_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The canonical spellings, in documentation order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The canonical spelling of this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The value with this canonical spelling (the table has already
            /// normalised case and aliases).
            #[allow(dead_code, reason = "ConnectorClass is validated, never converted")]
            pub(crate) fn from_canonical(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use spelled_enum;
