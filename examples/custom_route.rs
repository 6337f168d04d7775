//! persona as a library inside your own web server.
//!
//! Two ways in, side by side on one axum app:
//! - the whole web agent (sessions, WebRTC, widget) mounted under `/avatar`, next to your own
//!   routes — embed it with `<script src="http://HOST/avatar/persona.js"></script>` and
//!   `<persona-agent server="http://HOST/avatar"></persona-agent>`;
//! - your own route that runs a pipeline session directly: `POST /api/clip` with a sentence in the
//!   body answers with a WebM of the avatar saying it.
//!
//! Run: `cargo run --example custom_route -- pipelines/web.toml 127.0.0.1:8090`, then open
//! `http://127.0.0.1:8090/avatar/` or `curl -d 'Hello there' http://127.0.0.1:8090/api/clip > hi.webm`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use persona::config::PipelineConfig;
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::serve::{Sessions, router};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let pipeline_path = PathBuf::from(args.next().unwrap_or_else(|| "pipelines/web.toml".into()));
    let addr: SocketAddr = args.next().unwrap_or_else(|| "127.0.0.1:8090".into()).parse()?;
    let pipeline = Arc::new(
        PipelineConfig::load(&pipeline_path)
            .with_context(|| format!("loading {}", pipeline_path.display()))?,
    );

    let app = Router::new()
        .route("/", get(|| async { "my app; the avatar is at /avatar/" }))
        .route("/api/clip", post(clip))
        .with_state(pipeline.clone())
        // The web agent, with its own limits from the pipeline's [serve] section.
        .nest("/avatar", router(Sessions::new(pipeline)));

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{addr}/ (the avatar at http://{addr}/avatar/)");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Renders the avatar saying the request body, as WebM.
async fn clip(State(pipeline): State<Arc<PipelineConfig>>, text: String) -> impl IntoResponse {
    let text = text.trim().to_string();
    if text.is_empty() || text.len() > 500 {
        return Err((
            StatusCode::BAD_REQUEST,
            "send 1 to 500 bytes of text to say".to_string(),
        ));
    }
    let internal = |e: &dyn std::fmt::Display| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    // Removed when `file` drops.
    let file = tempfile::Builder::new()
        .suffix(".webm")
        .tempfile()
        .map_err(|e| internal(&e))?;
    let output = file.path().to_path_buf();
    // Building a session loads models: keep it off the reactor.
    let config = pipeline.clone();
    let session = tokio::task::spawn_blocking(move || {
        Session::start(
            &config,
            SessionInput::Speech { text },
            SessionOutput::Webm(output),
        )
    })
    .await
    .map_err(|e| internal(&e))?
    .map_err(|e| internal(&e))?;
    session.wait().await.map_err(|e| internal(&e))?;
    let bytes = tokio::fs::read(file.path()).await.map_err(|e| internal(&e))?;
    Ok(([(header::CONTENT_TYPE, "video/webm")], bytes))
}
