//! Exact money: amounts as `Decimal` within the contract's bounds, currencies as ISO 4217 codes.

use super::DomainError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// At most 8 decimal places: the precision of `NUMERIC(32,8)`, so nothing is rounded on storage.
pub const MAX_SCALE: u32 = 8;

/// 10^15, the largest amount a position may carry.
#[must_use]
pub fn max_amount() -> Decimal {
    Decimal::from(1_000_000_000_000_000_i64)
}

/// The one spelling of a money value on every store and on the wire: no trailing zeros beyond
/// cents, so `100000.50` reads back as `"100000.50"` whether PostgreSQL padded it to 8 places or not.
#[must_use]
pub fn canonical(value: Decimal) -> Decimal {
    let mut value = value.normalize();
    if value.scale() < 2 {
        value.rescale(2);
    }
    value
}

/// A strictly positive amount of at most 10^15 with at most 8 decimal places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Amount(Decimal);

impl Amount {
    /// # Errors
    /// `InvalidInput` on `field` when the value is not positive, too large or too precise.
    pub fn parse(value: Decimal, field: &str) -> Result<Self, DomainError> {
        let value = canonical(value);
        if value.scale() > MAX_SCALE {
            return Err(DomainError::invalid(
                field,
                format!("at most {MAX_SCALE} decimal places are allowed"),
            ));
        }
        if value <= Decimal::ZERO {
            return Err(DomainError::invalid(field, "must be greater than 0"));
        }
        if value > max_amount() {
            return Err(DomainError::invalid(
                field,
                "must be at most 1000000000000000",
            ));
        }
        Ok(Self(value))
    }

    /// Parses the wire form exactly as the contract spells it: an optional `-`, digits, and
    /// optionally `.` and more digits, such as `"100000.50"`. No white space, no `+`, no
    /// exponent: what a client sends is what is stored.
    ///
    /// # Errors
    /// `InvalidInput` when the text is not such a decimal or breaks the bounds.
    pub fn parse_str(text: &str, field: &str) -> Result<Self, DomainError> {
        let not_plain =
            || DomainError::invalid(field, "must be a decimal number such as \"100.50\"");
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
            return Err(not_plain());
        }
        // Rejected before parsing: Decimal would silently round digits beyond its precision.
        if fraction.is_some_and(|f| f.len() > MAX_SCALE as usize) {
            return Err(DomainError::invalid(
                field,
                format!("at most {MAX_SCALE} decimal places are allowed"),
            ));
        }
        let value = Decimal::from_str(text).map_err(|_| not_plain())?;
        Self::parse(value, field)
    }

    #[must_use]
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for Amount {
    type Error = DomainError;

    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::parse(value, "amount")
    }
}

impl From<Amount> for Decimal {
    fn from(value: Amount) -> Self {
        value.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How much of a position has been paid out: from 0 up to the position's amount, with the
/// same precision. Its own type because 0 is a valid released total but never a valid
/// `Amount`; the lifecycle keeps it at most the amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct ReleasedAmount(Decimal);

impl ReleasedAmount {
    /// Nothing released yet, spelled `0.00`.
    #[must_use]
    pub fn zero() -> Self {
        Self(canonical(Decimal::ZERO))
    }

    /// # Errors
    /// `InvalidInput` on `field` when the value is negative, too large or too precise.
    pub fn parse(value: Decimal, field: &str) -> Result<Self, DomainError> {
        let value = canonical(value);
        if value.scale() > MAX_SCALE {
            return Err(DomainError::invalid(
                field,
                format!("at most {MAX_SCALE} decimal places are allowed"),
            ));
        }
        if value < Decimal::ZERO {
            return Err(DomainError::invalid(field, "must not be negative"));
        }
        if value > max_amount() {
            return Err(DomainError::invalid(
                field,
                "must be at most 1000000000000000",
            ));
        }
        Ok(Self(value))
    }

    #[must_use]
    pub fn value(self) -> Decimal {
        self.0
    }
}

/// All of a position's amount released.
impl From<Amount> for ReleasedAmount {
    fn from(value: Amount) -> Self {
        Self(value.0)
    }
}

impl TryFrom<Decimal> for ReleasedAmount {
    type Error = DomainError;

    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::parse(value, "releasedAmount")
    }
}

impl From<ReleasedAmount> for Decimal {
    fn from(value: ReleasedAmount) -> Self {
        value.0
    }
}

impl fmt::Display for ReleasedAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An active ISO 4217 currency code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// Active ISO 4217 alphabetic codes (list of 2024), funds and precious metals excluded:
/// a claim is denominated in money, not in gold or an accounting unit.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW",
    "ZWG",
];

impl Currency {
    /// # Errors
    /// `InvalidInput` on `field` unless `code` is an active ISO 4217 code (upper case).
    pub fn parse(code: &str, field: &str) -> Result<Self, DomainError> {
        match ISO_4217.binary_search(&code) {
            Ok(_) => {
                let bytes = code.as_bytes();
                Ok(Self([bytes[0], bytes[1], bytes[2]]))
            }
            Err(_) => Err(DomainError::invalid(
                field,
                format!("{code:?} is not an ISO 4217 currency code"),
            )),
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only constructed from entries of ISO_4217, which are ASCII.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = DomainError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value, "currency")
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_list_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn amount_bounds() {
        for (input, canonical) in [
            ("0.00000001", "0.00000001"),
            ("100000.50", "100000.50"),
            ("100000.50000000", "100000.50"),
            ("999999999999999.99999999", "999999999999999.99999999"),
            ("1000000000000000", "1000000000000000.00"),
            ("7.1", "7.10"),
        ] {
            let parsed = Amount::parse_str(input, "a").map(|a| a.to_string()).ok();
            assert_eq!(parsed.as_deref(), Some(canonical), "{input}");
        }
        for bad in [
            "1000000000000000.00000001",
            "0.000000001",
            "0",
            "-1",
            "1e5",
            "",
            "abc",
        ] {
            assert!(
                Amount::parse_str(bad, "a").is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn amount_text_is_exactly_the_contract_format() {
        for bad in [
            " 100.50", "100.50 ", "\t1", "1\n", "+100", "+1.5", ".5", "5.", "1.2.3", "--1",
            "1_000", "1,5", "0x10", "١٢", "NaN", "inf",
        ] {
            let refused = Amount::parse_str(bad, "input.amount");
            assert!(
                matches!(&refused, Err(DomainError::InvalidInput { field, .. }) if field == "input.amount"),
                "{bad:?} should be refused naming the field, got {refused:?}"
            );
        }
        for good in ["100", "100.5", "0100.50", "1000000000000000"] {
            assert!(Amount::parse_str(good, "a").is_ok(), "{good:?}");
        }
        let negative = Amount::parse_str("-1", "a");
        assert!(
            matches!(&negative, Err(DomainError::InvalidInput { message, .. }) if message == "must be greater than 0"),
            "{negative:?}"
        );
    }

    #[test]
    fn released_amounts_start_at_zero_and_stay_in_bounds() {
        assert_eq!(ReleasedAmount::zero().to_string(), "0.00");
        assert!(ReleasedAmount::parse(Decimal::ZERO, "r").is_ok());
        assert!(ReleasedAmount::parse(Decimal::NEGATIVE_ONE, "r").is_err());
        assert!(ReleasedAmount::parse(max_amount() + Decimal::ONE, "r").is_err());
        assert!(ReleasedAmount::parse(Decimal::new(1, 9), "r").is_err());
        let full = ReleasedAmount::from(Amount::parse_str("7.1", "a").expect("valid"));
        assert_eq!(full.to_string(), "7.10");
    }
}
