use super::*;

fn parse_in(dir: &Path, text: &str) -> Result<PipelineConfig, ConfigError> {
    PipelineConfig::parse(&dir.join("test.toml"), text)
}

#[test]
fn an_empty_file_is_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = parse_in(dir.path(), "").unwrap();
    assert_eq!(config.output.sample_rate_hz, 48_000);
    assert_eq!(config.output.fps, 25);
    assert_eq!(config.vad.backend, VadBackend::WebRtc { aggressiveness: 2 });
    assert_eq!(config.stt.backend, None);
    assert_eq!(config.motion.backend, MotionBackend::Model);
    assert_eq!(config.motion.model.model, None);
    assert_eq!(config.motion.model.chunk, Duration::from_millis(200));
    assert_eq!(PipelineConfig::embedded_default().turn, config.turn);
}

#[test]
fn paths_resolve_against_the_pipeline_folder_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::fs::write(dir.path().join("models/w.bin"), b"x").unwrap();
    let config = parse_in(
        dir.path(),
        "[stages.stt]\nmodel = \"models/w.bin\"\nbudget_ms = 250\n",
    )
    .unwrap();
    match config.stt.backend {
        Some(SttBackend::Whisper { model, language, .. }) => {
            assert_eq!(model, dir.path().join("models/w.bin"));
            assert_eq!(language, "en");
        }
        other => panic!("expected whisper, got {other:?}"),
    }
    assert_eq!(config.stt.budget, Some(Duration::from_millis(250)));
}

/// Each bad file must be rejected with a message naming the key and what was expected.
#[test]
fn bad_files_are_rejected_with_the_key_and_the_expectation() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("not toml", "name = ", &["not valid TOML", "line 1"]),
        (
            "wrong type",
            "[stages.vad]\naggressiveness = \"high\"",
            &["stages.vad.aggressiveness", "integer from 0 to 3", "\"high\""],
        ),
        (
            "out of range",
            "[stages.vad]\naggressiveness = 7",
            &["stages.vad.aggressiveness", "7 is out of range"],
        ),
        (
            "unknown backend",
            "[stages.tts]\nbackend = \"festival\"",
            &["stages.tts.backend", "`festival`", "espeak"],
        ),
        (
            "typo key",
            "[stages.turn]\nend_silense_ms = 500",
            &["stages.turn.end_silense_ms", "unknown key", "end_silence_ms"],
        ),
        (
            "unknown stage",
            "[stages.vision]\nbudget_ms = 3",
            &["stages.vision", "unknown stage"],
        ),
        (
            "missing model",
            "[stages.stt]\nmodel = \"nope.bin\"",
            &["stages.stt.model", "nope.bin", "does not exist", "persona models"],
        ),
        (
            "no model key",
            "[stages.stt]\nlanguage = \"en\"",
            &["stages.stt.model", "is required"],
        ),
        (
            "missing flow",
            "[stages.dialogue]\nflow = \"flows/none.toml\"",
            &["stages.dialogue.flow", "does not exist"],
        ),
        (
            "bad budget",
            "[stages.render]\nbudget_ms = -4",
            &["stages.render.budget_ms", "positive number of milliseconds"],
        ),
        (
            "budget string",
            "[stages.render]\nbudget_ms = \"fast\"",
            &["stages.render.budget_ms", "the string \"fast\""],
        ),
        (
            "odd width",
            "[output]\nwidth = 511",
            &["output.width", "must be even"],
        ),
        (
            "bad rate",
            "[output]\nsample_rate_hz = 44100",
            &["output.sample_rate_hz", "16000, 24000 or 48000"],
        ),
        ("fps", "[output]\nfps = 7", &["output.fps", "does not divide"]),
        (
            "unknown edge",
            "[edges]\nmic_to_brain = 3",
            &["edges.mic_to_brain", "unknown edge", "turn_to_stt"],
        ),
        (
            "edge zero",
            "[edges]\nturn_to_stt = 0",
            &["edges.turn_to_stt", "out of range"],
        ),
        (
            "stage not table",
            "[stages]\nvad = 3",
            &["stages.vad", "expected a table"],
        ),
        (
            "unknown motion backend",
            "[stages.motion]\nbackend = \"puppet\"",
            &["stages.motion.backend", "`puppet`", "model", "rules"],
        ),
        (
            "missing motion model",
            "[stages.motion]\nmodel = \"models/gone.onnx\"",
            &[
                "stages.motion.model",
                "gone.onnx",
                "does not exist",
                "scripts/motion/train.py",
            ],
        ),
        (
            "motion device",
            "[stages.motion]\ndevice = \"tpu\"",
            &["stages.motion.device", "`tpu`", "cuda"],
        ),
        (
            "motion chunk",
            "[stages.motion]\nchunk_ms = 10",
            &["stages.motion.chunk_ms", "out of range"],
        ),
        (
            "unknown top key",
            "colour = \"blue\"",
            &["`colour`", "unknown key"],
        ),
        (
            "silero without model",
            "[stages.vad]\nbackend = \"silero\"",
            &["stages.vad.model", "is required", "Silero VAD v5"],
        ),
        (
            "silero threshold",
            "[stages.vad]\nbackend = \"silero\"\nmodel = \"m.bin\"\nthreshold = 1.5",
            &["stages.vad.threshold", "1.5 is out of range"],
        ),
        (
            "webrtc has no threshold",
            "[stages.vad]\nthreshold = 0.4",
            &["stages.vad.threshold", "unknown key"],
        ),
        (
            "unknown turn backend",
            "[stages.turn]\nbackend = \"vibes\"",
            &["stages.turn.backend", "silence, adaptive, smart-turn"],
        ),
        (
            "smart turn model missing",
            "[stages.turn]\nbackend = \"smart-turn\"\nmodel = \"st.onnx\"",
            &[
                "stages.turn.model",
                "st.onnx",
                "does not exist",
                "persona models list",
            ],
        ),
        (
            "waits out of order",
            "[stages.turn]\ncomplete_silence_ms = 900\nend_silence_ms = 700",
            &["stages.turn.end_silence_ms", "shorter than `complete_silence_ms`"],
        ),
        (
            "max wait below the long wait",
            "[stages.turn]\nmax_wait_ms = 1000",
            &["stages.turn.max_wait_ms", "incomplete_silence_ms"],
        ),
        (
            "barge-in typo",
            "[stages.turn.barge_in]\nmin_word = 3",
            &["stages.turn.barge_in.min_word", "unknown key", "min_words"],
        ),
        (
            "backchannels not strings",
            "[stages.turn.barge_in]\nbackchannels = [\"mhm\", 3]",
            &["stages.turn.barge_in.backchannels", "item 1 should be a string"],
        ),
        (
            "barge-in switch",
            "[stages.turn.barge_in]\nenabled = \"yes\"",
            &["stages.turn.barge_in.enabled", "true or false"],
        ),
        (
            "openai without url",
            "[stages.stt]\nbackend = \"openai\"",
            &["stages.stt.base_url", "http(s) URL"],
        ),
        (
            "partial interval",
            "[stages.stt]\nmodel = \"m.bin\"\npartial_interval_ms = -1",
            &["stages.stt.partial_interval_ms", "out of range"],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.bin"), b"x").unwrap();
    for (name, text, needles) in cases {
        let error = match parse_in(dir.path(), text) {
            Ok(_) => panic!("case `{name}` was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains("test.toml"),
            "case `{name}`: the message must name the file: {error}"
        );
        for needle in *needles {
            assert!(
                error.contains(needle),
                "case `{name}`: expected {needle:?} in: {error}"
            );
        }
    }
}

#[test]
fn listening_backends_and_their_keys_are_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vad.onnx"), b"x").unwrap();
    std::fs::write(dir.path().join("turn.onnx"), b"x").unwrap();
    let config = parse_in(
        dir.path(),
        r#"
[stages.vad]
backend = "silero"
model = "vad.onnx"
threshold = 0.6
[stages.turn]
backend = "smart-turn"
model = "turn.onnx"
threshold = 0.7
complete_silence_ms = 300
max_wait_ms = 2500
[stages.turn.barge_in]
min_speech_ms = 500
min_words = 3
backchannels = ["mhm", "sure thing"]
[stages.stt]
backend = "openai"
base_url = "http://localhost:9000/v1"
api_key_env = "PERSONA_NO_SUCH_VARIABLE"
partial_interval_ms = 0
"#,
    )
    .unwrap();
    assert_eq!(
        config.vad.backend,
        VadBackend::Silero {
            model: dir.path().join("vad.onnx"),
            threshold: 0.6
        }
    );
    assert_eq!(
        config.turn.backend,
        TurnBackend::SmartTurn {
            model: dir.path().join("turn.onnx"),
            threshold: 0.7
        }
    );
    assert_eq!(config.turn.complete_silence, Duration::from_millis(300));
    assert_eq!(config.turn.max_wait, Duration::from_millis(2500));
    assert_eq!(config.turn.barge_in.min_speech, Duration::from_millis(500));
    assert_eq!(config.turn.barge_in.min_words, 3);
    assert_eq!(config.turn.barge_in.backchannels, ["mhm", "sure thing"]);
    assert_eq!(config.stt.partial_interval, Duration::ZERO);
    match config.stt.backend {
        Some(SttBackend::OpenAi {
            base_url,
            model,
            api_key,
            ..
        }) => {
            assert_eq!(base_url, "http://localhost:9000/v1");
            assert_eq!(model, "whisper-1");
            assert_eq!(api_key, None, "an unset key variable means no key");
        }
        other => panic!("expected openai, got {other:?}"),
    }
    // The defaults: adaptive turns, barge-in on with the default backchannels, partials on.
    let defaults = PipelineConfig::embedded_default();
    assert_eq!(defaults.turn.backend, TurnBackend::Adaptive);
    assert!(defaults.turn.barge_in.enabled);
    assert!(defaults.turn.barge_in.backchannels.iter().any(|b| b == "mhm"));
    assert_eq!(defaults.stt.partial_interval, Duration::from_millis(500));
    assert!(format!("{:?}", ApiKey("secret".into())).contains('…'));
}

#[test]
fn the_motion_model_backend_takes_a_model_device_threads_and_chunk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.onnx"), b"x").unwrap();
    let config = parse_in(
        dir.path(),
        "[stages.motion]\nbackend = \"model\"\nmodel = \"mine.onnx\"\ndevice = \"cuda\"\nthreads = 2\nchunk_ms = 400\nseed = 3\n",
    )
    .unwrap();
    assert_eq!(config.motion.backend, MotionBackend::Model);
    assert_eq!(config.motion.model.model, Some(dir.path().join("mine.onnx")));
    assert_eq!(config.motion.model.device, crate::onnx::Device::Cuda);
    assert_eq!(config.motion.model.threads, 2);
    assert_eq!(config.motion.model.chunk, Duration::from_millis(400));
    assert_eq!(config.motion.seed, 3);
    let rules = parse_in(dir.path(), "[stages.motion]\nbackend = \"rules\"\n").unwrap();
    assert_eq!(rules.motion.backend, MotionBackend::Rules);
}

#[test]
fn edge_capacities_can_be_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let config = parse_in(dir.path(), "[edges]\nturn_to_stt = 1024\n").unwrap();
    assert_eq!(config.edge_capacities.get("turn_to_stt"), Some(&1024));
}

#[test]
fn a_missing_file_names_itself() {
    let error = PipelineConfig::load(Path::new("/nonexistent/p.toml"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("/nonexistent/p.toml"), "{error}");
}

#[test]
fn serve_limits_and_thread_priority_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config = parse_in(dir.path(), "").unwrap();
    assert_eq!(
        config.serve.priority,
        crate::runtime::priority::PriorityRequest::Realtime
    );
    assert_eq!(config.serve.priority_threads, 0);
    let config = parse_in(
        dir.path(),
        "[serve]\nmax_sessions = 3\npriority = \"normal\"\npriority_threads = 2\nudp_port_min = 40000\nudp_port_max = 40100\n",
    )
    .unwrap();
    assert_eq!(config.serve.max_sessions, 3);
    assert_eq!(
        config.serve.priority,
        crate::runtime::priority::PriorityRequest::Normal
    );
    assert_eq!(config.serve.priority_threads, 2);
    assert_eq!(config.serve.udp_ports, Some((40000, 40100)));
    for (text, key, says) in [
        (
            "[serve]\npriority = \"urgent\"\n",
            "serve.priority",
            "realtime, high, normal",
        ),
        ("[serve]\nudp_port_min = 5000\n", "serve.udp_port_max", "empty"),
        (
            "[serve]\nallowed_origins = [\"shop.example\"]\n",
            "serve.allowed_origins",
            "scheme and host",
        ),
        (
            "[serve]\nice_urls = [\"http://stun.example\"]\n",
            "serve.ice_urls",
            "STUN or TURN",
        ),
    ] {
        let error = parse_in(dir.path(), text).unwrap_err().to_string();
        assert!(error.contains(key) && error.contains(says), "{text:?}: {error}");
    }
}
