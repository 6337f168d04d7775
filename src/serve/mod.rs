//! `persona serve`: the web agent. Browsers start sessions over HTTP, connect over WebRTC, and talk
//! to the avatar; the one-tag widget (`/persona.js`) does that for a website.
//!
//! - [`http`]: the routes (`/v1/sessions`, `/healthz`, `/metrics`, the widget and demo page), the
//!   origin check, body limits and JSON errors.
//! - [`sessions`]: the registry of live sessions and its limits (how many, how long), and the
//!   totals `/metrics` reports.
//! - [`session`]: one visitor: a pipeline [`crate::pipeline::Session`] fed by the peer's audio and
//!   typed text, its encoded output and events sent back, and the clean-up when anything ends it.
//! - [`peer`]: the WebRTC peer (answering a browser's offer); [`client`]: the browser's role in
//!   Rust, for tests and load benchmarks.
//! - [`token`]: signed, short-lived session tokens. [`prometheus`]: the metrics text.

pub mod client;
pub mod http;
pub mod peer;
pub mod prometheus;
pub mod session;
pub mod sessions;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;

use crate::config::PipelineConfig;

pub use http::router;
pub use sessions::Sessions;

/// The server could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error("could not listen on {addr}: {reason} (is another server using the port? pick one with --addr)")]
    Bind {
        addr: SocketAddr,
        reason: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves `pipeline` on `addr` until `stop` resolves; live sessions are ended on the way out.
pub async fn serve(
    pipeline: PipelineConfig,
    addr: SocketAddr,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|reason| ServeError::Bind { addr, reason })?;
    let local = listener.local_addr()?;
    let sessions = Sessions::new(Arc::new(pipeline));
    tracing::info!(
        url = %format!("http://{local}/"),
        max_sessions = sessions.limits().max_sessions,
        "persona serve is listening; the demo page is at the URL"
    );
    let app = router(sessions.clone());
    let result = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stop)
        .await;
    sessions.end_all().await;
    result.map_err(ServeError::Io)
}
