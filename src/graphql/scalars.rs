//! Wire forms of the contract's scalars. Inputs are kept as given and parsed into domain types
//! by the resolvers, so a bad value becomes BAD_USER_INPUT naming its field.

use super::error::{GqlResult, bad_input};
use crate::domain::model::Timestamp;
use async_graphql::{ID, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Marks an input that was neither a string nor an integer (a float, a boolean, an object).
pub(crate) const NOT_A_DECIMAL: &str = "\u{0}not-a-decimal:";

/// Exact decimal as a JSON string such as `"100000.50"`; input also accepts an integer literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecimalText(pub(crate) String);

#[Scalar(name = "Decimal")]
/// An exact decimal number as a JSON string, e.g. "100000.50" (never a float). Inputs also
/// accept an integer literal. At most 8 decimal places; amounts satisfy 0 < amount <= 10^15.
impl ScalarType for DecimalText {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(Self(text)),
            Value::Number(number) if number.is_i64() || number.is_u64() => {
                Ok(Self(number.to_string()))
            }
            // Kept (marked) rather than refused here, so the resolver can refuse it naming the
            // input field; async-graphql's own error would only name the argument.
            other => Ok(Self(format!("{NOT_A_DECIMAL}{other}"))),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

impl From<Decimal> for DecimalText {
    fn from(value: Decimal) -> Self {
        Self(crate::domain::money::canonical(value).to_string())
    }
}

/// RFC 3339 instant in UTC with milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DateTime(pub(crate) Timestamp);

#[Scalar(name = "DateTime")]
/// An instant as RFC 3339 in UTC with milliseconds, e.g. "2026-11-27T23:01:00.123Z".
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|parsed| Self(parsed.with_timezone(&chrono::Utc)))
                .map_err(|_| InputValueError::custom("DateTime must be RFC 3339")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        // The fixed RFC 3339 writer, not `format`: a strftime pattern is re-read for every
        // value, and nested pages print thousands of timestamps.
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }
}

/// Any JSON value; object-ness and size are checked by the domain with the field's name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Json(pub(crate) serde_json::Value);

#[Scalar(name = "JSON")]
/// A JSON object (metadata, template config, event payloads): at most 64 KiB and 10 levels deep.
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        value
            .into_json()
            .map(Self)
            .map_err(|_| InputValueError::custom("not representable as JSON"))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

impl Json {
    pub(crate) fn object(map: &serde_json::Map<String, serde_json::Value>) -> Self {
        Self(serde_json::Value::Object(map.clone()))
    }
}

/// Parses an `ID` argument into a typed id.
pub(crate) fn parse_id<T: From<Uuid>>(id: &ID, field: &str) -> GqlResult<T> {
    Uuid::parse_str(id.as_str())
        .map(T::from)
        .map_err(|_| bad_input(field, "must be a UUID"))
}

pub(crate) fn to_id(id: impl Into<Uuid>) -> ID {
    ID(id.into().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn date_times_print_in_utc_with_exactly_three_fraction_digits() {
        let on_the_second = chrono::Utc
            .with_ymd_and_hms(2026, 12, 4, 3, 20, 0)
            .single()
            .expect("a valid time");
        let with_micros = on_the_second + chrono::Duration::microseconds(120_450);
        assert_eq!(
            DateTime(on_the_second).to_value(),
            Value::String("2026-12-04T03:20:00.000Z".into())
        );
        assert_eq!(
            DateTime(with_micros).to_value(),
            Value::String("2026-12-04T03:20:00.120Z".into())
        );
    }
}
