//! The chat backend against a local OpenAI-compatible server speaking real SSE: speech starts
//! before the reply is finished, an interruption closes the stream and the next request carries
//! only the words that were heard, tools run, and a failing server gets one retry and then the
//! fallback line.

mod common;

use std::time::Duration;

use common::openai_server::{FakeOpenAi, Reply, Step, gate, text, tool_call};
use common::speaking::{PATIENCE, Rig};
use persona::config::PipelineConfig;
use persona::dialogue::openai::{ChatDialogue, ChatSettings};
use persona::dialogue::stage::StageSettings;
use persona::dialogue::store::{AnswerStore, read_answers};
use persona::dialogue::tools::ToolRunner;
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::profile::ProfileReport;
use persona::transport::{Pacing, WavSource};
use persona::tts::stage::TtsPayload;
use serde_json::{Value, json};

fn chat(server: &FakeOpenAi, timeout_ms: u64) -> Box<ChatDialogue> {
    Box::new(
        ChatDialogue::new(ChatSettings {
            base_url: server.base_url.clone(),
            model: "test-model".into(),
            api_key: Some(persona::config::Secret::new("sk-local")),
            system_prompt: "You are a clinic receptionist. Be brief.".into(),
            persona: Some("Your name is Ava.".into()),
            temperature: Some(0.3),
            max_tokens: Some(200),
            timeout: Duration::from_millis(timeout_ms),
            tools: true,
            handover_line: "A member of staff will be with you shortly.".into(),
        })
        .expect("valid settings"),
    )
}

/// The role and text content of each message of a request body.
fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_string(),
                m["content"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_starts_before_the_stream_ends() {
    let (release, held) = gate();
    let mut server = FakeOpenAi::start(vec![Reply::Sse(vec![
        text("Sure, "),
        text("I can help with that. "),
        held,
        text("The clinic opens at eight."),
        Step::Finish("stop"),
        Step::Done,
    ])])
    .await;
    let mut rig = Rig::speaking(
        chat(&server, 5_000),
        ToolRunner::new(None),
        StageSettings::default(),
    );
    let epoch = rig.say("When do you open?").await;

    // Audio of the first sentence arrives while the server is still holding the rest.
    loop {
        let item = rig.next_speech().await;
        if matches!(item.payload, TtsPayload::Audio(_)) {
            break;
        }
    }
    let request = server.next_request().await;
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.body["stream"], json!(true));
    assert_eq!(request.body["model"], "test-model");
    let tools: Vec<&str> = request.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["record_answer", "end_conversation", "hand_over_to_human"]);
    assert_eq!(
        messages(&request.body),
        [
            (
                "system".to_string(),
                "You are a clinic receptionist. Be brief.\n\nYour name is Ava.".to_string()
            ),
            ("user".to_string(), "When do you open?".to_string()),
        ]
    );

    release.send(()).unwrap();
    let total = rig.speech_until_end(epoch).await;
    assert!(total > 48_000, "both sentences were spoken: {total} samples");

    let turn = rig
        .metrics
        .turns()
        .records()
        .into_iter()
        .find(|t| t.turn == epoch.0)
        .unwrap();
    let first_token = turn.llm_first_token_ms.expect("llm_first_token_ms");
    let first_clause = turn.first_clause_ms.expect("first_clause_ms");
    let first_audio = turn.tts_first_audio_ms.expect("tts_first_audio_ms");
    assert!(
        first_token <= first_clause && first_clause <= first_audio,
        "{turn:?}"
    );
    assert_eq!(
        turn.reply.as_deref(),
        Some("Sure, I can help with that. The clinic opens at eight.")
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interruption_closes_the_stream_and_the_next_request_holds_only_heard_words() {
    let first_sentence = "Our opening hours are eight to six on weekdays.";
    // Never opened: the reply is still streaming when the user interrupts.
    let (_never, held) = gate();
    let mut server = FakeOpenAi::start(vec![Reply::Sse(vec![
        text("Our opening hours are "),
        text("eight to six on weekdays. "),
        text("On Saturdays we open at nine, "),
        held,
        text("and on Sundays we are closed."),
        Step::Done,
    ])])
    .await;
    let mut rig = Rig::speaking(
        chat(&server, 10_000),
        ToolRunner::new(None),
        StageSettings::default(),
    );
    let first = rig.say("When are you open?").await;
    let mut request = server.next_request().await;

    // Wait until TTS has spoken the first sentence, then say the output played up to the end
    // of "are" (as the playout would report it).
    let reply = loop {
        if let Some(reply) = rig.spoken.reply(first)
            && reply.pieces.first().is_some_and(|p| p.end_sample.is_some())
        {
            break reply;
        }
        tokio::time::timeout(PATIENCE, rig.spoken.changed())
            .await
            .expect("TTS speaks the first sentence in time")
            .expect("the TTS stage is running");
    };
    let piece = &reply.pieces[0];
    assert_eq!(piece.text_len, first_sentence.len());
    let words: Vec<&str> = piece
        .words
        .iter()
        .map(|w| &first_sentence[..w.text_end])
        .collect();
    assert!(words.len() >= 8, "word marks: {words:?}");
    let are = piece
        .words
        .iter()
        .position(|w| first_sentence[..w.text_end].ends_with("are"))
        .unwrap();
    let played = piece.words[are].end_sample;
    assert!(played < piece.end_sample.unwrap());
    rig.playing(Some(first), played);

    // The user barges in: the stream is dropped at once.
    let second = rig.interrupter.bump();
    tokio::time::timeout(PATIENCE, &mut request.closed)
        .await
        .expect("the HTTP stream is closed promptly")
        .expect("the server saw the client close the stream");
    rig.playing(None, 0);

    server.then(Reply::Sse(vec![
        text("On Sundays we are closed."),
        Step::Finish("stop"),
        Step::Done,
    ]));
    rig.transcripts
        .send(persona::stt::Transcript {
            epoch: second,
            text: "And on Sundays?".into(),
            is_final: true,
            committed_len: "And on Sundays?".len(),
        })
        .await
        .unwrap();
    let next = server.next_request().await;
    let history = messages(&next.body);
    assert_eq!(
        history[1..],
        [
            ("user".to_string(), "When are you open?".to_string()),
            ("assistant".to_string(), "Our opening hours are".to_string()),
            ("user".to_string(), "And on Sundays?".to_string()),
        ]
    );
    let raw = next.body.to_string();
    for unheard in ["eight to six", "weekdays", "Saturdays"] {
        assert!(
            !raw.contains(unheard),
            "the request carries unheard text `{unheard}`: {raw}"
        );
    }
    rig.speech_until_end(second).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_heard_to_the_end_is_remembered_whole() {
    let mut server = FakeOpenAi::start(vec![
        Reply::Sse(vec![text("We open at eight."), Step::Finish("stop"), Step::Done]),
        Reply::Sse(vec![text("You're welcome."), Step::Finish("stop"), Step::Done]),
    ])
    .await;
    let mut rig = Rig::speaking(
        chat(&server, 5_000),
        ToolRunner::new(None),
        StageSettings::default(),
    );
    let first = rig.say("When do you open?").await;
    let total = rig.speech_until_end(first).await;
    // The output has played all of it when the user speaks again.
    rig.playing(Some(first), total / 2);
    rig.playing(Some(first), total);
    let _ = server.next_request().await;
    rig.say("Thanks!").await;
    let next = server.next_request().await;
    assert_eq!(
        messages(&next.body)[2],
        ("assistant".to_string(), "We open at eight.".to_string())
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_times_out_and_the_fallback_line_is_spoken() {
    let mut server = FakeOpenAi::start(vec![Reply::Hang]).await;
    let settings = StageSettings {
        fallback_line: "Sorry, I'm having trouble right now.".into(),
        ..StageSettings::default()
    };
    let mut rig = Rig::dialogue(chat(&server, 300), ToolRunner::new(None), settings);
    rig.say("Hello?").await;
    let mut request = server.next_request().await;
    assert_eq!(rig.reply().await, "Sorry, I'm having trouble right now.");
    tokio::time::timeout(PATIENCE, &mut request.closed)
        .await
        .expect("the timed-out request is abandoned")
        .unwrap();
    assert_eq!(rig.metrics.counters().get("dialogue_failures"), Some(&1));
    // A timeout is not retried: one request only.
    assert!(server.try_next_request().is_none());
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_error_is_retried_once() {
    let mut server = FakeOpenAi::start(vec![
        Reply::Reset,
        Reply::Sse(vec![text("Hello again."), Step::Finish("stop"), Step::Done]),
        Reply::Reset,
        Reply::Reset,
    ])
    .await;
    let mut rig = Rig::dialogue(
        chat(&server, 2_000),
        ToolRunner::new(None),
        StageSettings::default(),
    );
    rig.say("Hi").await;
    assert_eq!(rig.reply().await, "Hello again.");
    for _ in 0..2 {
        server.next_request().await;
    }
    // Two failures in a row: one retry, then the fallback line.
    rig.say("Hi?").await;
    assert_eq!(rig.reply().await, StageSettings::default().fallback_line);
    for _ in 0..2 {
        server.next_request().await;
    }
    assert!(server.try_next_request().is_none(), "exactly one retry");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_stream_in_fragments_run_and_report_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = AnswerStore::create(dir.path(), "chat").unwrap();
    let answers = store.path().to_path_buf();
    let mut first = tool_call(
        0,
        "call_a",
        "record_answer",
        r#"{"field":"full_name","value":"Ada Lovelace"}"#,
    );
    first.push(Step::Finish("tool_calls"));
    first.push(Step::Done);
    let mut ending = vec![text("Goodbye, Ada.")];
    ending.extend(tool_call(0, "call_b", "end_conversation", r#"{"reason":"done"}"#));
    ending.push(Step::Finish("tool_calls"));
    ending.push(Step::Done);
    let mut server = FakeOpenAi::start(vec![
        Reply::Sse(first),
        Reply::Sse(vec![
            text("Thanks, Ada. "),
            text("How can I help?"),
            Step::Finish("stop"),
            Step::Done,
        ]),
        Reply::Sse(ending),
        Reply::Sse(vec![text("Hello! Welcome."), Step::Finish("stop"), Step::Done]),
    ])
    .await;
    let mut rig = Rig::dialogue(
        chat(&server, 5_000),
        ToolRunner::new(Some(store)),
        StageSettings::default(),
    );

    rig.say("I'm Ada Lovelace.").await;
    // The bare tool call is executed, then the model is asked to go on with its result.
    assert_eq!(rig.reply().await, "Thanks, Ada. How can I help?");
    server.next_request().await;
    let follow_up = server.next_request().await;
    let body = &follow_up.body["messages"];
    let n = body.as_array().unwrap().len();
    assert_eq!(body[n - 2]["role"], "assistant");
    assert_eq!(body[n - 2]["tool_calls"][0]["id"], "call_a");
    assert_eq!(body[n - 2]["tool_calls"][0]["function"]["name"], "record_answer");
    assert_eq!(
        body[n - 2]["tool_calls"][0]["function"]["arguments"],
        r#"{"field":"full_name","value":"Ada Lovelace"}"#
    );
    assert_eq!(body[n - 1]["role"], "tool");
    assert_eq!(body[n - 1]["tool_call_id"], "call_a");
    assert_eq!(body[n - 1]["content"], "recorded full_name");
    let saved = read_answers(&answers).unwrap();
    assert_eq!(saved[0]["field"], "full_name");
    assert_eq!(saved[0]["value"], "Ada Lovelace");

    // end_conversation: no follow-up request, and the next turn starts a fresh conversation.
    rig.say("That's all, bye.").await;
    assert_eq!(rig.reply().await, "Goodbye, Ada.");
    server.next_request().await;
    rig.say("Hello?").await;
    assert_eq!(rig.reply().await, "Hello! Welcome.");
    let fresh = server.next_request().await;
    assert_eq!(
        messages(&fresh.body).len(),
        2,
        "system prompt and the new user turn only"
    );
    assert_eq!(
        rig.metrics.counters().get("dialogue_conversations_ended"),
        Some(&1)
    );
    assert_eq!(read_answers(&answers).unwrap()[1]["event"], "end");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_through_a_chat_server_reports_reply_latencies() {
    common::quiet_ggml();
    let mut server = FakeOpenAi::start(vec![Reply::Sse(vec![
        text("We open at eight. "),
        text("See you then."),
        Step::Finish("stop"),
        Step::Done,
    ])])
    .await;
    let input = common::write_conversation(
        "chat-one-question.wav",
        &[("When do you open tomorrow?", "en-us")],
        0.5,
        2.0,
    );
    let pipeline = common::scratch().join("chat.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "chat-test"
[output]
width = 128
height = 128
[stages.turn]
end_silence_ms = 600
[stages.stt]
model = "{model}"
max_tokens = 8
[stages.dialogue]
backend = "openai"
base_url = "{url}"
model = "test-model"
timeout_ms = 5000
budget_ms = 1000
"#,
            model = common::tiny_whisper().display(),
            url = server.base_url,
        ),
    )
    .unwrap();
    let config = PipelineConfig::load(&pipeline).expect("a valid chat pipeline");
    let source = WavSource::open(&input).unwrap();
    let input_ms = source.duration_ms();
    let session = Session::start(
        &config,
        SessionInput::Conversation {
            source,
            pacing: Pacing::RealTime,
        },
        SessionOutput::Discard,
    )
    .expect("the session starts");
    let metrics = session.wait().await.expect("the session ends cleanly");
    let report = ProfileReport::from_metrics(&metrics, "chat".into(), "one question".into(), input_ms);
    println!("{}", report.render_text());
    let request = server.next_request().await;
    assert_eq!(messages(&request.body).len(), 2);
    assert_eq!(report.turns.len(), 1);
    let turn = &report.turns[0];
    assert_eq!(turn.reply.as_deref(), Some("We open at eight. See you then."));
    for (name, value) in [
        ("llm_first_token_ms", turn.llm_first_token_ms),
        ("first_clause_ms", turn.first_clause_ms),
        ("tts_first_audio_ms", turn.tts_first_audio_ms),
    ] {
        assert!(value.is_some_and(|v| v >= 0.0), "{name}: {turn:?}");
    }
    assert!(turn.first_audio_ms.is_some(), "the reply was played");
    let text = report.render_text();
    assert!(
        text.contains("llm_first_token") && text.contains("tts_first_audio"),
        "{text}"
    );
}

/// A backend whose reply never ends.
struct Runaway;

impl persona::dialogue::Dialogue for Runaway {
    fn uses_model(&self) -> bool {
        true
    }

    fn respond(&mut self, _user_said: &str) -> persona::dialogue::ReplyStream {
        Box::pin(futures_util::stream::iter(std::iter::repeat_with(|| {
            persona::dialogue::ReplyEvent::Text("and then some more, ".into())
        })))
    }

    fn segment_done(
        &mut self,
        _outcome: persona::dialogue::SegmentOutcome,
    ) -> Option<persona::dialogue::ReplyStream> {
        None
    }

    fn heard(&mut self, _heard: persona::dialogue::Heard) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_reply_is_cut_off() {
    let mut rig = Rig::dialogue(Box::new(Runaway), ToolRunner::new(None), StageSettings::default());
    rig.say("Tell me everything.").await;
    let mut total = 0;
    loop {
        let piece = rig.next_piece().await;
        total += piece.text.len();
        assert!(piece.text.len() <= 160, "pieces stay within the chunk cap");
        if piece.is_last {
            break;
        }
    }
    let limit = persona::dialogue::stage::MAX_REPLY_BYTES;
    assert!(total > limit && total < limit + 200, "{total}");
    rig.stop().await;
}
