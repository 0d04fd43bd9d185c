//! `PositionEvent.cursor`: where a subscriber resumes, sealed so that it tells its holder
//! nothing. The log point inside (the writer's transaction and the event's index) is global:
//! in the clear it would let an institution watch every other institution's write volume
//! through the gaps between its own cursors.
//!
//! A cursor is the event's institution and log point, encrypted and authenticated with
//! AES-256-GCM-SIV under a key every instance sharing the store holds (see
//! `PositionEventLog::event_cursor_key`). The nonce is fixed on purpose: GCM-SIV stays safe
//! when a nonce repeats, and it then reveals only whether two cursors name the same event, so
//! one event has one cursor wherever and however often it is delivered. Any change to a
//! cursor fails its tag, so a forged or damaged one is refused instead of resuming somewhere
//! arbitrary; the sealed institution is checked against the caller's scope.

use crate::domain::InstitutionId;
use crate::domain::model::{EventSeq, PositionEvent};
use crate::ports::{EventCursorKey, Scope};
use aes_gcm_siv::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm_siv::{Aes256GcmSiv, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

/// Binds the ciphertext to this use, so a value sealed for something else never opens here.
const PURPOSE: &[u8] = b"escrowgrid PositionEvent.cursor v2";
/// Institution id, then the log point's transaction and index.
const PLAINTEXT_LEN: usize = 16 + 8 + 8;
const TAG_LEN: usize = 16;
const SEALED_LEN: usize = PLAINTEXT_LEN + TAG_LEN;

/// Why a cursor was refused; the caller learns no more than "not a cursor you can use".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorRefusal {
    /// Not base64, the wrong length, or its tag does not verify (forged, damaged, or sealed
    /// under another deployment's key).
    NotACursor,
    /// A genuine cursor of an event the caller may not see.
    OtherInstitution,
}

/// Seals and opens event cursors. Cheap to clone.
#[derive(Clone)]
pub struct EventCursorCodec {
    cipher: Arc<Aes256GcmSiv>,
}

impl fmt::Debug for EventCursorCodec {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("EventCursorCodec(<key>)")
    }
}

impl EventCursorCodec {
    #[must_use]
    pub fn new(key: &EventCursorKey) -> Self {
        Self {
            cipher: Arc::new(Aes256GcmSiv::new(&key.0.into())),
        }
    }

    fn nonce() -> Nonce {
        Nonce::default()
    }

    #[must_use]
    pub fn seal(&self, event: &PositionEvent) -> String {
        let mut sealed = [0_u8; SEALED_LEN];
        let plaintext = &mut sealed[..PLAINTEXT_LEN];
        plaintext[..16].copy_from_slice(event.institution_id.0.as_bytes());
        plaintext[16..24].copy_from_slice(&event.seq.txn.to_be_bytes());
        plaintext[24..].copy_from_slice(&event.seq.index.to_be_bytes());
        match self
            .cipher
            .encrypt_in_place_detached(&Self::nonce(), PURPOSE, plaintext)
        {
            Ok(tag) => sealed[PLAINTEXT_LEN..].copy_from_slice(&tag),
            // GCM-SIV refuses only messages over 2^36 bytes; ours is 32.
            Err(_) => unreachable!("AES-GCM-SIV seals a 32-byte message"),
        }
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The log point to resume after, if `cursor` is one of ours and names an event `scope`
    /// may see.
    ///
    /// # Errors
    /// `NotACursor` or `OtherInstitution`, as named.
    pub fn open(&self, cursor: &str, scope: Scope) -> Result<EventSeq, CursorRefusal> {
        // Longer input cannot be a cursor; refuse before decoding an arbitrarily long string.
        if cursor.len() > SEALED_LEN.div_ceil(3) * 4 {
            return Err(CursorRefusal::NotACursor);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| CursorRefusal::NotACursor)?;
        let sealed: [u8; SEALED_LEN] = bytes.try_into().map_err(|_| CursorRefusal::NotACursor)?;
        let (ciphertext, tag) = sealed.split_at(PLAINTEXT_LEN);
        let mut plaintext = [0_u8; PLAINTEXT_LEN];
        plaintext.copy_from_slice(ciphertext);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| CursorRefusal::NotACursor)?;
        self.cipher
            .decrypt_in_place_detached(&Self::nonce(), PURPOSE, &mut plaintext, &Tag::from(tag))
            .map_err(|_| CursorRefusal::NotACursor)?;
        let (institution, point) = plaintext.split_at(16);
        let institution = Uuid::from_slice(institution).map_err(|_| CursorRefusal::NotACursor)?;
        if !scope.permits(InstitutionId(institution)) {
            return Err(CursorRefusal::OtherInstitution);
        }
        let (txn, index) = point.split_at(8);
        let number = |bytes: &[u8]| {
            <[u8; 8]>::try_from(bytes)
                .map(i64::from_be_bytes)
                .map_err(|_| CursorRefusal::NotACursor)
        };
        Ok(EventSeq {
            txn: number(txn)?,
            index: number(index)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::now;
    use crate::domain::{AssetId, EventId, PositionId, PositionState};

    fn event(institution: InstitutionId, txn: i64, index: i64) -> PositionEvent {
        PositionEvent {
            id: EventId::new(),
            seq: EventSeq { txn, index },
            position_id: PositionId::new(),
            institution_id: institution,
            asset_id: AssetId::new(),
            from_state: None,
            to_state: PositionState::Created,
            reason: None,
            metadata: None,
            release_amount: None,
            version: 1,
            at: now(),
        }
    }

    fn codec(byte: u8) -> EventCursorCodec {
        EventCursorCodec::new(&EventCursorKey([byte; 32]))
    }

    #[test]
    fn a_cursor_opens_to_its_point_for_its_institution_and_for_root() {
        let institution = InstitutionId::new();
        let cursor = codec(1).seal(&event(institution, 7_000_123, 42));
        let point = EventSeq {
            txn: 7_000_123,
            index: 42,
        };
        assert_eq!(
            codec(1).open(&cursor, Scope::Institution(institution)),
            Ok(point)
        );
        assert_eq!(codec(1).open(&cursor, Scope::All), Ok(point));
    }

    #[test]
    fn another_institutions_cursor_is_refused() {
        let cursor = codec(1).seal(&event(InstitutionId::new(), 1, 1));
        assert_eq!(
            codec(1).open(&cursor, Scope::Institution(InstitutionId::new())),
            Err(CursorRefusal::OtherInstitution)
        );
    }

    #[test]
    fn consecutive_points_share_no_visible_structure() {
        let institution = InstitutionId::new();
        let a = codec(1).seal(&event(institution, 100, 1));
        let b = codec(1).seal(&event(institution, 100, 2));
        // Deterministic per event, and nothing in common between neighbours: the tag (and with
        // it the keystream) depends on the whole plaintext.
        assert_eq!(a, codec(1).seal(&event(institution, 100, 1)));
        let common = a.bytes().zip(b.bytes()).filter(|(x, y)| x == y).count();
        assert!(
            common < a.len() / 4,
            "{a} and {b} share {common} characters"
        );
    }

    #[test]
    fn forged_damaged_and_foreign_cursors_are_refused() {
        let institution = InstitutionId::new();
        let cursor = codec(1).seal(&event(institution, 5, 5));
        let scope = Scope::Institution(institution);
        assert_eq!(
            codec(2).open(&cursor, scope),
            Err(CursorRefusal::NotACursor)
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).expect("base64");
        bytes[20] ^= 1;
        let flipped = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            codec(1).open(&flipped, scope),
            Err(CursorRefusal::NotACursor)
        );
        for junk in ["", "!!", "AAAA", &"A".repeat(64), &"A".repeat(10_000)] {
            assert_eq!(
                codec(1).open(junk, scope),
                Err(CursorRefusal::NotACursor),
                "{junk}"
            );
        }
        // A cursor from before sealing (position, version, transaction, index in the clear)
        // names a point anyone could have written; it is refused like any other forgery.
        let mut legacy = Vec::new();
        legacy.extend_from_slice(Uuid::now_v7().as_bytes());
        legacy.extend_from_slice(&1_i32.to_be_bytes());
        legacy.extend_from_slice(&5_i64.to_be_bytes());
        legacy.extend_from_slice(&5_i64.to_be_bytes());
        assert_eq!(
            codec(1).open(&URL_SAFE_NO_PAD.encode(legacy), scope),
            Err(CursorRefusal::NotACursor)
        );
    }
}
