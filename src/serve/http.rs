//! The web agent's HTTP surface.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/sessions` | a new session: `{id, token, expires_in_s, offer_url, ice_servers}` (201; 429 + `Retry-After` when full) |
//! | `POST /v1/sessions/{id}/offer` | SDP offer in, SDP answer out (`application/sdp`, 201), WHIP-style and non-trickle |
//! | `DELETE /v1/sessions/{id}` | ends the session (204) |
//! | `GET /healthz`, `GET /metrics` | liveness; Prometheus text |
//! | `GET /persona.js`, `GET /` | the widget; the demo page |
//!
//! Every session call needs the session's token (`Authorization: Bearer`, else 401). API calls
//! from a page whose `Origin` is neither this server nor in `[serve] allowed_origins` get 403 (and
//! no CORS headers, so the browser blocks the page from reading anything either). Bodies are
//! capped at `max_body_kib` (413). Every error is JSON `{"error": "..."}` naming the problem and
//! what to do.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, LOCATION, ORIGIN, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::peer::PeerError;
use super::session::{self, StartError};
use super::sessions::{AccessError, CreateError, Sessions};

/// The widget and the demo page, built into the binary (no build step, no files to deploy).
pub const WIDGET_JS: &str = include_str!("../../web/persona.js");
pub const DEMO_HTML: &str = include_str!("../../web/index.html");

/// An API error: status, message, and for 429 when to retry.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after_s: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::Token(token) => ApiError::new(StatusCode::UNAUTHORIZED, token.to_string()),
            AccessError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "no such session (it ended or never existed): start one with POST /v1/sessions",
            ),
            AccessError::AlreadyStarted => ApiError::new(
                StatusCode::CONFLICT,
                "this session already has a connection: start a new session for a new connection",
            ),
        }
    }
}

/// The server's routes over `sessions`.
pub fn router(sessions: Sessions) -> Router {
    let limits = sessions.limits().clone();
    let allowed = limits.allowed_origins.clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, parts| {
            origin_allowed(origin.to_str().unwrap_or(""), host_of(&parts.headers), &allowed)
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        .expose_headers([RETRY_AFTER, LOCATION])
        .max_age(std::time::Duration::from_secs(600));
    let api = Router::new()
        .route("/v1/sessions", post(create_session))
        .route("/v1/sessions/{id}/offer", post(offer))
        .route("/v1/sessions/{id}", axum::routing::delete(end_session))
        .route_layer(middleware::from_fn_with_state(sessions.clone(), check_origin));
    Router::new()
        .route("/", get(demo_page))
        .route("/persona.js", get(widget))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .merge(api)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(cors)
        .with_state(sessions)
}

/// Whether a page at `origin` may call the API: this server's own pages always may.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let same_origin =
        host.is_some_and(|host| origin == format!("http://{host}") || origin == format!("https://{host}"));
    same_origin
        || allowed
            .iter()
            .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

fn host_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(HOST).and_then(|h| h.to_str().ok())
}

async fn check_origin(State(sessions): State<Sessions>, request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(
            origin,
            host_of(request.headers()),
            &sessions.limits().allowed_origins,
        ) {
            sessions.totals().rejected_origin.fetch_add(1, Ordering::Relaxed);
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "pages from {origin} may not use this agent: add the origin to [serve] allowed_origins in the pipeline file"
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn demo_page() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], DEMO_HTML)
}

async fn widget() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        WIDGET_JS,
    )
}

async fn metrics(State(sessions): State<Sessions>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        super::prometheus::render(&sessions),
    )
}

async fn create_session(State(sessions): State<Sessions>) -> Result<Response, ApiError> {
    let created = sessions
        .create()
        .map_err(|CreateError::Full { retry_after_s }| ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "all {} session slots are in use: try again in {retry_after_s} s",
                sessions.limits().max_sessions
            ),
            retry_after_s: Some(retry_after_s),
        })?;
    tracing::info!(session = %created.id, active = sessions.active(), "session created");
    let limits = sessions.limits();
    let body = json!({
        "id": created.id,
        "token": created.token,
        "expires_in_s": limits.token_ttl.as_secs(),
        "offer_url": format!("/v1/sessions/{}/offer", created.id),
        "ice_servers": session::ice_servers(limits),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
}

async fn offer(
    State(sessions): State<Sessions>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    sessions.authorize(&id, bearer(&headers))?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !content_type.is_empty() && !content_type.starts_with("application/sdp") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the offer was sent as {content_type:?}: send the SDP as Content-Type: application/sdp"),
        ));
    }
    if body.trim().is_empty() {
        return Err(bad_offer(
            &sessions,
            "the request body is empty: send the browser's SDP offer",
        ));
    }
    let slot = sessions.begin_start(&id)?;
    let pipeline = sessions.pipeline().clone();
    let settings = session::peer_settings(&pipeline.serve);
    match session::start(slot, pipeline, settings, &body).await {
        Ok(answer) => Ok((
            StatusCode::CREATED,
            [
                (CONTENT_TYPE, "application/sdp".to_string()),
                (LOCATION, format!("/v1/sessions/{id}")),
            ],
            answer,
        )
            .into_response()),
        Err(StartError::Peer(PeerError::BadOffer(message))) => Err(bad_offer(&sessions, &message)),
        Err(error) => {
            tracing::error!(session = %id, %error, "a session failed to start");
            sessions.totals().failed.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                error.to_string(),
            ))
        }
    }
}

fn bad_offer(sessions: &Sessions, message: &str) -> ApiError {
    sessions.totals().bad_offers.fetch_add(1, Ordering::Relaxed);
    ApiError::new(StatusCode::BAD_REQUEST, format!("bad SDP offer: {message}"))
}

async fn end_session(
    State(sessions): State<Sessions>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    match sessions.authorize(&id, bearer(&headers)) {
        // Ending an ended session is not an error: the widget's clean-up may race the server's.
        Err(AccessError::NotFound) => return Ok(StatusCode::NO_CONTENT),
        other => other?,
    }
    sessions.end(&id);
    tracing::info!(session = %id, "session ended by the client");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::token::TokenError;

    #[test]
    fn same_origin_and_listed_origins_are_allowed() {
        let allowed = vec!["https://shop.example".to_string()];
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &allowed
        ));
        assert!(origin_allowed(
            "https://shop.example",
            Some("agent.example"),
            &allowed
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("agent.example"),
            &allowed
        ));
        assert!(!origin_allowed(
            "https://shop.example.evil",
            Some("agent.example"),
            &allowed
        ));
        assert!(origin_allowed("https://any.example", None, &["*".to_string()]));
    }

    #[test]
    fn token_errors_become_401_with_a_message() {
        let error = ApiError::from(AccessError::Token(TokenError::Expired));
        assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        assert!(error.message.contains("expired"));
    }
}
