//! Sessions: a pipeline file plus an input and an output, assembled into running stages.
//!
//! [`Session::start`] first builds every backend the session needs — loading models, checking
//! voices, creating the output file — so anything wrong is reported before a single stage runs.
//! Then it creates the edges (all declared in [`edges`]) and spawns the stages. Three shapes:
//!
//! - a conversation (`persona profile`): WAV → capture → resample → vad → turn → stt →
//!   dialogue → tts → motion → playout → render → sink, in real time;
//! - speech (`persona say`): text → tts → motion → playout → render → sink, offline;
//! - animation (`persona render`): audio → motion → playout → render → sink, offline.

pub mod edges;

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::audio::{AudioError, AudioFrame, Conformer, resample_all};
use crate::config::{DialogueBackend, MotionBackend, PipelineConfig, SttBackend, TtsBackend};
use crate::dialogue::{DialogueError, Flow, FlowRunner, ReplyText};
use crate::encode::{EncodeError, WebmConfig, WebmWriter};
use crate::motion::FrameClock;
use crate::motion::model::MotionWorker;
use crate::motion::stage::MotionEngine;
use crate::playout::{Playout, PlayoutMode, PlayoutSettings, StatusWatch, status_channel};
use crate::render::{FaceRenderer, RenderError};
use crate::runtime::{
    EdgeSpec, Epoch, EpochWatch, Interrupter, Metrics, Placement, Receiver, Sender, SessionClock, Shutdown,
    StageCtx, StageError, StageHandle, Unstamped, edge, epoch_channel, spawn_stage,
};
use crate::stt::{SttError, WhisperSettings, WhisperTranscriber};
use crate::transport::sink::SinkTarget;
use crate::transport::{Pacing, WavSource};
use crate::tts::TtsError;
use crate::tts::espeak::VoiceSettings;
use crate::tts::stage::{EspeakSynth, TtsItem, TtsPayload};
use crate::turn::Endpointer;
use crate::vad::WebRtcVad;

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
}

/// Where the session's audio and video go.
pub enum SessionOutput {
    Webm(PathBuf),
    Discard,
}

/// A running session.
pub struct Session {
    pub metrics: Arc<Metrics>,
    /// What the output is playing (latest value).
    pub playout_status: StatusWatch,
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
    synth: Option<EspeakSynth>,
    renderer: FaceRenderer,
    sink: SinkTarget,
}

fn build_output(
    config: &PipelineConfig,
    output: SessionOutput,
    needs_tts: bool,
) -> Result<OutputBackends, PipelineError> {
    let synth = if needs_tts {
        let TtsBackend::Espeak {
            voice,
            rate_wpm,
            pitch,
        } = &config.tts.backend;
        Some(EspeakSynth::new(VoiceSettings {
            voice: voice.clone(),
            rate_wpm: *rate_wpm,
            pitch: *pitch,
        })?)
    } else {
        None
    };
    let renderer = FaceRenderer::new(config.output.width, config.output.height)?;
    let sink = match output {
        SessionOutput::Discard => SinkTarget::Discard,
        SessionOutput::Webm(path) => {
            let writer = WebmWriter::create(
                &path,
                WebmConfig {
                    width: config.output.width,
                    height: config.output.height,
                    fps: config.output.fps,
                    sample_rate_hz: config.output.sample_rate_hz,
                    video_bitrate_kbps: 1_200,
                    realtime: true,
                },
            )?;
            SinkTarget::Webm {
                path,
                writer: Box::new(writer),
            }
        }
    };
    Ok(OutputBackends {
        synth,
        renderer,
        sink,
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
            SessionInput::Conversation { .. } => (PlayoutMode::RealTime, config.motion.backend),
            SessionInput::Speech { .. } => (PlayoutMode::Offline, config.motion.backend),
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
                let listening = build_listening(config)?;
                let conformer = Conformer::new(source.audio.sample_rate_hz)?;
                BuiltInput::Conversation {
                    source,
                    pacing,
                    listening,
                    conformer,
                }
            }
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
        let mut interrupter = Some(interrupter);

        // The speaking half's input: TTS items from the text or audio source, or from dialogue.
        let (tts_tx, tts_rx) = builder.edge::<TtsItem>(edges::TTS_TO_MOTION);
        match input {
            BuiltInput::Conversation {
                source,
                pacing,
                listening: listen,
                conformer,
            } => {
                let capture_spec = match pacing {
                    Pacing::RealTime => edges::CAPTURE_TO_RESAMPLE_LIVE,
                    Pacing::AsFastAsPossible => edges::CAPTURE_TO_RESAMPLE_FILE,
                };
                let (capture_tx, capture_rx) = builder.edge(capture_spec);
                let (resample_tx, resample_rx) = builder.edge(edges::RESAMPLE_TO_VAD);
                let (vad_tx, vad_rx) = builder.edge(edges::VAD_TO_TURN);
                let (turn_tx, turn_rx) = builder.edge(edges::TURN_TO_STT);
                let (stt_tx, stt_rx) = builder.edge(edges::STT_TO_DIALOGUE);
                let (dialogue_tx, dialogue_rx) = builder.edge(edges::DIALOGUE_TO_TTS);

                let ctx = builder.ctx("capture", config.capture.budget);
                builder.spawn(
                    "capture",
                    Placement::Task,
                    crate::transport::wav_source::run_stage(ctx, source, pacing, capture_tx),
                );
                let ctx = builder.ctx("resample", config.resample.budget);
                builder.spawn(
                    "resample",
                    Placement::Task,
                    crate::audio::conform::run_stage(ctx, conformer, capture_rx, resample_tx),
                );
                let ctx = builder.ctx("vad", config.vad.budget);
                builder.spawn(
                    "vad",
                    Placement::Task,
                    crate::vad::run_stage(ctx, Box::new(listen.vad), resample_rx, vad_tx),
                );
                let ctx = builder.ctx("turn", config.turn.budget);
                let turn_interrupter = interrupter.take().expect("the conversation owns the interrupter");
                builder.spawn(
                    "turn",
                    Placement::Task,
                    crate::turn::run_stage(
                        ctx,
                        Endpointer::new(&config.turn),
                        turn_interrupter,
                        vad_rx,
                        turn_tx,
                    ),
                );
                let ctx = builder.ctx("stt", config.stt.budget);
                builder.spawn(
                    "stt",
                    Placement::Task,
                    crate::stt::stage::run_stage(
                        ctx,
                        Box::new(listen.transcriber),
                        listen.max_turn_samples,
                        turn_rx,
                        stt_tx,
                    ),
                );
                let ctx = builder.ctx("dialogue", config.dialogue.budget);
                builder.spawn(
                    "dialogue",
                    Placement::Task,
                    crate::dialogue::run_stage(ctx, Box::new(listen.dialogue), stt_rx, dialogue_tx),
                );
                let ctx = builder.ctx("tts", config.tts.budget);
                let synth = backends.synth.expect("built for conversations");
                builder.spawn(
                    "tts",
                    Placement::Thread,
                    crate::tts::stage::run_stage(
                        ctx,
                        Box::new(synth),
                        config.output.sample_rate_hz,
                        dialogue_rx,
                        tts_tx,
                    ),
                );
            }
            BuiltInput::Speech { text } => {
                let (text_tx, text_rx) = builder.edge(edges::DIALOGUE_TO_TTS);
                let ctx = builder.ctx("text", None);
                builder.spawn("text", Placement::Task, text_source(ctx, text, text_tx));
                let ctx = builder.ctx("tts", config.tts.budget);
                let synth = backends.synth.expect("built for speech");
                builder.spawn(
                    "tts",
                    Placement::Thread,
                    crate::tts::stage::run_stage(
                        ctx,
                        Box::new(synth),
                        config.output.sample_rate_hz,
                        text_rx,
                        tts_tx,
                    ),
                );
            }
            BuiltInput::Animation { samples } => {
                let ctx = builder.ctx("audio", None);
                builder.spawn(
                    "audio",
                    Placement::Task,
                    audio_source(ctx, samples, config.output.sample_rate_hz, tts_tx),
                );
            }
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
            crate::transport::sink::run_stage(ctx, backends.sink, render_rx),
        );

        Ok(Session {
            playout_status,
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

/// A session input with its backends built.
enum BuiltInput {
    Conversation {
        source: WavSource,
        pacing: Pacing,
        listening: Listening,
        conformer: Conformer,
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

/// Backends of the listening half.
struct Listening {
    vad: WebRtcVad,
    transcriber: WhisperTranscriber,
    dialogue: FlowRunner,
    max_turn_samples: usize,
}

fn build_listening(config: &PipelineConfig) -> Result<Listening, PipelineError> {
    let crate::config::VadBackend::WebRtc { aggressiveness } = config.vad.backend;
    let Some(SttBackend::Whisper {
        model,
        language,
        threads,
        max_tokens,
    }) = &config.stt.backend
    else {
        return Err(PipelineError::MissingStage {
            origin: config.origin(),
            stage: "stt",
            purpose: "a conversation",
            hint: "add a [stages.stt] section with a whisper `model` (see pipelines/offline.toml)",
        });
    };
    let Some(DialogueBackend::Scripted { flow }) = &config.dialogue.backend else {
        return Err(PipelineError::MissingStage {
            origin: config.origin(),
            stage: "dialogue",
            purpose: "a conversation",
            hint: "add a [stages.dialogue] section with a scripted `flow` (see pipelines/offline.toml)",
        });
    };
    let transcriber = WhisperTranscriber::load(
        model,
        WhisperSettings {
            language: language.clone(),
            threads: *threads,
            max_tokens: *max_tokens,
        },
    )?;
    let dialogue = FlowRunner::new(Flow::load(flow)?);
    let max_turn_samples = (config.turn.max_turn + config.turn.preroll).as_millis() as usize
        * crate::audio::LISTEN_RATE_HZ as usize
        / 1000;
    Ok(Listening {
        vad: WebRtcVad::new(aggressiveness),
        transcriber,
        dialogue,
        max_turn_samples,
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
