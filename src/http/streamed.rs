//! Starting an operation whose results are streamed (websockets and Server-Sent Events): the
//! persisted-document policy, the shared document cache, then the schema's response stream,
//! and what logs and metrics call the operation.

use crate::graphql::{Document, Executor, prepare_group_request, prepare_request};
use crate::http::AppState;
use crate::http::graphql::document;
use crate::http::metrics::{ANONYMOUS, UNKNOWN};
use crate::service::{RequestContext, Viewer};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use std::sync::Arc;

/// What a request's document is, as far as the shared document cache knows it.
pub(crate) struct Described {
    /// The operation's name for logs and metrics.
    pub(crate) name: String,
    pub(crate) kind: Option<OperationType>,
    /// The parsed document, when it is within the text limits and parses; otherwise the
    /// schema parses the text itself and refuses it with the reason.
    document: Option<Arc<Document>>,
}

impl Described {
    /// The parsed document, when it is within the text limits and parses.
    pub(crate) fn document(&self) -> Option<&Document> {
        self.document.as_deref()
    }
}

fn describe(executor: &Executor, request: &Request) -> Described {
    let Ok(document) = executor.document(&request.query) else {
        return Described {
            name: UNKNOWN.to_owned(),
            kind: None,
            document: None,
        };
    };
    let parsed = document.parsed();
    let name = request.operation_name.as_deref();
    let (name, kind) = match document::select(parsed, name) {
        Ok(selected) => (
            document::selected_name(parsed, name)
                .unwrap_or(ANONYMOUS)
                .to_owned(),
            Some(selected.ty),
        ),
        Err(_) => (UNKNOWN.to_owned(), None),
    };
    Described {
        name,
        kind,
        document: Some(document),
    }
}

/// A started operation: what it is, and its responses (one for a query or mutation, one per
/// event for a subscription; a refusal is one response with errors and no data).
pub(crate) struct Started {
    pub(crate) described: Described,
    pub(crate) responses: BoxStream<'static, Response>,
}

/// Starts `request` for `ctx`'s caller.
///
/// # Errors
/// The persisted-document refusals (`Executor::resolve_persisted`), before anything runs.
pub(crate) fn start(
    state: &AppState,
    request: Request,
    ctx: RequestContext,
) -> Result<Started, ServerError> {
    let (described, request) = prepare(state, request, &ctx.viewer)?;
    let responses = execute(state, request, ctx);
    Ok(Started {
        described,
        responses,
    })
}

/// The first half of `start`: the persisted-document policy for `viewer` and the shared
/// document cache; the request comes back with its query text resolved and, when it parses,
/// its parsed document attached.
///
/// # Errors
/// The persisted-document refusals (`Executor::resolve_persisted`), before anything runs.
pub(crate) fn prepare(
    state: &AppState,
    mut request: Request,
    viewer: &Viewer,
) -> Result<(Described, Request), ServerError> {
    let executor = state.executor();
    let root = matches!(viewer, Viewer::Root);
    let register = executor.resolve_persisted(&mut request, root)?;
    let described = describe(executor, &request);
    if let Some(document) = &described.document {
        if let Some(hash) = register {
            executor.register(hash, &request.query);
        }
        request.set_parsed_query(document.parsed().clone());
    }
    Ok((described, request))
}

/// The second half of `start`: the schema's response stream for a prepared request.
pub(crate) fn execute(
    state: &AppState,
    request: Request,
    ctx: RequestContext,
) -> BoxStream<'static, Response> {
    let request = prepare_request(request, state.services(), ctx);
    state.schema().execute_stream(request).boxed()
}

/// `execute` for a subscription group's one operation (`ws/groups.rs`).
pub(crate) fn execute_group(
    state: &AppState,
    request: Request,
    ctx: RequestContext,
) -> BoxStream<'static, Response> {
    let request = prepare_group_request(request, state.services(), ctx);
    state.schema().execute_stream(request).boxed()
}

/// Whether a stream's first response is a refusal before anything ran (a validation error,
/// an argument the resolver refused), which the protocols report apart from results.
pub(crate) fn refused_at_start(response: &Response) -> bool {
    response.data == async_graphql::Value::Null && !response.errors.is_empty()
}

/// An operation's type as logs, metrics and spans name it.
pub(crate) fn kind_name(kind: Option<OperationType>) -> &'static str {
    match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    }
}
