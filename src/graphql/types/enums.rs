//! The contract's enums, mirrored from the domain so the domain stays framework-free.

use crate::domain;
use async_graphql::Enum;

macro_rules! mirror_enum {
    ($(#[doc = $doc:literal])* $name:ident => $domain:path { $($(#[doc = $vdoc:literal])* $variant:ident),* $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum $name {
            $($(#[doc = $vdoc])* $variant),*
        }

        impl From<$domain> for $name {
            fn from(value: $domain) -> Self {
                match value {
                    $(<$domain>::$variant => Self::$variant),*
                }
            }
        }

        impl From<$name> for $domain {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => <$domain>::$variant),*
                }
            }
        }
    };
}

mirror_enum!(
    /// A jurisdiction an institution operates in.
    Region => domain::Region {
        /// United States.
        Us,
        /// European Union and United Kingdom.
        EuUk,
        /// Singapore.
        Sg,
        /// United Arab Emirates.
        Uae,
    }
);

mirror_enum!(
    /// A line of business.
    Vertical => domain::Vertical {
        /// Construction escrows and retainage.
        Construction,
        /// Invoices and letters of credit.
        TradeFinance,
    }
);

mirror_enum!(
    /// A tokenizable asset type; CONSTR_* belong to CONSTRUCTION, TF_* to TRADE_FINANCE.
    TemplateCode => domain::TemplateCode {
        /// Construction project escrow. Config: { currency, region (= template region), minAmount?, maxAmount? }.
        ConstrEscrow,
        /// Construction retainage. Config: { currency, retainagePercentage (0..100) }.
        ConstrRetainage,
        /// Trade-finance invoice. Config: { currency, maxTenorDays (> 0), country }.
        TfInvoice,
        /// Letter of credit. Config: { currency, issuingBankCountry, maxTenorDays (> 0) }.
        TfLc,
    }
);

mirror_enum!(
    /// Where a position is in its lifecycle.
    PositionState => domain::PositionState {
        /// Opened; no money in escrow yet. Next: FUNDED, CANCELLED, EXPIRED.
        Created,
        /// Money is in escrow. Next: PARTIALLY_RELEASED, RELEASED, CANCELLED, EXPIRED.
        Funded,
        /// Part of the amount was released. Next: PARTIALLY_RELEASED, RELEASED, CANCELLED, EXPIRED.
        PartiallyReleased,
        /// The whole amount was released. Final.
        Released,
        /// Called off. Final.
        Cancelled,
        /// Lapsed. Final.
        Expired,
    }
);

mirror_enum!(
    /// What an institution API key may do.
    ApiKeyRole => domain::ApiKeyRole {
        /// Read and write within its institution; manage its keys and policies.
        Admin,
        /// Read within its institution.
        ReadOnly,
    }
);

mirror_enum!(
    /// What a ledger entry records.
    LedgerEventKind => domain::LedgerEventKind {
        /// A position was opened.
        PositionCreated,
        /// A position changed state.
        PositionStateChanged,
    }
);

/// Who the caller is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ViewerRole {
    /// The operator's root key: everything.
    Root,
    /// An institution's ADMIN key.
    Admin,
    /// An institution's READ_ONLY key.
    ReadOnly,
}

impl From<crate::service::ViewerRole> for ViewerRole {
    fn from(value: crate::service::ViewerRole) -> Self {
        match value {
            crate::service::ViewerRole::Root => Self::Root,
            crate::service::ViewerRole::Admin => Self::Admin,
            crate::service::ViewerRole::ReadOnly => Self::ReadOnly,
        }
    }
}
