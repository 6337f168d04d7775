//! `persona doctor`: is this machine ready to run persona, and if not, what fixes it.
//!
//! persona leans on things outside the binary: espeak-ng's voice data, model files, the ONNX
//! Runtime library the ONNX backends load at run time, a Vulkan driver for the GPU renderer, and
//! ffmpeg for inspecting outputs. Each of them fails late and far from its cause when absent
//! (a synthesis error mid-conversation, a model load error after start-up). This module checks
//! them all up front and says, for each problem, the exact command that fixes it.
//!
//! [`run_checks`] gathers the machine's state (environment variables, `PATH`, files, the espeak
//! engine, the codec libraries' version strings) and hands it to the checks in `checks`, which
//! are pure: they take paths and probe results and return [`Check`]s, so tests feed them any
//! state they like. [`render_report`] turns the checks into the table the CLI prints.
//!
//! Nothing here links or loads a library that persona does not already link (ONNX Runtime and
//! the Vulkan loader are looked for as files, never opened), downloads anything, or changes
//! the machine.

mod checks;
mod report;

use std::ffi::{CStr, OsStr};
use std::path::{Path, PathBuf};

use crate::config::{PipelineConfig, TtsBackend};
use crate::models::Manifest;
use crate::tts::espeak::{Espeak, Flow, VoiceSettings};

pub use checks::{ORT_VENDORED_PATH, ORT_VERSION};
pub use report::render_report;

/// How a check came out, from best to worst (the order is meaningful: see [`worst`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Present and usable.
    Ok,
    /// Works, but something optional is absent or degraded (no ffmpeg, software Vulkan only).
    Warn,
    /// An optional component is not installed or downloaded; what needs it will not work until
    /// the fix runs. Nothing the checked pipelines need.
    Missing,
    /// Something persona or a checked pipeline needs is absent or broken.
    Fail,
}

impl Status {
    /// The word the report shows.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Missing => "missing",
            Status::Fail => "FAIL",
        }
    }
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `espeak-ng data` or `model whisper-base.en`.
    pub name: String,
    pub status: Status,
    /// What was found, with paths and versions; one line.
    pub detail: String,
    /// The exact command that fixes it, to be run from the repository root.
    pub fix: Option<String>,
}

impl Check {
    pub fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    /// The same check with `command` as its fix.
    pub fn with_fix(mut self, command: impl Into<String>) -> Self {
        self.fix = Some(command.into());
        self
    }
}

/// What to check.
#[derive(Clone, Debug)]
pub struct DoctorContext {
    /// The checkout: `vendor/onnxruntime/` lives here, and fix commands are relative to it.
    pub repo_root: PathBuf,
    /// Pipelines whose voices and files are checked; empty checks the defaults only.
    pub pipelines: Vec<PipelineConfig>,
    /// Where model files are looked for (normally `<repo_root>/models`).
    pub models_dir: PathBuf,
}

/// The worst status among `checks` (`Ok` for none): `Fail` means persona cannot run as asked.
pub fn worst(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

/// What a new thread is granted when it asks for real-time priority, as `persona serve`'s
/// audio threads do; the probe thread ends at once.
fn probe_thread_priority() -> crate::runtime::priority::Granted {
    use crate::runtime::priority::{Granted, PriorityRequest, raise_current_thread};
    std::thread::spawn(|| raise_current_thread(PriorityRequest::Realtime))
        .join()
        .unwrap_or_else(|_| Granted::Unchanged("the probe thread panicked".into()))
}

/// Runs every check against this machine, in report order: system libraries and data, tools,
/// the pipelines' own files, then the manifest's models.
pub fn run_checks(ctx: &DoctorContext) -> Vec<Check> {
    let mut out = Vec::new();
    out.extend(espeak_checks(&ctx.pipelines));
    out.push(checks::onnxruntime(
        std::env::var_os("ORT_DYLIB_PATH").as_deref(),
        &ctx.repo_root,
    ));
    out.push(checks::codecs(libvpx_version(), libopus_version()));
    out.push(checks::vulkan(&checks::VulkanProbe::detect()));
    out.push(checks::serve_priority(&probe_thread_priority()));
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    for tool in ["ffmpeg", "ffprobe"] {
        out.push(checks::tool(
            tool,
            checks::find_on_path(tool, &path_var).as_deref(),
        ));
    }

    let manifest = match Manifest::shipped() {
        Ok(manifest) => manifest,
        Err(e) => {
            // The shipped manifest is checked by the models tests; report rather than panic.
            out.push(Check::new("model manifest", Status::Fail, e.to_string()));
            Manifest { models: Vec::new() }
        }
    };
    for pipeline in &ctx.pipelines {
        out.extend(checks::pipeline_files(pipeline, &manifest, &ctx.repo_root));
        out.extend(checks::motion_model(pipeline, &ctx.repo_root));
    }
    out.extend(checks::manifest_models(
        &manifest,
        &ctx.models_dir,
        &ctx.repo_root,
        &ctx.pipelines,
    ));
    out
}

/// The engine's state, then one check per distinct voice the pipelines use (the default voice
/// when there are none). Voices are tried by speaking one letter, so the check follows exactly
/// the lookup synthesis does (names, languages and variants alike).
fn espeak_checks(pipelines: &[PipelineConfig]) -> Vec<Check> {
    let engine = match Espeak::global() {
        Ok(engine) => engine,
        Err(e) => return vec![checks::espeak_engine(Err(&e))],
    };
    let voices = engine.voices();
    let mut out = vec![checks::espeak_engine(Ok(checks::EspeakInfo {
        sample_rate_hz: engine.sample_rate_hz(),
        languages: voices.as_ref().map_or(0, Vec::len),
    }))];

    let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
    for pipeline in pipelines {
        let TtsBackend::Espeak { voice, .. } = &pipeline.tts.backend else {
            continue;
        };
        match wanted.iter_mut().find(|(v, _)| v == voice) {
            Some((_, users)) => users.push(pipeline.name.clone()),
            None => wanted.push((voice.clone(), vec![pipeline.name.clone()])),
        }
    }
    if wanted.is_empty() {
        wanted.push((VoiceSettings::default().voice, Vec::new()));
    }
    for (voice, users) in wanted {
        let settings = VoiceSettings {
            voice: voice.clone(),
            ..VoiceSettings::default()
        };
        let outcome = engine.synthesize("a", &settings, &mut |_| Flow::Stop).map(|_| ());
        out.push(checks::espeak_voice(&voice, &users, outcome.as_ref().err()));
    }
    out
}

fn libvpx_version() -> Option<String> {
    // SAFETY: returns a pointer to a static NUL-terminated string inside libvpx (or NULL).
    let ptr = unsafe { vpx_sys::vpx_codec_version_str() };
    c_string(ptr)
}

fn libopus_version() -> Option<String> {
    // SAFETY: returns a pointer to a static NUL-terminated string inside libopus (or NULL).
    let ptr = unsafe { audiopus::ffi::opus_get_version_string() };
    // It reads "libopus 1.3.1"; the report adds the library's name itself.
    c_string(ptr).map(|v| v.strip_prefix("libopus ").map(str::to_string).unwrap_or(v))
}

fn c_string(ptr: *const std::ffi::c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the libraries return static NUL-terminated strings that are never freed.
    let s = unsafe { CStr::from_ptr(ptr) };
    Some(s.to_string_lossy().into_owned())
}

/// `path` relative to `base` when it lies inside it, as fix commands run from the repo root.
/// Both are resolved first where they exist, so `pipelines/../models/a.bin` reads `models/a.bin`.
fn shown(path: &Path, base: &Path) -> String {
    let path = resolved(path);
    let base = resolved(base);
    path.strip_prefix(&base)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(&path)
        .display()
        .to_string()
}

/// `path` with symlinks and `..` resolved, as far as it exists (a missing file's folder may).
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            std::fs::canonicalize(parent).map_or_else(|_| path.to_path_buf(), |p| p.join(name))
        }
        _ => path.to_path_buf(),
    }
}

/// Quotes `s` for a POSIX shell when it holds anything but plain path characters.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn non_empty(value: Option<&OsStr>) -> Option<&OsStr> {
    value.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_order_from_best_to_worst() {
        let check = |status| Check::new("x", status, "");
        assert_eq!(worst(&[]), Status::Ok);
        assert_eq!(worst(&[check(Status::Ok), check(Status::Warn)]), Status::Warn);
        assert_eq!(
            worst(&[check(Status::Fail), check(Status::Missing), check(Status::Ok)]),
            Status::Fail
        );
    }

    #[test]
    fn paths_inside_the_repo_are_shown_relative_to_it() {
        let root = Path::new("/repo");
        assert_eq!(shown(Path::new("/repo/models/a.bin"), root), "models/a.bin");
        assert_eq!(shown(Path::new("/elsewhere/a.bin"), root), "/elsewhere/a.bin");
        assert_eq!(shown(Path::new("/repo"), root), "/repo");
    }

    #[test]
    fn shell_quoting_leaves_plain_words_alone() {
        assert_eq!(shell_quote("models/ggml-base.en.bin"), "models/ggml-base.en.bin");
        assert_eq!(shell_quote("https://x.org/a?b=1"), "'https://x.org/a?b=1'");
        assert_eq!(shell_quote("my models/it's"), r"'my models/it'\''s'");
    }

    /// Runs against the real machine: whatever is installed, every area gets a row and nothing
    /// panics. (What each row says is tested on fixed inputs in `checks`.)
    #[test]
    fn run_checks_reports_every_area() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ctx = DoctorContext {
            repo_root: dir.path().to_path_buf(),
            pipelines: vec![PipelineConfig::embedded_default()],
            models_dir: dir.path().join("models"),
        };
        let checks = run_checks(&ctx);
        for name in [
            "espeak-ng data",
            "onnxruntime",
            "codecs",
            "vulkan",
            "ffmpeg",
            "ffprobe",
            "serve priority",
        ] {
            assert!(
                checks.iter().any(|c| c.name == name),
                "no `{name}` check in {checks:#?}"
            );
        }
        let codecs = checks.iter().find(|c| c.name == "codecs").expect("codecs");
        assert_eq!(codecs.status, Status::Ok, "{codecs:?}");
        assert!(codecs.detail.contains("libvpx") && codecs.detail.contains("libopus"));
        let models = checks.iter().filter(|c| c.name.starts_with("model ")).count();
        assert_eq!(models, Manifest::shipped().expect("manifest").models.len());
        // The temporary repository has no vendored ONNX Runtime.
        if std::env::var_os("ORT_DYLIB_PATH").is_none() {
            let ort = checks.iter().find(|c| c.name == "onnxruntime").expect("ort");
            assert_eq!(ort.status, Status::Missing, "{ort:?}");
        }
        let report = render_report(&checks);
        assert!(report.contains("espeak-ng data"), "{report}");
    }
}
