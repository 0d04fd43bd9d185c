//! The position lifecycle: which moves are allowed, and what each does to the released amount.

use super::{Amount, DomainError, PositionState, ReleasedAmount};

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
    pub released_amount: ReleasedAmount,
    pub release_amount: Option<Amount>,
}

/// Checks a move and computes its money effect.
///
/// # Errors
/// `InvalidTransition` when the move is not in the lifecycle, or the release amount does not
/// fit it (missing for PARTIALLY_RELEASED, not below the remainder, or given to another state).
pub fn plan_transition(
    from: PositionState,
    to: PositionState,
    amount: Amount,
    released_amount: ReleasedAmount,
    release_amount: Option<Amount>,
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
            // An `Amount` is greater than 0 by construction.
            let after = released_amount.value() + release.value();
            if after >= amount.value() {
                return Err(refuse(format!(
                    "releasedAmount + releaseAmount ({after}) must stay below amount ({amount}); \
                     move to RELEASED to release the remainder"
                )));
            }
            // Below `amount`, and no more precise than its two terms: always a released total.
            let after = ReleasedAmount::parse(after, "releasedAmount")
                .map_err(|error| refuse(error.to_string()))?;
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
            // Partial releases stay below `amount`, so the remainder is greater than 0.
            let remainder =
                Amount::parse(amount.value() - released_amount.value(), "releaseAmount")
                    .map_err(|_| refuse(format!("{amount} has already been released in full")))?;
            Ok(TransitionEffect {
                to,
                released_amount: amount.into(),
                release_amount: Some(remainder),
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

    fn a(n: i64) -> Amount {
        Amount::parse(Decimal::from(n), "a").expect("test amounts are positive")
    }

    fn r(n: i64) -> ReleasedAmount {
        ReleasedAmount::parse(Decimal::from(n), "r").expect("test totals are in bounds")
    }

    #[test]
    fn every_pair_follows_the_table() {
        for &from in PositionState::ALL {
            for &to in PositionState::ALL {
                let release = (to == PartiallyReleased).then(|| a(1));
                let result = plan_transition(from, to, a(100), r(0), release);
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
        let first = plan_transition(Funded, PartiallyReleased, a(100), r(0), Some(a(30)));
        assert_eq!(first.map(|e| e.released_amount), Ok(r(30)));
        let rest = plan_transition(PartiallyReleased, Released, a(100), r(30), None);
        assert_eq!(
            rest.map(|e| (e.released_amount, e.release_amount)),
            Ok((r(100), Some(a(70))))
        );
        assert!(
            plan_transition(
                PartiallyReleased,
                PartiallyReleased,
                a(100),
                r(30),
                Some(a(70))
            )
            .is_err()
        );
        assert!(plan_transition(Funded, PartiallyReleased, a(100), r(0), None).is_err());
        assert!(plan_transition(Funded, Cancelled, a(100), r(0), Some(a(1))).is_err());
    }
}
