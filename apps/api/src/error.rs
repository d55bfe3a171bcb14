//! Errors as RFC 9457 problem details (`application/problem+json`), and extractors whose
//! rejections are problems too, so a client never sees a plain-text error.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field of a request that is wrong (a rejected ingest item, a rule's column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// Where: a field name, a JSON pointer, or an item index.
    pub location: String,
    /// What is wrong and what was expected.
    pub reason: String,
}

/// A problem detail (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` when the status says it all).
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's short phrase, e.g. `Bad Request`.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, in words a person can act on.
    pub detail: String,
    /// The column of a rule expression at fault (1-based), for rule errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Field-level problems, when there are several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// The errors any operation may answer, as problem details.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Errors {
    /// A parameter or the body is wrong; `detail` says which and why.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// An API key is needed and none was sent.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The API key is not valid.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Nothing is stored under that name.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The request conflicts with what is stored.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body is larger than the limit.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not JSON.
    #[response(status = 415, content_type = "application/problem+json")]
    MediaType(Problem),
    /// The key's rate limit is reached; see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
    /// A backend is unavailable; see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// An error answered as a problem.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    column: Option<usize>,
    errors: Vec<FieldProblem>,
    retry_after: Option<u64>,
    www_authenticate: bool,
}

impl ApiError {
    /// An error with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            column: None,
            errors: Vec::new(),
            retry_after: None,
            www_authenticate: false,
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 401, with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, detail);
        e.www_authenticate = true;
        e
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, detail);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, detail);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// Adds the rule column at fault.
    pub fn with_column(mut self, column: usize) -> Self {
        self.column = Some(column);
        self
    }

    /// Adds field-level problems.
    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.errors = errors;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The problem body.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            column: self.column,
            errors: self.errors.clone(),
        }
    }
}

impl From<experiment_core::Error> for ApiError {
    fn from(e: experiment_core::Error) -> Self {
        use experiment_core::Error as E;
        match &e {
            E::InvalidInput { .. } => ApiError::bad_request(e.to_string()),
            E::NotFound { .. } => ApiError::not_found(e.to_string()),
            E::Unavailable { .. } | E::Timeout { .. } | E::RateLimited { .. } => {
                let wait = e.retry_after().map_or(5, |d| d.as_secs().clamp(1, 300));
                // The details (server addresses) go to the log, not to callers.
                tracing::warn!(error = %e, "backend unavailable");
                ApiError::unavailable(
                    format!("{} is unavailable; try again shortly", backend_of(&e)),
                    wait,
                )
            }
            _ => {
                tracing::error!(error = %e, "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not read what it stored; it was logged",
                )
            }
        }
    }
}

/// The backend an error is about, in words that name no server.
pub(crate) fn backend_of(e: &experiment_core::Error) -> String {
    match e {
        experiment_core::Error::Unavailable { backend, .. } => format!("the {backend} backend"),
        experiment_core::Error::Timeout { .. } => "a backend (timed out)".into(),
        _ => "a backend".into(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"experiment\""),
            );
        }
        res
    }
}

/// Query parameters; a rejection is a 400 problem naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(format!(
                    "query string: {}",
                    e.body_text()
                        .trim_start_matches("Failed to deserialize query string: ")
                ))
            })
    }
}

/// Path parameters; a rejection is a 400 problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}

/// A JSON body; a rejection is a problem (400 for syntax and types, with the path of the
/// field at fault; 413 for a body over the limit; 415 without a JSON content type).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(j) => Ok(Json(j.0)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    match &e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is larger than the limit (api.body_limit_bytes)",
            )
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request(format!("the body is not valid JSON: {}", source_text(&e)))
        }
        JsonRejection::JsonDataError(_) => ApiError::bad_request(format!(
            "the body does not have the expected fields: {}",
            source_text(&e)
        )),
        _ if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than the limit (api.body_limit_bytes)",
        ),
        _ => ApiError::bad_request(format!("the body could not be read: {}", e.body_text())),
    }
}

/// The innermost cause of a rejection: serde's message with its path and position.
fn source_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// The problem for a response some layer answered without a body (405, 408, 413, ...).
pub fn bare_status_problem(status: StatusCode) -> ApiError {
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "this method is not allowed on this path; see /openapi.json"
        }
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            "the request took longer than the limit (api.request_timeout_secs)"
        }
        StatusCode::PAYLOAD_TOO_LARGE => "the body is larger than the limit (api.body_limit_bytes)",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "this media type is not accepted here",
        StatusCode::NOT_FOUND => "no such route; see /openapi.json",
        _ => "the request could not be served",
    };
    ApiError::new(status, detail)
}
