//! The OpenAI-compatible transcription backend against a local server that speaks the real
//! wire format: `POST /v1/audio/transcriptions`, a multipart form with the WAV file, the model,
//! the language, `response_format` and `temperature`, bearer authentication, JSON answers and
//! OpenAI-style JSON errors.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde_json::json;

use common::listening::speak_at;
use common::*;
use persona::config::PipelineConfig;
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::profile::ProfileReport;
use persona::stt::{AbortSignal, OpenAiSettings, OpenAiTranscriber, SttError, Transcriber};
use persona::transport::{Pacing, WavSource};

const KEY: &str = "sk-test-123";

/// What the server saw of one request.
#[derive(Clone, Debug, Default)]
struct Seen {
    file_name: String,
    content_type: String,
    model: String,
    language: String,
    response_format: String,
    temperature: String,
    sample_rate_hz: u32,
    channels: u16,
    duration_ms: u64,
}

#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answer this long after a request arrives.
    delay: Duration,
    /// Told when a request arrives (for the abort test).
    arrived: Option<tokio::sync::mpsc::UnboundedSender<()>>,
}

fn openai_error(status: StatusCode, message: &str, kind: &str, code: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, Json(body)).into_response()
}

async fn transcriptions(State(server): State<Server>, headers: HeaderMap, mut form: Multipart) -> Response {
    if let Some(arrived) = &server.arrived {
        let _ = arrived.send(());
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}")) {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_request_error",
            "invalid_api_key",
        );
    }
    let mut seen = Seen::default();
    let mut wav = None;
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            seen.file_name = field.file_name().unwrap_or_default().to_string();
            seen.content_type = field.content_type().unwrap_or_default().to_string();
            wav = Some(field.bytes().await.expect("file bytes"));
            continue;
        }
        let value = field.text().await.expect("text field");
        match name.as_str() {
            "model" => seen.model = value,
            "language" => seen.language = value,
            "response_format" => seen.response_format = value,
            "temperature" => seen.temperature = value,
            _ => {}
        }
    }
    let Some(wav) = wav else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "file is required",
            "invalid_request_error",
            "",
        );
    };
    let Ok(reader) = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "Invalid file format.",
            "invalid_request_error",
            "invalid_value",
        );
    };
    let spec = reader.spec();
    seen.sample_rate_hz = spec.sample_rate;
    seen.channels = spec.channels;
    seen.duration_ms = u64::from(reader.duration()) * 1000 / u64::from(spec.sample_rate);
    if seen.model != "whisper-1" {
        return openai_error(
            StatusCode::NOT_FOUND,
            &format!("The model `{}` does not exist.", seen.model),
            "invalid_request_error",
            "model_not_found",
        );
    }
    let text = format!("I heard {} milliseconds.", seen.duration_ms);
    server.seen.lock().unwrap().push(seen);
    tokio::time::sleep(server.delay).await;
    Json(json!({"text": text, "usage": {"type": "duration", "seconds": 1}})).into_response()
}

async fn serve(server: Server) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/audio/transcriptions", post(transcriptions))
        .with_state(server);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn settings(addr: SocketAddr, key: Option<&str>) -> OpenAiSettings {
    OpenAiSettings {
        base_url: format!("http://{addr}/v1"),
        model: "whisper-1".into(),
        language: "en".into(),
        api_key: key.map(str::to_string),
        timeout: Duration::from_secs(10),
    }
}

/// Runs a transcription on a thread of its own, as the STT worker does.
async fn transcribe(
    settings: OpenAiSettings,
    audio: Vec<f32>,
    abort: AbortSignal,
) -> Result<String, SttError> {
    tokio::task::spawn_blocking(move || OpenAiTranscriber::new(settings)?.transcribe(&audio, &abort))
        .await
        .expect("the transcription thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_goes_out_as_a_multipart_wav_and_the_text_comes_back() {
    let server = Server::default();
    let addr = serve(server.clone()).await;
    let audio = speak_at("Can I bring my daughter with me?", "en-us", 170);
    let duration_ms = audio.len() as u64 / 16;
    let text = transcribe(settings(addr, Some(KEY)), audio, AbortSignal::new())
        .await
        .expect("transcribed");
    assert_eq!(text, format!("I heard {duration_ms} milliseconds."));
    let seen = server.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.file_name, "audio.wav");
    assert_eq!((seen.sample_rate_hz, seen.channels), (16_000, 1));
    assert_eq!(seen.model, "whisper-1");
    assert_eq!(seen.language, "en");
    assert_eq!(seen.response_format, "json");
    assert_eq!(seen.temperature.parse::<f32>().unwrap(), 0.0);
    // async-openai sends no content type for the file part; servers go by the `.wav` name.
    assert!(
        seen.content_type.is_empty() || seen.content_type.contains("wav"),
        "{}",
        seen.content_type
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_reported_with_the_server_and_what_to_check() {
    let addr = serve(Server::default()).await;
    let audio = vec![0.1; 8_000];
    let bad_key = transcribe(settings(addr, Some("wrong")), audio.clone(), AbortSignal::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad_key.contains(&addr.to_string())
            && bad_key.contains("Incorrect API key")
            && bad_key.contains("api_key_env"),
        "{bad_key}"
    );
    let mut unknown_model = settings(addr, Some(KEY));
    unknown_model.model = "whisper-9".into();
    let message = transcribe(unknown_model, audio.clone(), AbortSignal::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("whisper-9") && message.contains("`model`"),
        "{message}"
    );

    // Nothing listening there any more.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let message = transcribe(settings(closed, Some(KEY)), audio, AbortSignal::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains(&closed.to_string()), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_times_out_and_an_abandoned_request_stops_at_once() {
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let addr = serve(Server {
        delay: Duration::from_secs(3_600),
        arrived: Some(arrived_tx),
        ..Server::default()
    })
    .await;
    let mut quick = settings(addr, Some(KEY));
    quick.timeout = Duration::from_millis(300);
    let message = transcribe(quick, vec![0.1; 8_000], AbortSignal::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("did not answer within 300 ms") && message.contains("timeout_ms"),
        "{message}"
    );
    arrived.recv().await.expect("the timed-out request arrived");

    let abort = AbortSignal::new();
    let pending = tokio::spawn(transcribe(
        settings(addr, Some(KEY)),
        vec![0.1; 8_000],
        abort.clone(),
    ));
    arrived.recv().await.expect("the request reached the server");
    abort.abort();
    let outcome = pending.await.unwrap();
    assert!(matches!(outcome, Err(SttError::Aborted)), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_can_listen_through_an_openai_compatible_server() {
    let server = Server::default();
    let addr = serve(server.clone()).await;
    // SAFETY: set before the pipeline file is read; no other thread reads this variable.
    unsafe { std::env::set_var("PERSONA_TEST_STT_KEY", KEY) };
    let pipeline = scratch().join("openai-stt.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "openai-stt"
[output]
width = 128
height = 128
[stages.stt]
backend = "openai"
base_url = "http://{addr}/v1"
model = "whisper-1"
api_key_env = "PERSONA_TEST_STT_KEY"
partial_interval_ms = 0
[stages.dialogue]
flow = "{flow}"
"#,
            flow = repo().join("flows/front-desk-demo.toml").display(),
        ),
    )
    .unwrap();
    let config = PipelineConfig::load(&pipeline).expect("valid pipeline");
    let mut audio = vec![0.0; 8_000];
    audio.extend(speak_at("My name is Anna.", "en-us", 170));
    audio.extend(vec![0.0; 24_000]);
    let source = WavSource::from_samples(audio, 16_000);
    let session = Session::start(
        &config,
        SessionInput::Conversation {
            source,
            pacing: Pacing::AsFastAsPossible,
        },
        SessionOutput::Discard,
    )
    .expect("the session starts");
    let metrics = session.wait().await.expect("the session ends cleanly");
    let report = ProfileReport::from_metrics(&metrics, "openai".into(), "synthetic".into(), 0.0);
    assert_eq!(report.turns.len(), 1);
    let transcript = report.turns[0].transcript.clone().expect("transcribed");
    assert!(transcript.starts_with("I heard "), "{transcript}");
    assert_eq!(
        server.seen.lock().unwrap().len(),
        1,
        "one final request, no partials"
    );
}
