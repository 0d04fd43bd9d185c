//! The typed error every domain rule returns: which rule failed, and why.

use super::PositionState;
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DomainError {
    /// Input that breaks a shape or limit rule; `field` is the input path (e.g. `input.amount`).
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    /// A template or institution policy forbids the request; `rule` names it.
    #[error("policy rule {rule} violated: {message}")]
    PolicyViolation { rule: String, message: String },
    #[error("cannot move a position from {from} to {to}: {message}")]
    InvalidTransition {
        from: PositionState,
        to: PositionState,
        message: String,
    },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn policy(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self::PolicyViolation {
            rule: rule.into(),
            message: message.into(),
        }
    }
}
