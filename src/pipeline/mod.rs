//! Sessions: a pipeline file plus an input and an output, assembled into running stages.
//!
//! [`Session::start`] first builds every backend the session needs — loading models, checking
//! voices, creating the output file — so anything wrong is reported before a single stage runs.
//! Then it creates the edges (all declared in [`edges`]) and spawns the stages. Three shapes:
//!
//! - a conversation (`persona profile`): WAV → capture → resample → vad → turn → stt →
//!   dialogue → tts → motion → playout → render → sink, in real time;
//! - a live conversation (`persona serve`): the same chain fed by a network peer's microphone and
//!   typed text, its output encoded for the peer, and [`events`] telling the peer's page what
//!   happens;
//! - speech (`persona say`): text → tts → motion → playout → render → sink, offline;
//! - animation (`persona render`): audio → motion → playout → render → sink, offline.

pub mod edges;
pub mod events;

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::audio::{AudioError, AudioFrame, Conformer, resample_all};
use crate::config::{
    DialogueBackend, MotionBackend, PipelineConfig, RenderBackend, SttBackend, TtsBackend, TurnBackend,
    VadBackend,
};
use crate::dialogue::openai::ChatDialogue;
use crate::dialogue::stage::{Hearing, StageSettings};
use crate::dialogue::store::AnswerStore;
use crate::dialogue::tools::ToolRunner;
use crate::dialogue::{Dialogue, DialogueError, Flow, ReplyText, ScriptedDialogue};
use crate::encode::{Container, EncodeError, FileConfig, MediaFile};
use crate::motion::FrameClock;
use crate::motion::model::MotionWorker;
use crate::motion::stage::MotionEngine;
use crate::playout::{Playout, PlayoutMode, PlayoutSettings, StatusWatch, status_channel};
use crate::render::{RenderError, Renderer};
use crate::runtime::{
    EdgeSpec, Epoch, EpochWatch, Interrupter, Metrics, Placement, Receiver, Sender, SessionClock, Shutdown,
    StageCtx, StageError, StageHandle, Unstamped, edge, epoch_channel, spawn_stage,
};
use crate::stt::{
    OpenAiSettings, OpenAiTranscriber, SttError, SttSettings, Transcriber, WhisperSettings,
    WhisperTranscriber,
};
use crate::transport::live::{LIVE_RATE_HZ, LiveCapture, LiveEncoder, LiveOutput};
use crate::transport::sink::SinkTarget;
use crate::transport::{Pacing, WavSource};
use crate::tts::espeak::{EspeakSynth, VoiceSettings};
use crate::tts::openai::{OpenAiSpeech, OpenAiSpeechSettings};
use crate::tts::piper::{PiperSettings, PiperVoice};
use crate::tts::stage::{TtsItem, TtsPayload};
use crate::tts::{SpeechSynth, TtsError, spoken_channel};
use crate::turn::{Endpointer, SmartTurn, TurnModel, TurnStage};
use crate::vad::{SileroVad, VoiceDetector, WebRtcVad};

/// A session could not be built.
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("{origin} has no [stages.{stage}] section, but {purpose} needs it: {hint}")]
    MissingStage {
        origin: String,
        stage: &'static str,
        purpose: &'static str,
        hint: &'static str,
    },
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Stt(#[from] SttError),
    #[error(transparent)]
    Dialogue(#[from] DialogueError),
    #[error(transparent)]
    Tts(#[from] TtsError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Onnx(#[from] crate::onnx::OnnxError),
    #[error(transparent)]
    Motion(#[from] crate::motion::model::ModelError),
    #[error("could not start the session: {0}")]
    Start(String),
}

/// What the session consumes.
pub enum SessionInput {
    /// A recorded conversation, played in like a microphone.
    Conversation { source: WavSource, pacing: Pacing },
    /// Text for the avatar to say.
    Speech { text: String },
    /// Audio for the avatar to lip-sync.
    Animation { source: WavSource },
    /// A visitor on the network: their microphone and what they type.
    Live(LiveInput),
}

/// A live session's input.
pub struct LiveInput {
    /// The microphone as received (48 kHz), played in on the session clock.
    pub capture: LiveCapture,
    /// Typed user turns (a small bounded queue: the sender gets "full" rather than memory growing).
    pub typed: tokio::sync::mpsc::Receiver<String>,
}

/// Where the session's audio and video go.
pub enum SessionOutput {
    Webm(PathBuf),
    /// H.264 + Opus in MP4.
    Mp4(PathBuf),
    /// Encoded packets for a network peer (requires the 48 kHz output rate).
    Live(LiveOutput),
    Discard,
}

/// A running session.
pub struct Session {
    pub metrics: Arc<Metrics>,
    /// What the output is playing (latest value).
    pub playout_status: StatusWatch,
    /// Transcripts, captions, state and latency as they happen (see [`events`]).
    pub events: events::EventBus,
    shutdown: Shutdown,
    handles: Vec<StageHandle>,
    /// Kept so epochs never close while the session runs (say/render never interrupt).
    _interrupter: Option<Interrupter>,
}

/// How a session ended.
#[derive(Debug, Error)]
#[error("the session failed: {first}{}", if self.others.is_empty() { String::new() } else { format!(" (and {} more stage errors)", self.others.len()) })]
pub struct SessionError {
    pub first: StageError,
    pub others: Vec<StageError>,
}

struct Builder<'a> {
    config: &'a PipelineConfig,
    metrics: Arc<Metrics>,
    epochs: EpochWatch,
    shutdown: Shutdown,
    handles: Vec<StageHandle>,
}

impl Builder<'_> {
    fn ctx(&self, name: &'static str, budget: Option<std::time::Duration>) -> StageCtx {
        StageCtx::new(
            name,
            self.metrics.clone(),
            budget,
            self.epochs.clone(),
            self.shutdown.watch(),
        )
    }

    fn edge<T>(&self, spec: EdgeSpec) -> (Sender<T>, Receiver<T>) {
        let (tx, rx) = edge(edges::sized(spec, self.config));
        self.metrics.register_edge(tx.stats());
        (tx, rx)
    }

    fn spawn<F>(&mut self, name: &'static str, placement: Placement, stage: F)
    where
        F: Future<Output = Result<(), StageError>> + Send + 'static,
    {
        self.handles.push(spawn_stage(name, placement, stage));
    }
}

/// Backends of the speaking half, built before anything starts.
struct OutputBackends {
    synth: Option<Box<dyn SpeechSynth>>,
    renderer: Box<dyn Renderer>,
    sink: SinkTarget,
}

fn build_output(
    config: &PipelineConfig,
    output: SessionOutput,
    needs_tts: bool,
) -> Result<OutputBackends, PipelineError> {
    let synth = if needs_tts {
        Some(build_synth(config)?)
    } else {
        None
    };
    let avatar = crate::render::load_avatar(config.render.avatar.as_deref()).map_err(RenderError::from)?;
    let backend = match config.render.backend {
        RenderBackend::Cpu { threads } => crate::render::Backend::Cpu { threads },
        RenderBackend::Gpu => crate::render::Backend::Gpu,
    };
    let renderer = crate::render::build(backend, avatar, config.output.width, config.output.height)?;
    let sink = match output {
        SessionOutput::Discard => SinkTarget::Discard,
        SessionOutput::Webm(path) => file_sink(config, path, Container::Webm)?,
        SessionOutput::Mp4(path) => file_sink(config, path, Container::Mp4)?,
        SessionOutput::Live(output) => {
            if config.output.sample_rate_hz != LIVE_RATE_HZ {
                return Err(PipelineError::Start(format!(
                    "{} sets [output] sample_rate_hz = {}, but a live session sends Opus over RTP at \
                     48000 Hz: set sample_rate_hz = 48000",
                    config.origin(),
                    config.output.sample_rate_hz
                )));
            }
            let encoder = LiveEncoder::new(
                output,
                config.output.width,
                config.output.height,
                config.output.fps,
            )?;
            SinkTarget::Live(Box::new(encoder))
        }
    };
    Ok(OutputBackends {
        synth,
        renderer,
        sink,
    })
}

/// The TTS backend the pipeline file chooses.
fn build_synth(config: &PipelineConfig) -> Result<Box<dyn SpeechSynth>, PipelineError> {
    Ok(match &config.tts.backend {
        TtsBackend::Espeak {
            voice,
            rate_wpm,
            pitch,
        } => Box::new(EspeakSynth::new(VoiceSettings {
            voice: voice.clone(),
            rate_wpm: *rate_wpm,
            pitch: *pitch,
        })?),
        TtsBackend::Piper {
            model,
            config: voice_config,
            speaker,
            length_scale,
            noise_scale,
            noise_w,
        } => Box::new(PiperVoice::load(
            model,
            Some(voice_config),
            &PiperSettings {
                speaker: speaker.clone(),
                length_scale: *length_scale,
                noise_scale: *noise_scale,
                noise_w: *noise_w,
            },
        )?),
        TtsBackend::OpenAi(speech) => Box::new(OpenAiSpeech::new(OpenAiSpeechSettings {
            base_url: speech.base_url.clone(),
            model: speech.model.clone(),
            voice: speech.voice.clone(),
            api_key: speech.api_key.clone(),
            speed: speech.speed,
            instructions: speech.instructions.clone(),
            timeout: speech.timeout,
            timing_language: speech.language.clone(),
        })?),
    })
}

/// The motion backend for a session: a speech service's phoneme timing arrives after its audio,
/// so the face follows the audio itself.
fn speech_motion_backend(config: &PipelineConfig) -> MotionBackend {
    if matches!(config.tts.backend, TtsBackend::OpenAi(_)) && config.motion.backend == MotionBackend::Rules {
        tracing::info!(
            "a speech service reports no timing in time for the rules: using the `energy` motion backend"
        );
        MotionBackend::Energy
    } else {
        config.motion.backend
    }
}

/// Creates the output file (before anything runs, so a bad path fails the build).
fn file_sink(
    config: &PipelineConfig,
    path: PathBuf,
    container: Container,
) -> Result<SinkTarget, PipelineError> {
    let writer = MediaFile::create(
        &path,
        container,
        FileConfig {
            width: config.output.width,
            height: config.output.height,
            fps: config.output.fps,
            sample_rate_hz: config.output.sample_rate_hz,
            video_bitrate_kbps: 1_200,
        },
    )?;
    Ok(SinkTarget::File {
        path,
        writer: Box::new(writer),
    })
}

impl Session {
    /// Builds every backend, then starts the stages. Must be called inside a tokio runtime.
    pub fn start(
        config: &PipelineConfig,
        input: SessionInput,
        output: SessionOutput,
    ) -> Result<Session, PipelineError> {
        let (mode, motion_backend) = match &input {
            SessionInput::Conversation { .. } | SessionInput::Live(_) => {
                (PlayoutMode::RealTime, speech_motion_backend(config))
            }
            SessionInput::Speech { .. } => (PlayoutMode::Offline, speech_motion_backend(config)),
            SessionInput::Animation { .. } => {
                let backend = match config.motion.backend {
                    MotionBackend::Rules => {
                        tracing::info!("audio without phoneme timings: using the `energy` motion backend");
                        MotionBackend::Energy
                    }
                    other => other,
                };
                (PlayoutMode::Offline, backend)
            }
        };
        let motion_engine = build_motion(config, motion_backend)?;
        // Everything that can fail is built first; the session clock starts after, so report
        // times count from the moment the input starts playing.
        let needs_tts = !matches!(input, SessionInput::Animation { .. });
        let backends = build_output(config, output, needs_tts)?;
        let input = match input {
            SessionInput::Conversation { source, pacing } => {
                let listening = build_listening(config, SttNeed::Required)?;
                let conformer = Conformer::new(source.audio.sample_rate_hz)?;
                BuiltInput::Conversation {
                    capture: Capture::Wav { source, pacing },
                    listening,
                    conformer,
                    typed: None,
                }
            }
            SessionInput::Live(live) => BuiltInput::Conversation {
                capture: Capture::Live(live.capture),
                listening: build_listening(config, SttNeed::Optional)?,
                conformer: Conformer::new(LIVE_RATE_HZ)?,
                typed: Some(live.typed),
            },
            SessionInput::Speech { text } => BuiltInput::Speech { text },
            SessionInput::Animation { source } => BuiltInput::Animation {
                samples: resample_all(
                    &source.audio.samples,
                    source.audio.sample_rate_hz,
                    config.output.sample_rate_hz,
                )?,
            },
        };

        let (interrupter, epochs) = epoch_channel();
        // What the output plays, for stages that react to it (barge-in, heard history).
        let (status_publisher, playout_status) = status_channel();
        let mut builder = Builder {
            config,
            metrics: Metrics::new(SessionClock::starting_now()),
            epochs,
            shutdown: Shutdown::new(),
            handles: Vec::new(),
        };
        let frame_clock = FrameClock::new(config.output.sample_rate_hz, config.output.fps);
        let events = events::EventBus::default();
        let mut interrupter = Some(interrupter);

        // The speaking half's input: TTS items from the text or audio source, or from dialogue.
        let (tts_tx, tts_rx) = builder.edge::<TtsItem>(edges::TTS_TO_MOTION);
        // Which reply words became audio: TTS publishes, the dialogue reads (heard history).
        let (spoken_publisher, spoken_watch) = spoken_channel();
        let mut tts_tx = Some(tts_tx);
        let text_rx = match input {
            BuiltInput::Conversation {
                capture,
                listening: listen,
                conformer,
                typed: typed_rx,
            } => {
                let capture_spec = match capture {
                    Capture::Wav {
                        pacing: Pacing::AsFastAsPossible,
                        ..
                    } => edges::CAPTURE_TO_RESAMPLE_FILE,
                    _ => edges::CAPTURE_TO_RESAMPLE_LIVE,
                };
                let (capture_tx, capture_rx) = builder.edge(capture_spec);
                let (resample_tx, resample_rx) = builder.edge(edges::RESAMPLE_TO_VAD);
                let (vad_tx, vad_rx) = builder.edge(edges::VAD_TO_TURN);
                let (turn_tx, turn_rx) = builder.edge(edges::TURN_TO_STT);
                let (heard_tx, heard_rx) = builder.edge(edges::STT_TO_TURN);
                let (stt_tx, stt_rx) = builder.edge(edges::STT_TO_DIALOGUE);
                let (dialogue_tx, dialogue_rx) = builder.edge(edges::DIALOGUE_TO_TTS);

                let ctx = builder.ctx("capture", config.capture.budget);
                match capture {
                    Capture::Wav { source, pacing } => builder.spawn(
                        "capture",
                        Placement::Task,
                        crate::transport::wav_source::run_stage(ctx, source, pacing, capture_tx),
                    ),
                    Capture::Live(live) => builder.spawn(
                        "capture",
                        Placement::Task,
                        crate::transport::live::run_capture_stage(ctx, live, capture_tx),
                    ),
                }
                let ctx = builder.ctx("resample", config.resample.budget);
                builder.spawn(
                    "resample",
                    Placement::Task,
                    crate::audio::conform::run_stage(ctx, conformer, capture_rx, resample_tx),
                );
                let ctx = builder.ctx("vad", config.vad.budget);
                builder.spawn(
                    "vad",
                    listen.vad_placement,
                    crate::vad::run_stage(ctx, listen.vad, listen.vad_threshold, resample_rx, vad_tx),
                );
                let ctx = builder.ctx("turn", config.turn.budget);
                let turn_interrupter = interrupter.take().expect("the conversation owns the interrupter");
                // A turn model computes for milliseconds: then the stage gets its own thread.
                let turn_placement = if listen.turn_model.is_some() {
                    Placement::Thread
                } else {
                    Placement::Task
                };
                builder.spawn(
                    "turn",
                    turn_placement,
                    crate::turn::run_stage(
                        ctx,
                        TurnStage {
                            endpointer: Endpointer::new(&config.turn),
                            interrupter: turn_interrupter,
                            status: Some(playout_status.clone()),
                            model: listen.turn_model,
                            typed: typed_rx,
                        },
                        vad_rx,
                        Some(heard_rx),
                        turn_tx,
                    ),
                );
                let ctx = builder.ctx("stt", config.stt.budget);
                builder.spawn(
                    "stt",
                    Placement::Task,
                    crate::stt::stage::run_stage(
                        ctx,
                        listen.transcriber,
                        listen.stt_settings,
                        turn_rx,
                        stt_tx,
                        Some(heard_tx),
                        events.clone(),
                    ),
                );
                let ctx = builder.ctx("dialogue", config.dialogue.budget);
                let hearing = Hearing {
                    playout: playout_status.clone(),
                    spoken: spoken_watch,
                    events: events.clone(),
                };
                // A thread of its own: saving an answer syncs a file.
                builder.spawn(
                    "dialogue",
                    Placement::Thread,
                    crate::dialogue::run_stage(
                        ctx,
                        listen.dialogue,
                        listen.tools,
                        listen.dialogue_settings,
                        hearing,
                        stt_rx,
                        dialogue_tx,
                    ),
                );
                Some(dialogue_rx)
            }
            BuiltInput::Speech { text } => {
                let (text_tx, text_rx) = builder.edge(edges::DIALOGUE_TO_TTS);
                let ctx = builder.ctx("text", None);
                builder.spawn("text", Placement::Task, text_source(ctx, text, text_tx));
                Some(text_rx)
            }
            BuiltInput::Animation { samples } => {
                let ctx = builder.ctx("audio", None);
                let audio_tx = tts_tx.take().expect("not handed out yet");
                builder.spawn(
                    "audio",
                    Placement::Task,
                    audio_source(ctx, samples, config.output.sample_rate_hz, audio_tx),
                );
                None
            }
        };
        // Text to speak (from the dialogue or `persona say`) goes through TTS; animation audio
        // went straight to motion above.
        if let Some(text_rx) = text_rx {
            let ctx = builder.ctx("tts", config.tts.budget);
            let synth = backends.synth.expect("built whenever there is text to speak");
            let tts_tx = tts_tx.take().expect("not handed out yet");
            builder.spawn(
                "tts",
                Placement::Thread,
                crate::tts::stage::run_stage(
                    ctx,
                    synth,
                    config.output.sample_rate_hz,
                    spoken_publisher,
                    text_rx,
                    tts_tx,
                    events.clone(),
                ),
            );
        }

        let (motion_tx, motion_rx) = builder.edge(edges::MOTION_TO_PLAYOUT);
        let (playout_tx, playout_rx) = builder.edge(edges::PLAYOUT_TO_RENDER);
        let (render_tx, render_rx) = builder.edge(edges::RENDER_TO_SINK);
        let ctx = builder.ctx("motion", config.motion.budget);
        builder.spawn(
            "motion",
            Placement::Task,
            crate::motion::stage::run_stage(ctx, motion_engine, frame_clock, tts_rx, motion_tx),
        );
        let settings = PlayoutSettings {
            sample_rate_hz: config.output.sample_rate_hz,
            fps: config.output.fps,
            mode,
            // 100 ms: the most a pose may lag its audio before speech starts without it.
            start_wait_samples: config.output.sample_rate_hz as u64 / 10,
            idle_seed: config.motion.seed,
        };
        // Idle output (silence, idle frames) belongs to no turn.
        let ctx = builder
            .ctx("playout", config.playout.budget)
            .with_unstamped(Unstamped::NoTurn);
        builder.spawn(
            "playout",
            Placement::Task,
            crate::playout::run_stage(
                ctx,
                Playout::new(settings),
                settings,
                status_publisher,
                motion_rx,
                playout_tx,
            ),
        );
        let ctx = builder
            .ctx("render", config.render.budget)
            .with_unstamped(Unstamped::NoTurn);
        builder.spawn(
            "render",
            Placement::Thread,
            crate::render::stage::run_stage(ctx, backends.renderer, config.output.fps, playout_rx, render_tx),
        );
        let ctx = builder
            .ctx("sink", config.sink.budget)
            .with_unstamped(Unstamped::NoTurn);
        builder.spawn(
            "sink",
            Placement::Thread,
            crate::transport::sink::run_stage(
                ctx,
                backends.sink,
                config.output.sample_rate_hz,
                render_rx,
                events.clone(),
            ),
        );

        Ok(Session {
            playout_status,
            events,
            metrics: builder.metrics,
            shutdown: builder.shutdown,
            handles: builder.handles,
            _interrupter: interrupter,
        })
    }

    /// The trigger that stops the session (Ctrl-C).
    pub fn shutdown_trigger(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Waits for every stage. A failing stage stops the others; the first error is returned.
    pub async fn wait(self) -> Result<Arc<Metrics>, SessionError> {
        let mut errors = Vec::new();
        let (done_tx, mut done) = tokio::sync::mpsc::channel(self.handles.len().max(1));
        for handle in self.handles {
            let done_tx = done_tx.clone();
            tokio::spawn(async move {
                let _ = done_tx.send(handle.join().await).await;
            });
        }
        drop(done_tx);
        while let Some(result) = done.recv().await {
            if let Err(error) = result {
                // One failure ends the session: stop everything else now.
                self.shutdown.trigger();
                errors.push(error);
            }
        }
        if errors.is_empty() {
            Ok(self.metrics)
        } else {
            let first = errors.remove(0);
            Err(SessionError {
                first,
                others: errors,
            })
        }
    }
}

/// Where a conversation's audio comes from.
enum Capture {
    Wav { source: WavSource, pacing: Pacing },
    Live(LiveCapture),
}

/// Whether a conversation needs speech recognition: a live session without it still answers
/// typed text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SttNeed {
    Required,
    Optional,
}

/// A session input with its backends built.
enum BuiltInput {
    Conversation {
        capture: Capture,
        listening: Listening,
        conformer: Conformer,
        typed: Option<tokio::sync::mpsc::Receiver<String>>,
    },
    Speech {
        text: String,
    },
    Animation {
        samples: Vec<f32>,
    },
}

/// The motion backend: for the model, its shared worker (loading and checking the model now, so
/// a missing or broken file fails the session before it starts).
fn build_motion(config: &PipelineConfig, backend: MotionBackend) -> Result<MotionEngine, PipelineError> {
    Ok(match backend {
        MotionBackend::Rules => MotionEngine::Rules,
        MotionBackend::Energy => MotionEngine::Energy,
        MotionBackend::Model => {
            let settings = &config.motion.model;
            let path = match &settings.model {
                Some(path) => path.clone(),
                None => crate::motion::model::shipped_model()?,
            };
            let worker = MotionWorker::shared(
                &path,
                crate::onnx::SessionOptions {
                    intra_threads: settings.threads,
                    device: settings.device,
                },
            )?;
            let frame_ns = 1_000_000_000 / u128::from(worker.meta().fps);
            let chunk_frames = (settings.chunk.as_nanos() + frame_ns / 2) / frame_ns;
            MotionEngine::Model {
                worker,
                seed: config.motion.seed,
                chunk_frames: (chunk_frames as usize).max(1),
            }
        }
    })
}

/// Backends of the listening half (and the dialogue that answers it).
struct Listening {
    vad: Box<dyn VoiceDetector>,
    vad_threshold: f32,
    /// Where the VAD runs: a model-based VAD computes for too long to share the reactor.
    vad_placement: Placement,
    turn_model: Option<Box<dyn TurnModel>>,
    transcriber: Option<Box<dyn Transcriber>>,
    stt_settings: SttSettings,
    dialogue: Box<dyn Dialogue>,
    tools: ToolRunner,
    dialogue_settings: StageSettings,
}

fn build_listening(config: &PipelineConfig, stt_need: SttNeed) -> Result<Listening, PipelineError> {
    let (vad, vad_threshold, vad_placement): (Box<dyn VoiceDetector>, f32, Placement) =
        match &config.vad.backend {
            VadBackend::WebRtc { aggressiveness } => (
                Box::new(WebRtcVad::new(*aggressiveness)),
                crate::vad::SPEECH_THRESHOLD,
                Placement::Task,
            ),
            VadBackend::Silero { model, threshold } => {
                (Box::new(SileroVad::load(model)?), *threshold, Placement::Thread)
            }
        };
    let turn_model: Option<Box<dyn TurnModel>> = match &config.turn.backend {
        TurnBackend::SmartTurn { model, .. } => Some(Box::new(SmartTurn::load(model)?)),
        TurnBackend::Silence | TurnBackend::Adaptive => None,
    };
    if config.stt.backend.is_none() && stt_need == SttNeed::Required {
        return Err(PipelineError::MissingStage {
            origin: config.origin(),
            stage: "stt",
            purpose: "a conversation",
            hint: "add a [stages.stt] section with a whisper `model` (see pipelines/offline.toml)",
        });
    }
    let (dialogue, answers_label): (Box<dyn Dialogue>, String) = match &config.dialogue.backend {
        Some(DialogueBackend::Scripted { flow }) => {
            let flow = Flow::load(flow)?;
            let label = flow.name.clone();
            (Box::new(ScriptedDialogue::new(flow)), label)
        }
        Some(DialogueBackend::OpenAi(chat)) => {
            (Box::new(ChatDialogue::new(chat.clone())?), "chat".to_string())
        }
        None => {
            return Err(PipelineError::MissingStage {
                origin: config.origin(),
                stage: "dialogue",
                purpose: "a conversation",
                hint: "add a [stages.dialogue] section with a scripted `flow` or `backend = \"openai\"` (see pipelines/offline.toml)",
            });
        }
    };
    let transcriber: Option<Box<dyn Transcriber>> = match &config.stt.backend {
        None => None,
        Some(SttBackend::Whisper {
            model,
            language,
            threads,
            max_tokens,
        }) => Some(Box::new(WhisperTranscriber::load(
            model,
            WhisperSettings {
                language: language.clone(),
                threads: *threads,
                max_tokens: *max_tokens,
            },
        )?)),
        Some(SttBackend::OpenAi {
            base_url,
            model,
            language,
            api_key,
            timeout,
        }) => Some(Box::new(OpenAiTranscriber::new(OpenAiSettings {
            base_url: base_url.clone(),
            model: model.clone(),
            language: language.clone(),
            api_key: api_key.as_ref().map(|k| k.0.clone()),
            timeout: *timeout,
        })?)),
    };
    // A turn is cut at `max_turn` and carries the pre-roll before its start.
    let stt_settings = SttSettings::new(
        config.stt.partial_interval,
        config.turn.max_turn + config.turn.preroll,
    );
    // The answer file is created now, so an unwritable folder fails before the session starts.
    let store = config
        .dialogue
        .answers_dir
        .as_ref()
        .map(|dir| AnswerStore::create(dir, &answers_label))
        .transpose()?;
    let dialogue_settings = StageSettings {
        fallback_line: config.dialogue.fallback.clone(),
        chunker: crate::dialogue::chunker::ChunkerSettings {
            first_clause_min_bytes: config.dialogue.first_clause_min_chars,
            clause_min_bytes: config.dialogue.clause_min_chars,
            max_bytes: config.dialogue.max_chunk_chars,
        },
    };
    Ok(Listening {
        vad,
        vad_threshold,
        vad_placement,
        turn_model,
        transcriber,
        stt_settings,
        dialogue,
        tools: ToolRunner::new(store),
        dialogue_settings,
    })
}

/// `persona say`: hands the text to TTS as one reply, then closes.
async fn text_source(
    mut ctx: StageCtx,
    text: String,
    mut output: Sender<ReplyText>,
) -> Result<(), StageError> {
    let reply = ReplyText {
        epoch: Epoch(0),
        text,
        is_last: true,
    };
    ctx.set_cause(tokio::time::Instant::now());
    ctx.emit(&mut output, reply).await
}

/// `persona render`: plays audio at the output rate into the motion stage as one utterance.
async fn audio_source(
    mut ctx: StageCtx,
    samples: Vec<f32>,
    rate_hz: u32,
    mut output: Sender<TtsItem>,
) -> Result<(), StageError> {
    let epoch = Epoch(0);
    let frame_samples = (rate_hz as usize / 50).min(crate::audio::MAX_FRAME_SAMPLES);
    for frame in crate::audio::frame::frames_of(&samples, rate_hz, 0, frame_samples) {
        if ctx.shutdown.is_requested() {
            return Ok(());
        }
        ctx.set_cause(tokio::time::Instant::now());
        let item = TtsItem {
            epoch,
            payload: TtsPayload::Audio(AudioFrame::with_epoch(frame, epoch)),
        };
        ctx.emit(&mut output, item).await?;
    }
    let end = TtsItem {
        epoch,
        payload: TtsPayload::End {
            total_samples: samples.len() as u64,
        },
    };
    ctx.emit(&mut output, end).await
}
