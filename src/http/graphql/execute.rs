//! Runs one GraphQL request and classifies the result: a request error (the operation never
//! ran; `data` must be absent under graphql-response+json) or an execution result.

use super::document;
use crate::graphql::{ErrorCode, bad_user_input, code_of, prepare_request};
use crate::http::AppState;
use crate::http::metrics;
use crate::service::{RequestContext, Viewer};
use async_graphql::parser::parse_query;
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError};

pub(crate) enum Outcome {
    /// Refused before execution: too large, unparsable, invalid, or uncoercible.
    Rejected(Vec<ServerError>),
    Executed(Response),
    /// A mutation sent with GET, which must not change anything.
    MutationOverGet,
}

/// What logs and metrics call an operation; filled in before it runs, so one cancelled by
/// the request timeout is still named.
#[derive(Clone, Debug)]
pub(crate) struct Operation {
    /// The operation's name, `anonymous`, or `unknown` when none could be selected.
    pub(crate) name: String,
    /// `query`, `mutation`, `subscription` or `unknown`.
    pub(crate) kind: &'static str,
}

impl Default for Operation {
    fn default() -> Self {
        Self {
            name: metrics::UNKNOWN.to_owned(),
            kind: metrics::UNKNOWN,
        }
    }
}

pub(crate) async fn run(
    state: &AppState,
    ctx: RequestContext,
    mut request: Request,
    read_only: bool,
    operation: &mut Operation,
) -> Outcome {
    // Parsed here (or found parsed), so a failure is known to be the parse's; the schema
    // reuses the document. A new text is scanned first: a flood of tokens or aliases is
    // refused for the price of one read.
    let executor = state.executor();
    let root = matches!(ctx.viewer, Viewer::Root);
    let document = match executor.request_document(&mut request, root) {
        Ok(document) => document,
        Err(error) => return Outcome::Rejected(vec![error]),
    };
    let parsed = document.parsed();
    let checked =
        document::select(parsed, request.operation_name.as_deref()).and_then(|selected| {
            operation.name = document::selected_name(parsed, request.operation_name.as_deref())
                .unwrap_or(metrics::ANONYMOUS)
                .to_owned();
            operation.kind = crate::http::streamed::kind_name(Some(selected.ty));
            document::require_query_or_mutation(selected)?;
            document::require_variables(selected, &request.variables)?;
            Ok(selected.ty)
        });
    match checked {
        Ok(OperationType::Mutation) if read_only => {
            return Outcome::MutationOverGet;
        }
        Ok(_) => {}
        Err(error) => return Outcome::Rejected(vec![error]),
    }
    let schema = match executor.schema_for(&document, &request.variables) {
        Ok(schema) => schema,
        Err(error) => return Outcome::Rejected(vec![error]),
    };
    let on_checked = std::ptr::eq(schema, executor.checked());
    // A document that passed before is validated again on the fast schema (unless its values
    // cannot fail, `trusted`), which has no stage to code a refusal: kept to ask the checked
    // schema instead, whose answer is the one a cold document gets.
    let again = (!on_checked && !executor.is_trusted(schema)).then(|| {
        (
            request.variables.clone(),
            request.operation_name.clone(),
            ctx.clone(),
        )
    });
    request.set_parsed_query(parsed.clone());
    // Kept to name the argument of a coercion error afterwards; rare, so parsed lazily.
    let query = request.query.clone();
    let mut response = schema
        .execute(prepare_request(request, state.services(), ctx))
        .await;
    if let Some((variables, operation_name, ctx)) = again
        && !executed(&response)
    {
        let mut request = Request::new(query.clone()).variables(variables);
        if let Some(name) = operation_name {
            request = request.operation_name(name);
        }
        request.set_parsed_query(parsed.clone());
        response = executor
            .checked()
            .execute(prepare_request(request, state.services(), ctx))
            .await;
    }
    if never_ran(&response) {
        return Outcome::Rejected(response.errors);
    }
    if on_checked && executed(&response) {
        executor.passed(&document);
    }
    give_codes(&mut response.errors, &query);
    Outcome::Executed(response)
}

/// The schema's parse and validation stages code every error they raise; a response holding
/// only those never ran.
fn never_ran(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| {
            matches!(
                code_of(error),
                Some(ErrorCode::GraphqlParseFailed | ErrorCode::GraphqlValidationFailed)
            )
        })
}

/// Whether resolvers ran: they produced data, or an error at a field's path. A refusal by
/// validation or a limit has neither, whatever its code.
fn executed(response: &Response) -> bool {
    response.data != async_graphql::Value::Null
        || response.errors.iter().any(|error| !error.path.is_empty())
}

/// Every error must carry a code. Resolvers code theirs, so an uncoded one was raised by
/// async-graphql: where it sits tells which. Coercing an argument's value fails at that value's
/// position (a resolver's error sits at its field's name), the caller's fault, named after the
/// argument. Anything else uncoded is ours and its text may leak internals, so it is logged
/// and replaced.
fn give_codes(errors: &mut [ServerError], query: &str) {
    let mut document = None;
    for error in errors.iter_mut().filter(|error| code_of(error).is_none()) {
        let document = document.get_or_insert_with(|| parse_query(query).ok());
        let argument = document
            .as_ref()
            .zip(error.locations.first())
            .and_then(|(document, pos)| document::argument_at(document, *pos));
        if let Some(argument) = argument {
            let coded = bad_user_input(&argument, error.message.clone());
            error.extensions = coded.extensions;
        } else {
            tracing::error!(message = %error.message, path = ?error.path, "uncoded GraphQL error");
            let mut replacement = ErrorCode::InternalServerError.error("internal server error");
            replacement.locations = std::mem::take(&mut error.locations);
            replacement.path = std::mem::take(&mut error.path);
            *error = replacement;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Pos;

    #[test]
    fn an_argument_coercion_error_becomes_bad_user_input_naming_the_argument() {
        let query = "{ positions(first: 1, after: 7) { totalCount } }";
        let mut error = ServerError::new(
            "Failed to parse \"String\": invalid cursor",
            Some(Pos {
                line: 1,
                column: 30,
            }),
        );
        error.path = vec![async_graphql::PathSegment::Field("positions".into())];
        let mut errors = vec![error];
        give_codes(&mut errors, query);
        assert_eq!(code_of(&errors[0]), Some(ErrorCode::BadUserInput));
        let fields = errors[0]
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("fields"))
            .expect("fields");
        let async_graphql::Value::List(fields) = fields else {
            panic!("a list");
        };
        let async_graphql::Value::Object(field) = &fields[0] else {
            panic!("an object");
        };
        assert_eq!(
            field.get("field"),
            Some(&async_graphql::Value::from("after"))
        );
    }

    #[test]
    fn any_other_uncoded_error_is_hidden_as_internal() {
        let mut errors = vec![ServerError::new("connection to 10.0.0.3 refused", None)];
        give_codes(&mut errors, "{ a }");
        assert_eq!(code_of(&errors[0]), Some(ErrorCode::InternalServerError));
        assert_eq!(errors[0].message, "internal server error");
    }

    #[test]
    fn an_uncoded_error_at_a_field_is_internal_whatever_its_text() {
        let query = "{ positions(first: 1) { totalCount } }";
        let mut errors = vec![ServerError::new(
            "Failed to parse \"String\": looks like input",
            Some(Pos { line: 1, column: 3 }),
        )];
        give_codes(&mut errors, query);
        assert_eq!(code_of(&errors[0]), Some(ErrorCode::InternalServerError));
    }

    #[test]
    fn coded_errors_are_left_alone() {
        let original = ErrorCode::NotFound.error("nope");
        let mut errors = vec![original.clone()];
        give_codes(&mut errors, "{ a }");
        assert_eq!(errors[0], original);
    }
}
