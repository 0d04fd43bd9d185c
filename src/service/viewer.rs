//! Who is calling, and what that lets them see and change.

use super::error::{ServiceError, ServiceResult};
use crate::domain::{ApiKeyId, ApiKeyRole, InstitutionId};
use crate::ports::Scope;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViewerRole {
    Root,
    Admin,
    ReadOnly,
}

/// An authenticated caller. An enum, not a role plus an optional institution, so that an
/// institution key without an institution (which would read as "all institutions") cannot
/// be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Viewer {
    /// The root key: every institution.
    Root,
    /// An institution's key: that institution only, and writes only with ADMIN.
    InstitutionKey {
        institution_id: InstitutionId,
        api_key_id: ApiKeyId,
        role: ApiKeyRole,
    },
}

impl Viewer {
    #[must_use]
    pub fn root() -> Self {
        Self::Root
    }

    #[must_use]
    pub fn institution_key(institution: InstitutionId, key: ApiKeyId, role: ApiKeyRole) -> Self {
        Self::InstitutionKey {
            institution_id: institution,
            api_key_id: key,
            role,
        }
    }

    #[must_use]
    pub fn role(&self) -> ViewerRole {
        match self {
            Self::Root => ViewerRole::Root,
            Self::InstitutionKey {
                role: ApiKeyRole::Admin,
                ..
            } => ViewerRole::Admin,
            Self::InstitutionKey {
                role: ApiKeyRole::ReadOnly,
                ..
            } => ViewerRole::ReadOnly,
        }
    }

    /// The caller's own institution; `None` for root.
    #[must_use]
    pub fn institution_id(&self) -> Option<InstitutionId> {
        match self {
            Self::Root => None,
            Self::InstitutionKey { institution_id, .. } => Some(*institution_id),
        }
    }

    /// The key in use; `None` for root, whose key is not a stored row.
    #[must_use]
    pub fn api_key_id(&self) -> Option<ApiKeyId> {
        match self {
            Self::Root => None,
            Self::InstitutionKey { api_key_id, .. } => Some(*api_key_id),
        }
    }

    /// The rows this caller may read.
    #[must_use]
    pub fn scope(&self) -> Scope {
        match self {
            Self::Root => Scope::All,
            Self::InstitutionKey { institution_id, .. } => Scope::Institution(*institution_id),
        }
    }

    /// An explicit filter naming another institution is refused rather than answered empty,
    /// so a caller learns it asked for something it may not see.
    ///
    /// # Errors
    /// `Forbidden` when `requested` is another institution than the caller's own.
    pub fn check_filter(&self, requested: Option<InstitutionId>) -> ServiceResult<()> {
        match (self.scope(), requested) {
            (Scope::Institution(own), Some(other)) if other != own => Err(ServiceError::Forbidden(
                "the filter names another institution".into(),
            )),
            _ => Ok(()),
        }
    }

    /// # Errors
    /// `Forbidden` unless the caller is root.
    pub fn require_root(&self, what: &str) -> ServiceResult<()> {
        if *self == Self::Root {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "{what} requires the root key"
            )))
        }
    }

    /// The institution a write acts for: root must name it; an ADMIN key may omit it or
    /// name its own; READ_ONLY keys never write.
    ///
    /// # Errors
    /// `Forbidden` for READ_ONLY keys or another institution; `InvalidInput` when root omits it.
    pub fn writable_institution(
        &self,
        requested: Option<InstitutionId>,
    ) -> ServiceResult<InstitutionId> {
        match (*self, requested) {
            (Self::Root, Some(institution)) => Ok(institution),
            (Self::Root, None) => Err(crate::domain::DomainError::invalid(
                "input.institutionId",
                "is required with the root key",
            )
            .into()),
            (
                Self::InstitutionKey {
                    role: ApiKeyRole::ReadOnly,
                    ..
                },
                _,
            ) => Err(read_only()),
            (Self::InstitutionKey { institution_id, .. }, None) => Ok(institution_id),
            (Self::InstitutionKey { institution_id, .. }, Some(requested))
                if requested == institution_id =>
            {
                Ok(institution_id)
            }
            (Self::InstitutionKey { .. }, Some(_)) => Err(ServiceError::Forbidden(
                "an institution key can only act for its own institution".into(),
            )),
        }
    }

    /// # Errors
    /// `Forbidden` for READ_ONLY keys.
    pub fn require_writer(&self) -> ServiceResult<()> {
        if self.role() == ViewerRole::ReadOnly {
            Err(read_only())
        } else {
            Ok(())
        }
    }
}

fn read_only() -> ServiceError {
    ServiceError::Forbidden("READ_ONLY keys cannot change anything".into())
}

/// One request's caller plus what the audit trail records about the request.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub viewer: Viewer,
    pub request_id: Option<String>,
}
