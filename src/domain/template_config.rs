//! The `config` of each template code, parsed into a typed shape and checked.

use super::money::Amount;
use super::{Currency, DomainError, Region, TemplateCode};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::str::FromStr;

/// A validated template configuration; the stored JSON is the object it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateConfig {
    ConstrEscrow {
        currency: Currency,
        region: Region,
        min_amount: Option<Amount>,
        max_amount: Option<Amount>,
    },
    ConstrRetainage {
        currency: Currency,
        retainage_percentage: Decimal,
    },
    TfInvoice {
        currency: Currency,
        max_tenor_days: u32,
        country: String,
    },
    TfLc {
        currency: Currency,
        issuing_bank_country: String,
        max_tenor_days: u32,
    },
}

impl TemplateConfig {
    /// Parses `config` for a template of `code` in `region`. Unknown keys are refused so that a
    /// misspelt `maxAmmount` cannot silently switch a limit off.
    ///
    /// # Errors
    /// `InvalidInput` naming `config.<key>` for the first rule that fails.
    pub fn parse(
        code: TemplateCode,
        region: Region,
        config: &Map<String, Value>,
    ) -> Result<Self, DomainError> {
        let reader = ConfigReader(config);
        let parsed = match code {
            TemplateCode::ConstrEscrow => {
                reader.only(&["currency", "region", "minAmount", "maxAmount"])?;
                let config_region: Region = reader
                    .text("region")?
                    .parse()
                    .map_err(|_| DomainError::invalid("input.config.region", "must be a Region"))?;
                if config_region != region {
                    return Err(DomainError::invalid(
                        "input.config.region",
                        format!("must equal the template region {region}"),
                    ));
                }
                let min_amount = reader.optional_amount("minAmount")?;
                let max_amount = reader.optional_amount("maxAmount")?;
                if let (Some(min), Some(max)) = (min_amount, max_amount)
                    && min > max
                {
                    return Err(DomainError::invalid(
                        "input.config.minAmount",
                        "must not exceed config.maxAmount",
                    ));
                }
                Self::ConstrEscrow {
                    currency: reader.currency()?,
                    region: config_region,
                    min_amount,
                    max_amount,
                }
            }
            TemplateCode::ConstrRetainage => {
                reader.only(&["currency", "retainagePercentage"])?;
                let percentage = reader.decimal("retainagePercentage")?;
                if percentage < Decimal::ZERO || percentage > Decimal::from(100) {
                    return Err(DomainError::invalid(
                        "input.config.retainagePercentage",
                        "must be between 0 and 100",
                    ));
                }
                Self::ConstrRetainage {
                    currency: reader.currency()?,
                    retainage_percentage: percentage,
                }
            }
            TemplateCode::TfInvoice => {
                reader.only(&["currency", "maxTenorDays", "country"])?;
                Self::TfInvoice {
                    currency: reader.currency()?,
                    max_tenor_days: reader.positive_days("maxTenorDays")?,
                    country: reader.country("country")?,
                }
            }
            TemplateCode::TfLc => {
                reader.only(&["currency", "issuingBankCountry", "maxTenorDays"])?;
                Self::TfLc {
                    currency: reader.currency()?,
                    issuing_bank_country: reader.country("issuingBankCountry")?,
                    max_tenor_days: reader.positive_days("maxTenorDays")?,
                }
            }
        };
        Ok(parsed)
    }

    #[must_use]
    pub fn currency(&self) -> Currency {
        match self {
            Self::ConstrEscrow { currency, .. }
            | Self::ConstrRetainage { currency, .. }
            | Self::TfInvoice { currency, .. }
            | Self::TfLc { currency, .. } => *currency,
        }
    }

    /// The (min, max) amount bounds a template puts on its positions.
    #[must_use]
    pub fn amount_bounds(&self) -> (Option<Amount>, Option<Amount>) {
        match self {
            Self::ConstrEscrow {
                min_amount,
                max_amount,
                ..
            } => (*min_amount, *max_amount),
            _ => (None, None),
        }
    }
}

struct ConfigReader<'a>(&'a Map<String, Value>);

impl ConfigReader<'_> {
    fn field(key: &str) -> String {
        format!("input.config.{key}")
    }

    fn only(&self, allowed: &[&str]) -> Result<(), DomainError> {
        match self.0.keys().find(|key| !allowed.contains(&key.as_str())) {
            Some(key) => Err(DomainError::invalid(
                Self::field(key),
                format!("is not a known key; allowed: {}", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn text(&self, key: &str) -> Result<&str, DomainError> {
        match self.0.get(key) {
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(DomainError::invalid(Self::field(key), "must be a string")),
            None => Err(DomainError::invalid(Self::field(key), "is required")),
        }
    }

    fn currency(&self) -> Result<Currency, DomainError> {
        Currency::parse(self.text("currency")?, "input.config.currency")
    }

    fn country(&self, key: &str) -> Result<String, DomainError> {
        let text = self.text(key)?;
        if text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(text.to_owned())
        } else {
            Err(DomainError::invalid(
                Self::field(key),
                "must be an ISO 3166-1 alpha-2 country code such as \"US\"",
            ))
        }
    }

    /// Numbers are read from their text so that neither strings nor JSON numbers pass through f64.
    fn decimal(&self, key: &str) -> Result<Decimal, DomainError> {
        let text = match self.0.get(key) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            Some(_) => return Err(DomainError::invalid(Self::field(key), "must be a number")),
            None => return Err(DomainError::invalid(Self::field(key), "is required")),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| DomainError::invalid(Self::field(key), "must be a number"))
    }

    fn optional_amount(&self, key: &str) -> Result<Option<Amount>, DomainError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Amount::parse_str(text, &Self::field(key)).map(Some),
            Some(Value::Number(number)) => {
                Amount::parse_str(&number.to_string(), &Self::field(key)).map(Some)
            }
            Some(_) => Err(DomainError::invalid(
                Self::field(key),
                "must be a decimal string",
            )),
        }
    }

    fn positive_days(&self, key: &str) -> Result<u32, DomainError> {
        match self.0.get(key).and_then(Value::as_u64) {
            Some(days) if days > 0 => u32::try_from(days)
                .map_err(|_| DomainError::invalid(Self::field(key), "is too large")),
            Some(_) => Err(DomainError::invalid(
                Self::field(key),
                "must be greater than 0",
            )),
            None if self.0.contains_key(key) => Err(DomainError::invalid(
                Self::field(key),
                "must be a whole number greater than 0",
            )),
            None => Err(DomainError::invalid(Self::field(key), "is required")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(code: TemplateCode, config: Value) -> Result<TemplateConfig, DomainError> {
        let Value::Object(map) = config else {
            panic!("test configs are objects")
        };
        TemplateConfig::parse(code, Region::Us, &map)
    }

    #[test]
    fn escrow_region_must_match_and_bounds_must_order() {
        let ok = parse(
            TemplateCode::ConstrEscrow,
            json!({"currency": "USD", "region": "US", "minAmount": "10", "maxAmount": 1000}),
        );
        assert!(ok.is_ok());
        let wrong_region = parse(
            TemplateCode::ConstrEscrow,
            json!({"currency": "USD", "region": "SG"}),
        );
        assert!(
            matches!(wrong_region, Err(DomainError::InvalidInput { field, .. }) if field == "input.config.region")
        );
        let inverted = parse(
            TemplateCode::ConstrEscrow,
            json!({"currency": "USD", "region": "US", "minAmount": "10", "maxAmount": "5"}),
        );
        assert!(inverted.is_err());
    }

    #[test]
    fn each_code_checks_its_own_fields() {
        assert!(
            parse(
                TemplateCode::ConstrRetainage,
                json!({"currency": "EUR", "retainagePercentage": 5})
            )
            .is_ok()
        );
        assert!(
            parse(
                TemplateCode::ConstrRetainage,
                json!({"currency": "EUR", "retainagePercentage": 101})
            )
            .is_err()
        );
        assert!(
            parse(
                TemplateCode::TfInvoice,
                json!({"currency": "SGD", "maxTenorDays": 90, "country": "SG"})
            )
            .is_ok()
        );
        assert!(
            parse(
                TemplateCode::TfInvoice,
                json!({"currency": "SGD", "maxTenorDays": 0, "country": "SG"})
            )
            .is_err()
        );
        assert!(
            parse(
                TemplateCode::TfLc,
                json!({"currency": "AED", "issuingBankCountry": "AE", "maxTenorDays": 30})
            )
            .is_ok()
        );
        assert!(
            parse(
                TemplateCode::TfLc,
                json!({"currency": "AED", "issuingBankCountry": "AE"})
            )
            .is_err()
        );
        assert!(
            parse(
                TemplateCode::TfLc,
                json!({"currency": "XYZ", "issuingBankCountry": "AE", "maxTenorDays": 1})
            )
            .is_err()
        );
        assert!(parse(TemplateCode::TfLc, json!({"currency": "AED", "issuingBankCountry": "AE", "maxTenorDays": 1, "extra": 1})).is_err());
    }
}
