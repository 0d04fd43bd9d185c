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

/// An authenticated caller: the root key, or an institution's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Viewer {
    pub role: ViewerRole,
    pub institution_id: Option<InstitutionId>,
    pub api_key_id: Option<ApiKeyId>,
}

impl Viewer {
    #[must_use]
    pub fn root() -> Self {
        Self {
            role: ViewerRole::Root,
            institution_id: None,
            api_key_id: None,
        }
    }

    #[must_use]
    pub fn institution_key(institution: InstitutionId, key: ApiKeyId, role: ApiKeyRole) -> Self {
        Self {
            role: match role {
                ApiKeyRole::Admin => ViewerRole::Admin,
                ApiKeyRole::ReadOnly => ViewerRole::ReadOnly,
            },
            institution_id: Some(institution),
            api_key_id: Some(key),
        }
    }

    /// The rows this caller may read.
    #[must_use]
    pub fn scope(&self) -> Scope {
        match (self.role, self.institution_id) {
            (ViewerRole::Root, _) | (_, None) => Scope::All,
            (_, Some(own)) => Scope::Institution(own),
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
        if self.role == ViewerRole::Root {
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
        match (self.role, self.institution_id, requested) {
            (ViewerRole::ReadOnly, _, _) => Err(ServiceError::Forbidden(
                "READ_ONLY keys cannot change anything".into(),
            )),
            (ViewerRole::Root, _, Some(institution)) => Ok(institution),
            (ViewerRole::Root, _, None) => Err(crate::domain::DomainError::invalid(
                "input.institutionId",
                "is required with the root key",
            )
            .into()),
            (ViewerRole::Admin, Some(own), None) => Ok(own),
            (ViewerRole::Admin, Some(own), Some(requested)) if requested == own => Ok(own),
            (ViewerRole::Admin, _, _) => Err(ServiceError::Forbidden(
                "an institution key can only act for its own institution".into(),
            )),
        }
    }

    /// # Errors
    /// `Forbidden` for READ_ONLY keys.
    pub fn require_writer(&self) -> ServiceResult<()> {
        if self.role == ViewerRole::ReadOnly {
            Err(ServiceError::Forbidden(
                "READ_ONLY keys cannot change anything".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// One request's caller plus what the audit trail records about the request.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub viewer: Viewer,
    pub request_id: Option<String>,
}
