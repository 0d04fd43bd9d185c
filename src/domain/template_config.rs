//! The `config` of each template code, parsed into a typed shape and checked.

use super::money::Amount;
use super::{Currency, DomainError, Region, TemplateCode};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::str::FromStr;

/// A template's config: the rules parsed from it, kept with the document exactly as the client
/// wrote it (which is what the API shows back). Only `parse` and `restore` make one, so a
/// template's config is parsed once, when it is created or read, and then used as is.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateConfig {
    rules: TemplateRules,
    document: Map<String, Value>,
}

/// What a JSON number in a config's decimal field may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Numbers {
    /// New input: integers only, since a JSON float has already lost digits by the time
    /// serde_json hands it over (no `arbitrary_precision`). Decimals come as strings.
    Exact,
    /// A stored config, read back: floats are taken as they were when first accepted (before
    /// input refused them), so a template created then stays readable.
    AsStored,
}

impl TemplateConfig {
    /// Parses a new `config` for a template of `code` in `region`.
    ///
    /// # Errors
    /// `InvalidInput` naming `input.config.<key>` for the first rule that fails, including a
    /// decimal given as a JSON float.
    pub fn parse(
        code: TemplateCode,
        region: Region,
        document: Map<String, Value>,
    ) -> Result<Self, DomainError> {
        let rules = TemplateRules::parse(code, region, &document, Numbers::Exact)?;
        Ok(Self { rules, document })
    }

    /// Re-reads a config a store kept: the same rules as `parse`, and the numbers as stored.
    ///
    /// # Errors
    /// `InvalidInput` when the document no longer parses (the store holds what was never
    /// written through `parse`).
    pub fn restore(
        code: TemplateCode,
        region: Region,
        document: Map<String, Value>,
    ) -> Result<Self, DomainError> {
        let rules = TemplateRules::parse(code, region, &document, Numbers::AsStored)?;
        Ok(Self { rules, document })
    }

    #[must_use]
    pub fn rules(&self) -> &TemplateRules {
        &self.rules
    }

    /// The config as the client wrote it.
    #[must_use]
    pub fn document(&self) -> &Map<String, Value> {
        &self.document
    }

    #[must_use]
    pub fn currency(&self) -> Currency {
        self.rules.currency()
    }

    /// The (min, max) amount bounds a template puts on its positions.
    #[must_use]
    pub fn amount_bounds(&self) -> (Option<Amount>, Option<Amount>) {
        self.rules.amount_bounds()
    }
}

/// The typed shape of each template code's config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateRules {
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

impl TemplateRules {
    /// Parses `config` for a template of `code` in `region`. Unknown keys are refused so that a
    /// misspelt `maxAmmount` cannot silently switch a limit off.
    fn parse(
        code: TemplateCode,
        region: Region,
        config: &Map<String, Value>,
        numbers: Numbers,
    ) -> Result<Self, DomainError> {
        let reader = ConfigReader { config, numbers };
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

struct ConfigReader<'a> {
    config: &'a Map<String, Value>,
    numbers: Numbers,
}

impl ConfigReader<'_> {
    fn field(key: &str) -> String {
        format!("input.config.{key}")
    }

    fn only(&self, allowed: &[&str]) -> Result<(), DomainError> {
        match self
            .config
            .keys()
            .find(|key| !allowed.contains(&key.as_str()))
        {
            Some(key) => Err(DomainError::invalid(
                Self::field(key),
                format!("is not a known key; allowed: {}", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn text(&self, key: &str) -> Result<&str, DomainError> {
        match self.config.get(key) {
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

    /// The exact text of a decimal field: a string as written, or a JSON integer. A JSON float
    /// is refused in new input (see `Numbers::Exact`).
    fn number_text(&self, key: &str, expected: &str) -> Result<Option<String>, DomainError> {
        match self.config.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number))
                if number.is_i64() || number.is_u64() || self.numbers == Numbers::AsStored =>
            {
                Ok(Some(number.to_string()))
            }
            Some(Value::Number(_)) => Err(DomainError::invalid(
                Self::field(key),
                format!(
                    "must be {expected} as a string such as \"1000.10\", or an integer: \
                     a JSON number with a fraction or exponent is not exact"
                ),
            )),
            Some(_) => Err(DomainError::invalid(
                Self::field(key),
                format!("must be {expected}"),
            )),
        }
    }

    fn decimal(&self, key: &str) -> Result<Decimal, DomainError> {
        let Some(text) = self.number_text(key, "a number")? else {
            return Err(DomainError::invalid(Self::field(key), "is required"));
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| DomainError::invalid(Self::field(key), "must be a number"))
    }

    fn optional_amount(&self, key: &str) -> Result<Option<Amount>, DomainError> {
        if self.config.get(key).is_some_and(Value::is_null) {
            return Ok(None);
        }
        self.number_text(key, "a decimal string")?
            .map(|text| Amount::parse_str(&text, &Self::field(key)))
            .transpose()
    }

    fn positive_days(&self, key: &str) -> Result<u32, DomainError> {
        match self.config.get(key).and_then(Value::as_u64) {
            Some(days) if days > 0 => u32::try_from(days)
                .map_err(|_| DomainError::invalid(Self::field(key), "is too large")),
            Some(_) => Err(DomainError::invalid(
                Self::field(key),
                "must be greater than 0",
            )),
            None if self.config.contains_key(key) => Err(DomainError::invalid(
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

    fn object(config: Value) -> Map<String, Value> {
        let Value::Object(map) = config else {
            panic!("test configs are objects")
        };
        map
    }

    fn parse(code: TemplateCode, config: Value) -> Result<TemplateConfig, DomainError> {
        TemplateConfig::parse(code, Region::Us, object(config))
    }

    fn refused_field(result: Result<TemplateConfig, DomainError>) -> Option<String> {
        match result {
            Err(DomainError::InvalidInput { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn config_amounts_are_exact_or_refused() {
        let escrow = |min: Value| {
            parse(
                TemplateCode::ConstrEscrow,
                json!({"currency": "USD", "region": "US", "minAmount": min}),
            )
        };
        assert_eq!(
            refused_field(escrow(json!(1000.1))),
            Some("input.config.minAmount".to_owned())
        );
        assert_eq!(
            refused_field(escrow(json!(1e3))),
            Some("input.config.minAmount".to_owned())
        );
        assert_eq!(
            refused_field(escrow(json!(" 1000.10"))),
            Some("input.config.minAmount".to_owned())
        );
        let exact = escrow(json!("1000.123456789")).map(|c| c.amount_bounds());
        assert!(exact.is_err(), "nine places are more than an amount holds");
        let kept = escrow(json!("999999999999999.99999999")).expect("a string is exact");
        assert_eq!(
            kept.amount_bounds().0.map(|a| a.to_string()).as_deref(),
            Some("999999999999999.99999999")
        );
        assert_eq!(
            kept.document().get("minAmount"),
            Some(&json!("999999999999999.99999999")),
            "the document is kept as written"
        );
        let integer = escrow(json!(1000)).expect("an integer is exact");
        assert_eq!(
            integer.amount_bounds().0.map(|a| a.to_string()).as_deref(),
            Some("1000.00")
        );
        let percentage = parse(
            TemplateCode::ConstrRetainage,
            json!({"currency": "EUR", "retainagePercentage": 2.5}),
        );
        assert_eq!(
            refused_field(percentage),
            Some("input.config.retainagePercentage".to_owned())
        );
    }

    #[test]
    fn a_stored_config_reads_back_as_first_accepted() {
        let stored = object(json!({"currency": "USD", "region": "US", "minAmount": 1000.1}));
        let restored = TemplateConfig::restore(TemplateCode::ConstrEscrow, Region::Us, stored)
            .expect("floats were accepted before input refused them");
        assert_eq!(
            restored.amount_bounds().0.map(|a| a.to_string()).as_deref(),
            Some("1000.10")
        );
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
