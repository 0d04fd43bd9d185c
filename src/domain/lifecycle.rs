//! The position lifecycle: which moves are allowed, and what each does to the released amount.

use super::{DomainError, PositionState};
use rust_decimal::Decimal;

use PositionState::{Cancelled, Created, Expired, Funded, PartiallyReleased, Released};

/// The states a position in `from` may move to.
#[must_use]
pub fn allowed_transitions(from: PositionState) -> &'static [PositionState] {
    match from {
        Created => &[Funded, Cancelled, Expired],
        Funded => &[PartiallyReleased, Released, Cancelled, Expired],
        PartiallyReleased => &[PartiallyReleased, Released, Cancelled, Expired],
        Released | Cancelled | Expired => &[],
    }
}

/// What a permitted move does: the released total afterwards and the amount released by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionEffect {
    pub to: PositionState,
    pub released_amount: Decimal,
    pub release_amount: Option<Decimal>,
}

/// Checks a move and computes its money effect.
///
/// # Errors
/// `InvalidTransition` when the move is not in the lifecycle, or the release amount does not
/// fit it (missing for PARTIALLY_RELEASED, not below the remainder, or given to another state).
pub fn plan_transition(
    from: PositionState,
    to: PositionState,
    amount: Decimal,
    released_amount: Decimal,
    release_amount: Option<Decimal>,
) -> Result<TransitionEffect, DomainError> {
    let refuse = |message: String| DomainError::InvalidTransition { from, to, message };
    if !allowed_transitions(from).contains(&to) {
        let allowed: Vec<&str> = allowed_transitions(from)
            .iter()
            .map(|s| s.as_str())
            .collect();
        return Err(refuse(if allowed.is_empty() {
            format!("{from} is final")
        } else {
            format!("allowed from {from}: {}", allowed.join(", "))
        }));
    }
    match to {
        PartiallyReleased => {
            let Some(release) = release_amount else {
                return Err(refuse(
                    "releaseAmount is required for PARTIALLY_RELEASED".into(),
                ));
            };
            if release <= Decimal::ZERO {
                return Err(refuse("releaseAmount must be greater than 0".into()));
            }
            let after = released_amount + release;
            if after >= amount {
                return Err(refuse(format!(
                    "releasedAmount + releaseAmount ({after}) must stay below amount ({amount}); \
                     move to RELEASED to release the remainder"
                )));
            }
            Ok(TransitionEffect {
                to,
                released_amount: after,
                release_amount: Some(release),
            })
        }
        Released => {
            if release_amount.is_some() {
                return Err(refuse(
                    "RELEASED releases the remainder and takes no releaseAmount".into(),
                ));
            }
            Ok(TransitionEffect {
                to,
                released_amount: amount,
                release_amount: Some(amount - released_amount),
            })
        }
        _ => {
            if release_amount.is_some() {
                return Err(refuse(format!("{to} takes no releaseAmount")));
            }
            Ok(TransitionEffect {
                to,
                released_amount,
                release_amount: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn d(n: i64) -> Decimal {
        Decimal::from(n)
    }

    #[test]
    fn every_pair_follows_the_table() {
        for &from in PositionState::ALL {
            for &to in PositionState::ALL {
                let release = (to == PartiallyReleased).then(|| d(1));
                let result = plan_transition(from, to, d(100), d(0), release);
                assert_eq!(
                    result.is_ok(),
                    allowed_transitions(from).contains(&to),
                    "{from}->{to}"
                );
            }
        }
    }

    #[test]
    fn releases_add_up_and_released_takes_the_remainder() {
        let first = plan_transition(Funded, PartiallyReleased, d(100), d(0), Some(d(30)));
        assert_eq!(first.map(|e| e.released_amount), Ok(d(30)));
        let rest = plan_transition(PartiallyReleased, Released, d(100), d(30), None);
        assert_eq!(
            rest.map(|e| (e.released_amount, e.release_amount)),
            Ok((d(100), Some(d(70))))
        );
        assert!(
            plan_transition(
                PartiallyReleased,
                PartiallyReleased,
                d(100),
                d(30),
                Some(d(70))
            )
            .is_err()
        );
        assert!(plan_transition(Funded, PartiallyReleased, d(100), d(0), None).is_err());
        assert!(plan_transition(Funded, Cancelled, d(100), d(0), Some(d(1))).is_err());
    }
}
