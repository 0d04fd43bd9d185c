//! Whether a new position is permitted by its template and its institution's regional policy.

use super::money::Amount;
use super::template_config::TemplateConfig;
use super::{Currency, DomainError};
use serde::{Deserialize, Serialize};

/// Bounds an institution puts on new positions in one region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionRules {
    pub min_amount: Option<Amount>,
    pub max_amount: Option<Amount>,
    pub allowed_currencies: Option<Vec<Currency>>,
}

impl PositionRules {
    /// # Errors
    /// `InvalidInput` when minAmount exceeds maxAmount.
    pub fn new(
        min_amount: Option<Amount>,
        max_amount: Option<Amount>,
        allowed_currencies: Option<Vec<Currency>>,
    ) -> Result<Self, DomainError> {
        if let (Some(min), Some(max)) = (min_amount, max_amount)
            && min > max
        {
            return Err(DomainError::invalid(
                "input.position.minAmount",
                "must not exceed maxAmount",
            ));
        }
        Ok(Self {
            min_amount,
            max_amount,
            allowed_currencies,
        })
    }
}

/// Checks a new position's currency and amount against its template and, when the institution
/// has one for the template's region, its policy.
///
/// # Errors
/// `PolicyViolation` whose `rule` names the bound that failed, e.g. `policy.maxAmount`.
pub fn check_new_position(
    template: &TemplateConfig,
    policy: Option<&PositionRules>,
    currency: Currency,
    amount: Amount,
) -> Result<(), DomainError> {
    if currency != template.currency() {
        return Err(DomainError::policy(
            "template.currency",
            format!(
                "currency {currency} differs from the template's {}",
                template.currency()
            ),
        ));
    }
    let (template_min, template_max) = template.amount_bounds();
    check_bounds("template", template_min, template_max, amount)?;
    if let Some(rules) = policy {
        check_bounds("policy", rules.min_amount, rules.max_amount, amount)?;
        if let Some(allowed) = &rules.allowed_currencies
            && !allowed.contains(&currency)
        {
            return Err(DomainError::policy(
                "policy.allowedCurrencies",
                format!("currency {currency} is not allowed by the institution's policy"),
            ));
        }
    }
    Ok(())
}

fn check_bounds(
    source: &str,
    min: Option<Amount>,
    max: Option<Amount>,
    amount: Amount,
) -> Result<(), DomainError> {
    if let Some(min) = min
        && amount < min
    {
        return Err(DomainError::policy(
            format!("{source}.minAmount"),
            format!("amount {amount} is below the {source} minimum {min}"),
        ));
    }
    if let Some(max) = max
        && amount > max
    {
        return Err(DomainError::policy(
            format!("{source}.maxAmount"),
            format!("amount {amount} is above the {source} maximum {max}"),
        ));
    }
    Ok(())
}
