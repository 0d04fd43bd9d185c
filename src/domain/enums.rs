//! The closed vocabularies of the contract, with their wire/storage spelling.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! wire_enum {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }
    };
}

wire_enum!(Region { Us => "US", EuUk => "EU_UK", Sg => "SG", Uae => "UAE" });
wire_enum!(Vertical { Construction => "CONSTRUCTION", TradeFinance => "TRADE_FINANCE" });
wire_enum!(TemplateCode {
    ConstrEscrow => "CONSTR_ESCROW",
    ConstrRetainage => "CONSTR_RETAINAGE",
    TfInvoice => "TF_INVOICE",
    TfLc => "TF_LC",
});
wire_enum!(PositionState {
    Created => "CREATED",
    Funded => "FUNDED",
    PartiallyReleased => "PARTIALLY_RELEASED",
    Released => "RELEASED",
    Cancelled => "CANCELLED",
    Expired => "EXPIRED",
});
wire_enum!(ApiKeyRole { Admin => "ADMIN", ReadOnly => "READ_ONLY" });
wire_enum!(LedgerEventKind {
    PositionCreated => "POSITION_CREATED",
    PositionStateChanged => "POSITION_STATE_CHANGED",
});

impl TemplateCode {
    /// The vertical a template code belongs to (CONSTR_* ↔ CONSTRUCTION, TF_* ↔ TRADE_FINANCE).
    #[must_use]
    pub fn vertical(self) -> Vertical {
        match self {
            Self::ConstrEscrow | Self::ConstrRetainage => Vertical::Construction,
            Self::TfInvoice | Self::TfLc => Vertical::TradeFinance,
        }
    }
}
