//! The checks themselves, one function per area. Each takes what it inspects as arguments (an
//! environment variable's value, a directory, a probe result) and returns [`Check`]s; none reads
//! the environment or calls into a C library, so tests can stage any machine state. Files are
//! read where the check is about files (sizes, magic bytes), always the ones the caller named.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Check, Status, non_empty, shell_quote, shown};
use crate::config::{DialogueBackend, MotionBackend, PipelineConfig, SttBackend};
use crate::models::{Manifest, ModelEntry, ModelStatus};
use crate::runtime::priority::Granted;
use crate::tts::TtsError;

/// Where `./setup.sh` puts ONNX Runtime, relative to the repository root (a symlink to the
/// versioned file beside it): the same place the ONNX backends load it from.
pub const ORT_VENDORED_PATH: &str = crate::onnx::VENDORED_LIBRARY;
/// The ONNX Runtime release line persona's `ort` binding (API version 31) needs; older
/// libraries are refused at load time.
pub const ORT_VERSION: &str = "1.31";
const ORT_FILE_PREFIX: &str = "libonnxruntime.so.";

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
/// whisper.cpp's legacy model magic (`GGML_FILE_MAGIC`, 0x67676d6c), as stored little-endian.
const GGML_MAGIC_BYTES: [u8; 4] = 0x6767_6d6c_u32.to_le_bytes();

const VULKAN_FIX: &str = "apt-get install mesa-vulkan-drivers libvulkan1";
const FFMPEG_FIX: &str = "apt-get install ffmpeg";

/// What the espeak engine reported when it initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EspeakInfo {
    pub sample_rate_hz: u32,
    /// Distinct language names among the installed voices.
    pub languages: usize,
}

pub(crate) fn espeak_engine(outcome: Result<EspeakInfo, &TtsError>) -> Check {
    const NAME: &str = "espeak-ng data";
    match outcome {
        Ok(info) if info.languages == 0 => Check::new(
            NAME,
            Status::Fail,
            "espeak-ng initialised but lists no voices: its voice data is incomplete",
        )
        .with_fix("./setup.sh"),
        Ok(info) => Check::new(
            NAME,
            Status::Ok,
            format!(
                "initialised at {} Hz, {} languages installed",
                info.sample_rate_hz, info.languages
            ),
        ),
        Err(e) => Check::new(NAME, Status::Fail, e.to_string()).with_fix("./setup.sh"),
    }
}

/// `users` are the pipelines that speak with `voice` (none: it is the default voice).
pub(crate) fn espeak_voice(voice: &str, users: &[String], error: Option<&TtsError>) -> Check {
    let name = format!("espeak-ng voice {voice}");
    let who = if users.is_empty() {
        "the default voice".to_string()
    } else {
        format!("used by {}", pipeline_list(users))
    };
    match error {
        None => Check::new(name, Status::Ok, who),
        // A wrong voice name is a typo in a pipeline file: no command fixes that.
        Some(e) => Check::new(name, Status::Fail, format!("{e} ({who}; set `stages.tts.voice`)")),
    }
}

/// ONNX Runtime, looked for where persona's ONNX backends are to load it from: `ORT_DYLIB_PATH`
/// when set (its value is `ort_dylib_path`, as `ort`'s load-dynamic feature reads it), else the
/// copy `./setup.sh` vendors into the repository ([`ORT_VENDORED_PATH`], which `ort` does not
/// know about: the backends pass it to `ort::init_from`). The file is checked (exists, is ELF,
/// version from its real name), never loaded.
pub(crate) fn onnxruntime(ort_dylib_path: Option<&OsStr>, repo_root: &Path) -> Check {
    const NAME: &str = "onnxruntime";
    let from_env = non_empty(ort_dylib_path).map(PathBuf::from);
    let path = from_env
        .clone()
        .unwrap_or_else(|| repo_root.join(ORT_VENDORED_PATH));
    let where_ = match &from_env {
        Some(p) => format!("ORT_DYLIB_PATH={}", p.display()),
        None => ORT_VENDORED_PATH.to_string(),
    };
    // With ORT_DYLIB_PATH set, the vendored copy is ignored: the fix is to stop overriding it.
    let fix = if from_env.is_some() {
        "unset ORT_DYLIB_PATH && ./setup.sh"
    } else {
        "rm -rf vendor/onnxruntime && ./setup.sh"
    };
    let wanted = format!("persona needs ONNX Runtime {ORT_VERSION}.x");

    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(_) if from_env.is_some() => {
            return Check::new(NAME, Status::Fail, format!("{where_} does not exist; {wanted}"))
                .with_fix(fix);
        }
        Err(_) => {
            return Check::new(
                NAME,
                Status::Missing,
                format!(
                    "not found at {where_} (nor ORT_DYLIB_PATH); the ONNX backends (Silero VAD, \
                     Smart Turn, Piper, the motion model) need it"
                ),
            )
            .with_fix("./setup.sh");
        }
    };
    if !meta.is_file() {
        return Check::new(NAME, Status::Fail, format!("{where_} is not a file")).with_fix(fix);
    }
    if read_magic(&path).as_ref() != Some(ELF_MAGIC) {
        return Check::new(
            NAME,
            Status::Fail,
            format!("{where_} is not a shared library (no ELF header; an interrupted download?)"),
        )
        .with_fix(fix);
    }

    let real = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let real_name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let resolved = if path.file_name() == real.file_name() {
        String::new()
    } else {
        format!(" -> {real_name}")
    };
    match ort_version_from_file_name(&real_name) {
        Some(version) if version.starts_with(&format!("{ORT_VERSION}.")) => {
            Check::new(NAME, Status::Ok, format!("{version} at {where_}{resolved}"))
        }
        Some(version) => Check::new(
            NAME,
            Status::Fail,
            format!("{where_}{resolved} is version {version}; {wanted} (older ones fail with BadVersion)"),
        )
        .with_fix(fix),
        None => Check::new(
            NAME,
            Status::Warn,
            format!(
                "found at {where_}{resolved}, but its version is not visible from the file name; {wanted}"
            ),
        )
        .with_fix(fix),
    }
}

/// `1.31.1` from `libonnxruntime.so.1.31.1`; `None` unless at least major.minor is visible.
pub(crate) fn ort_version_from_file_name(name: &str) -> Option<&str> {
    let version = name.strip_prefix(ORT_FILE_PREFIX)?;
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (numeric && parts.len() >= 2).then_some(version)
}

/// The codec libraries persona links; `None` where a library returned no version string.
pub(crate) fn codecs(libvpx: Option<String>, libopus: Option<String>) -> Check {
    let version = |v: Option<String>| v.unwrap_or_else(|| "(version unknown)".to_string());
    Check::new(
        "codecs",
        Status::Ok,
        format!("libvpx {}, libopus {}", version(libvpx), version(libopus)),
    )
}

/// Whether `persona serve` can raise its sessions' audio path above the video threads
/// (`[serve] priority`), from what a probe thread was granted.
pub(crate) fn serve_priority(granted: &Granted) -> Check {
    const NAME: &str = "serve priority";
    match granted {
        Granted::Realtime(_) => Check::new(
            NAME,
            Status::Ok,
            format!("the web agent's audio path can run {granted}"),
        ),
        Granted::Nice(_) => Check::new(
            NAME,
            Status::Ok,
            format!("the web agent's audio path can run {granted}; real-time is refused, which is steadier under load"),
        ),
        Granted::Unchanged(_) => Check::new(
            NAME,
            Status::Warn,
            format!(
                "the web agent's audio path would run at {granted}: under load, video threads can delay it past its budgets"
            ),
        )
        .with_fix("sudo setcap cap_sys_nice+ep target/release/persona"),
    }
}

/// What the Vulkan check looks at, gathered by [`VulkanProbe::detect`] without loading anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VulkanProbe {
    /// The loader library `libvulkan.so.1`, where it was found.
    pub loader: Option<PathBuf>,
    /// File names of the installable client driver manifests (`*.json` under `icd.d/`).
    pub icd_files: Vec<String>,
    /// The NVIDIA kernel driver is loaded (`/proc/driver/nvidia/version` exists).
    pub nvidia_driver: bool,
    /// A DRM render node (`/dev/dri/renderD*`) exists, so a Mesa hardware driver has a GPU.
    pub render_node: bool,
}

const ICD_DIRS: &[&str] = &[
    "/usr/share/vulkan/icd.d",
    "/etc/vulkan/icd.d",
    "/usr/local/share/vulkan/icd.d",
];

impl VulkanProbe {
    pub fn detect() -> Self {
        let arch = std::env::consts::ARCH;
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dirs) = std::env::var_os("LD_LIBRARY_PATH") {
            candidates.extend(std::env::split_paths(&dirs).map(|d| d.join("libvulkan.so.1")));
        }
        for dir in [
            format!("/usr/lib/{arch}-linux-gnu"),
            format!("/lib/{arch}-linux-gnu"),
            "/usr/lib64".to_string(),
            "/usr/lib".to_string(),
        ] {
            candidates.push(Path::new(&dir).join("libvulkan.so.1"));
        }
        let loader = candidates.into_iter().find(|p| p.is_file()).or_else(|| {
            ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
                .iter()
                .find_map(|cmd| std::process::Command::new(cmd).arg("-p").output().ok())
                .and_then(|out| find_in_ldconfig(&String::from_utf8_lossy(&out.stdout), "libvulkan.so.1"))
        });
        let mut icd_files: Vec<String> = ICD_DIRS
            .iter()
            .filter_map(|dir| fs::read_dir(dir).ok())
            .flatten()
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        icd_files.sort();
        icd_files.dedup();
        let render_node = fs::read_dir("/dev/dri").is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        });
        Self {
            loader,
            icd_files,
            nvidia_driver: Path::new("/proc/driver/nvidia/version").exists(),
            render_node,
        }
    }
}

/// The path `ldconfig -p` lists for `soname` (lines like `\tlibvulkan.so.1 (libc6,x86-64) => /lib/…`).
pub(crate) fn find_in_ldconfig(output: &str, soname: &str) -> Option<PathBuf> {
    output.lines().find_map(|line| {
        let (left, right) = line.split_once("=>")?;
        (left.split_whitespace().next() == Some(soname)).then(|| PathBuf::from(right.trim()))
    })
}

/// The Vulkan loader and drivers the GPU renderer will need. Never a failure: persona renders
/// on the CPU without them.
pub(crate) fn vulkan(probe: &VulkanProbe) -> Check {
    const NAME: &str = "vulkan";
    let Some(loader) = &probe.loader else {
        return Check::new(
            NAME,
            Status::Warn,
            "no Vulkan loader (libvulkan.so.1): the GPU renderer will be unavailable",
        )
        .with_fix(VULKAN_FIX);
    };
    if probe.icd_files.is_empty() {
        return Check::new(
            NAME,
            Status::Warn,
            format!(
                "loader {} but no drivers under {}: the GPU renderer will be unavailable",
                loader.display(),
                ICD_DIRS[0]
            ),
        )
        .with_fix(VULKAN_FIX);
    }
    let has = |needle: &str| probe.icd_files.iter().any(|f| f.contains(needle));
    let lavapipe = has("lvp");
    let mesa_hw = ["radeon", "intel", "nouveau", "freedreno", "panfrost", "broadcom"]
        .iter()
        .any(|n| has(n));
    let device = if has("nvidia") && probe.nvidia_driver {
        "an NVIDIA GPU (nvidia driver loaded)".to_string()
    } else if mesa_hw && probe.render_node {
        "a GPU through Mesa (a DRM render node exists)".to_string()
    } else if lavapipe {
        "software only (lavapipe): the GPU renderer will run on the CPU".to_string()
    } else {
        "drivers installed, none identified as working on this machine".to_string()
    };
    // `lvp_icd.x86_64.json` -> `lvp`: the driver's name is all a reader needs.
    let drivers: Vec<&str> = probe
        .icd_files
        .iter()
        .map(|f| f.split_once("_icd").map_or(f.as_str(), |(name, _)| name))
        .collect();
    Check::new(
        NAME,
        Status::Ok,
        format!("{}; drivers: {}; {device}", loader.display(), drivers.join(", ")),
    )
}

/// The first executable file called `name` in the `PATH`-style list `path_var`.
pub(crate) fn find_on_path(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// ffmpeg and ffprobe: only for inspecting outputs and for some tests, so absence is a warning.
pub(crate) fn tool(name: &str, found: Option<&Path>) -> Check {
    match found {
        Some(path) => Check::new(name, Status::Ok, path.display().to_string()),
        None => Check::new(
            name,
            Status::Warn,
            "not on PATH: needed only to inspect outputs and by some tests (they skip without it)",
        )
        .with_fix(FFMPEG_FIX),
    }
}

/// The files `pipeline` names (STT model, dialogue flow). A model file that the manifest lists
/// is also checked against the manifest's size, and its fix fetches it to the named path.
pub(crate) fn pipeline_files(pipeline: &PipelineConfig, manifest: &Manifest, repo_root: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    let label = match &pipeline.file {
        Some(file) => format!("pipeline {} ({})", pipeline.name, shown(file, repo_root)),
        None => format!("pipeline {}", pipeline.name),
    };
    if let Some(SttBackend::Whisper { model, .. }) = &pipeline.stt.backend {
        let name = format!("pipeline {}: stt model", pipeline.name);
        let entry = model
            .file_name()
            .and_then(|f| manifest.models.iter().find(|e| OsStr::new(&e.file) == f));
        let fix = entry.map(|e| fetch_command(e, model, repo_root));
        let shown_model = shown(model, repo_root);
        let fail = |detail: String| {
            let check = Check::new(
                &name,
                Status::Fail,
                format!("{detail} (`stages.stt.model` of {label})"),
            );
            match &fix {
                Some(fix) => check.with_fix(fix.clone()),
                None => check,
            }
        };
        match fs::metadata(model) {
            Err(_) => out.push(fail(format!("{shown_model} does not exist"))),
            Ok(meta) if !meta.is_file() => out.push(fail(format!("{shown_model} is not a file"))),
            Ok(meta) => {
                let expected = entry.and_then(|e| e.size_bytes);
                if read_magic(model) != Some(GGML_MAGIC_BYTES) {
                    out.push(fail(format!(
                        "{shown_model} is not a whisper.cpp model (no ggml header; a Git LFS pointer or an error page?)"
                    )));
                } else if let Some(expected) = expected.filter(|&s| s != meta.len()) {
                    out.push(fail(format!(
                        "{shown_model} is {} bytes, the manifest says {expected}: a partial or different download",
                        meta.len()
                    )));
                } else {
                    out.push(Check::new(
                        name,
                        Status::Ok,
                        format!("{shown_model} ({})", human_size(meta.len())),
                    ));
                }
            }
        }
    }
    if let Some(DialogueBackend::Scripted { flow }) = &pipeline.dialogue.backend {
        let name = format!("pipeline {}: dialogue flow", pipeline.name);
        let shown_flow = shown(flow, repo_root);
        out.push(if flow.is_file() {
            Check::new(name, Status::Ok, shown_flow)
        } else {
            Check::new(
                name,
                Status::Fail,
                format!("{shown_flow} does not exist (`stages.dialogue.flow` of {label})"),
            )
        });
    }
    out
}

/// The motion model a pipeline with `backend = "model"` loads: present, with metadata this build
/// accepts, and the file its metadata describes (checked without loading ONNX Runtime).
pub(crate) fn motion_model(pipeline: &PipelineConfig, repo_root: &Path) -> Option<Check> {
    if pipeline.motion.backend != MotionBackend::Model {
        return None;
    }
    let name = format!("pipeline {}: motion model", pipeline.name);
    let path = match &pipeline.motion.model.model {
        Some(path) => Ok(path.clone()),
        None => crate::motion::model::shipped_model(),
    };
    let checked = path.and_then(|p| crate::motion::model::check_files(&p).map(|meta| (p, meta)));
    Some(match checked {
        Ok((path, meta)) => Check::new(
            name,
            Status::Ok,
            format!(
                "{} ({} parameters, {} steps, training data {})",
                shown(&path, repo_root),
                meta.parameters,
                meta.steps,
                meta.training_data_hash.get(..12).unwrap_or("?")
            ),
        ),
        Err(error) => Check::new(name, Status::Fail, error.to_string()).with_fix(
            "git checkout -- models/motion-fm.onnx models/motion-fm.json   # or set backend = \"rules\" in [stages.motion]",
        ),
    })
}

/// One check per manifest model: present (right size), missing, or the wrong size. A missing
/// model is a failure only when one of `pipelines` names it.
pub(crate) fn manifest_models(
    manifest: &Manifest,
    models_dir: &Path,
    repo_root: &Path,
    pipelines: &[PipelineConfig],
) -> Vec<Check> {
    manifest
        .status(models_dir)
        .into_iter()
        .map(|(entry, status)| {
            let users: Vec<String> = pipelines
                .iter()
                .filter(|p| pipeline_uses(p, &entry, models_dir))
                .map(|p| p.name.clone())
                .collect();
            manifest_model(&entry, status, models_dir, repo_root, &users)
        })
        .collect()
}

/// A manifest model's check; `users` are the checked pipelines that load it.
pub(crate) fn manifest_model(
    entry: &ModelEntry,
    status: ModelStatus,
    models_dir: &Path,
    repo_root: &Path,
    users: &[String],
) -> Check {
    let name = format!("model {}", entry.name);
    let path = entry.path_in(models_dir);
    let shown_path = shown(&path, repo_root);
    let fix = fetch_command(entry, &path, repo_root);
    match status {
        ModelStatus::Present { size_ok: true } => {
            let size = fs::metadata(&path)
                .map(|m| human_size(m.len()))
                .unwrap_or_default();
            Check::new(name, Status::Ok, format!("{shown_path} ({size})"))
        }
        ModelStatus::Present { size_ok: false } => {
            let actual = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let expected = entry.size_bytes.unwrap_or(0);
            Check::new(
                name,
                Status::Fail,
                format!(
                    "{shown_path} is {actual} bytes, the manifest says {expected}: a partial or different download"
                ),
            )
            .with_fix(fix)
        }
        ModelStatus::Missing => {
            let (status, why) = if users.is_empty() {
                let size = entry
                    .size_bytes
                    .map(|s| format!(", {}", human_size(s)))
                    .unwrap_or_default();
                (
                    Status::Missing,
                    format!("optional: {}{size}", entry.used_by.join(", ")),
                )
            } else {
                (Status::Fail, format!("needed by {}", pipeline_list(users)))
            };
            Check::new(name, status, format!("{shown_path} is not there ({why})")).with_fix(fix)
        }
    }
}

/// The command that puts `entry`'s file at `dest`: a download, or `persona models synth` for
/// the generated model. One place, so it can become `persona models fetch` later.
fn fetch_command(entry: &ModelEntry, dest: &Path, repo_root: &Path) -> String {
    if entry.synthetic {
        "persona models synth".to_string()
    } else {
        // -f: an HTTP error must not leave an error page behind as the model.
        format!(
            "curl -fL --create-dirs -o {} {}",
            shell_quote(&shown(dest, repo_root)),
            shell_quote(&entry.url)
        )
    }
}

fn pipeline_uses(pipeline: &PipelineConfig, entry: &ModelEntry, models_dir: &Path) -> bool {
    let Some(SttBackend::Whisper { model, .. }) = &pipeline.stt.backend else {
        return false;
    };
    let in_models_dir = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    model.file_name() == Some(OsStr::new(&entry.file))
        && model.parent().map(in_models_dir) == Some(in_models_dir(models_dir))
}

fn pipeline_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let noun = if names.len() == 1 { "pipeline" } else { "pipelines" };
    format!("{noun} {}", quoted.join(", "))
}

fn read_magic(path: &Path) -> Option<[u8; 4]> {
    let mut magic = [0_u8; 4];
    fs::File::open(path).ok()?.read_exact(&mut magic).ok()?;
    Some(magic)
}

/// Decimal units, as download pages show sizes.
fn human_size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests;
