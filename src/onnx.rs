//! ONNX Runtime: found once per process, and sessions opened with errors a user can act on.
//!
//! Every ONNX backend (Silero VAD, Smart Turn, Piper voices, the motion model) opens its model
//! through [`open_session`], so the library is located the same way everywhere and a missing or
//! broken file is reported the same way. The library is loaded at run time (`ort`'s
//! `load-dynamic`): persona builds without it and only the ONNX backends need it. Where it is
//! looked for, in order: `ORT_DYLIB_PATH`; `vendor/onnxruntime/` under the working directory
//! (where `./setup.sh` puts it); the same folder beside the executable's checkout; the source
//! checkout this binary was built from.
//!
//! Execution providers: the CPU by default. A session asked for CUDA falls back to the CPU with
//! a warning in the log, never silently.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use thiserror::Error;

/// The ONNX Runtime version persona is built against (`ort`'s `api-31`).
pub const ORT_VERSION: &str = "1.31.1";
/// Where `./setup.sh` puts the library, relative to the repository root.
pub const VENDORED_LIBRARY: &str = "vendor/onnxruntime/libonnxruntime.so";

#[derive(Debug, Error, Clone)]
pub enum OnnxError {
    #[error(
        "the ONNX Runtime library was not found (looked in: {}). Run ./setup.sh, which puts it in {VENDORED_LIBRARY}, or set ORT_DYLIB_PATH to a libonnxruntime.so {ORT_VERSION}",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    RuntimeMissing { searched: Vec<PathBuf> },
    #[error("the ONNX Runtime library {} could not be loaded: {detail}. persona needs ONNX Runtime {ORT_VERSION}: run ./setup.sh", path.display())]
    RuntimeLoad { path: PathBuf, detail: String },
    #[error("model {} does not exist. Run `persona models list` to see how to get it", path.display())]
    ModelMissing { path: PathBuf },
    #[error("model {} could not be loaded by ONNX Runtime: {detail}. The file may be truncated or not an ONNX model; download it again", path.display())]
    ModelLoad { path: PathBuf, detail: String },
    #[error("model {} does not look like {expected}: {detail}", path.display())]
    Signature {
        path: PathBuf,
        expected: String,
        detail: String,
    },
    #[error("running model {} failed: {detail}", path.display())]
    Run { path: PathBuf, detail: String },
}

/// Where a session runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    #[default]
    Cpu,
    /// NVIDIA GPU through the CUDA execution provider (falls back to the CPU, with a warning).
    Cuda,
}

/// How to open a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionOptions {
    /// Threads inside one operator; 1 keeps a session on one core (the pipeline has its own).
    pub intra_threads: usize,
    pub device: Device,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            intra_threads: 1,
            device: Device::Cpu,
        }
    }
}

/// Candidate library paths, in search order.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        candidates.push(PathBuf::from(path));
    }
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join(VENDORED_LIBRARY));
    }
    // target/{debug,release}/persona → the checkout two levels up.
    if let Ok(exe) = std::env::current_exe()
        && let Some(root) = exe.parent().and_then(Path::parent).and_then(Path::parent)
    {
        candidates.push(root.join(VENDORED_LIBRARY));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(VENDORED_LIBRARY));
    candidates.dedup();
    candidates
}

/// The process-wide environment, created on first use.
pub fn environment() -> Result<&'static Environment, OnnxError> {
    static ENVIRONMENT: OnceLock<Result<Environment, OnnxError>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(create_environment)
        .as_ref()
        .map_err(Clone::clone)
}

fn create_environment() -> Result<Environment, OnnxError> {
    let candidates = library_candidates();
    let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
        return Err(OnnxError::RuntimeMissing { searched: candidates });
    };
    let load_error = |detail: String| OnnxError::RuntimeLoad {
        path: path.clone(),
        detail,
    };
    let builder = ort::init_from(&path).map_err(|e| load_error(e.to_string()))?;
    let environment = builder
        .with_name("persona")
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    tracing::debug!(library = %path.display(), "ONNX Runtime loaded");
    Ok(environment)
}

/// Opens the model at `path`.
pub fn open_session(path: &Path, options: SessionOptions) -> Result<Session, OnnxError> {
    if !path.is_file() {
        return Err(OnnxError::ModelMissing {
            path: path.to_path_buf(),
        });
    }
    let environment = environment()?;
    let load_error = |detail: String| OnnxError::ModelLoad {
        path: path.to_path_buf(),
        detail,
    };
    let mut builder = Session::builder(environment)
        .map_err(|e| load_error(e.to_string()))?
        .with_intra_threads(options.intra_threads)
        .map_err(|e| load_error(e.to_string()))?;
    if options.device == Device::Cuda {
        tracing::warn!(
            model = %path.display(),
            "the CUDA execution provider is not built into this binary; running on the CPU"
        );
    }
    builder
        .commit_from_file(path)
        .map_err(|e| load_error(e.to_string()))
}

/// Checks that a session has inputs and outputs with these names (in any order), so a wrong
/// model file is rejected at load time with a clear message rather than failing mid-run.
pub fn expect_signature(
    session: &Session,
    path: &Path,
    expected: &str,
    inputs: &[&str],
    outputs: &[&str],
) -> Result<(), OnnxError> {
    let have_inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
    let have_outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let missing: Vec<String> = inputs
        .iter()
        .filter(|name| !have_inputs.contains(name))
        .map(|name| format!("input `{name}`"))
        .chain(
            outputs
                .iter()
                .filter(|name| !have_outputs.contains(name))
                .map(|name| format!("output `{name}`")),
        )
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(OnnxError::Signature {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            detail: format!(
                "it lacks {} (it has inputs {:?} and outputs {:?})",
                missing.join(", "),
                have_inputs,
                have_outputs
            ),
        })
    }
}

/// One dimension of an expected tensor shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// Exactly this size (a model with a dynamic dimension here also passes).
    Fixed(i64),
    /// Anything (a batch or a sequence length).
    Any,
}

/// Checks that the input or output `name` is a tensor of `element` with `dims` (rank and the
/// fixed sizes), so a model with the right names but the wrong shapes is rejected at load time.
pub fn expect_tensor(
    session: &Session,
    path: &Path,
    expected: &str,
    name: &str,
    element: ort::value::TensorElementType,
    dims: &[Dim],
) -> Result<(), OnnxError> {
    let outlet = session
        .inputs()
        .iter()
        .chain(session.outputs())
        .find(|o| o.name() == name);
    let wrong = |detail: String| OnnxError::Signature {
        path: path.to_path_buf(),
        expected: expected.to_string(),
        detail,
    };
    let Some(outlet) = outlet else {
        return Err(wrong(format!("it has no input or output `{name}`")));
    };
    let ort::value::ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(wrong(format!("`{name}` is not a tensor ({})", outlet.dtype())));
    };
    let shape_fits = shape.len() == dims.len()
        && shape.iter().zip(dims).all(|(&have, want)| match want {
            Dim::Any => true,
            // -1: dynamic in the model, sized by the caller.
            Dim::Fixed(size) => have == *size || have < 0,
        });
    if *ty != element || !shape_fits {
        let want: Vec<String> = dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => n.to_string(),
                Dim::Any => "N".to_string(),
            })
            .collect();
        return Err(wrong(format!(
            "`{name}` should be {element:?} [{}], but is {ty:?} {:?}",
            want.join(", "),
            &shape[..]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ort::value::Tensor;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/onnx")
            .join(name)
    }

    #[test]
    fn a_model_loads_and_runs() {
        let path = fixture("add_one.onnx");
        let mut session =
            open_session(&path, SessionOptions::default()).expect("ONNX Runtime from ./setup.sh");
        expect_signature(&session, &path, "add-one", &["x"], &["y"]).unwrap();
        let input = Tensor::from_array(ndarray::arr1(&[1.0_f32, 2.5])).unwrap();
        let outputs = session.run(ort::inputs!["x" => input]).unwrap();
        let y = outputs["y"].try_extract_array::<f32>().unwrap();
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), [2.0, 3.5]);
    }

    #[test]
    fn a_wrong_model_is_named_with_what_it_lacks() {
        let path = fixture("add_one.onnx");
        let session = open_session(&path, SessionOptions::default()).unwrap();
        let error = expect_signature(
            &session,
            &path,
            "a Silero VAD model",
            &["input", "state"],
            &["output"],
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("add_one.onnx")
                && message.contains("Silero")
                && message.contains("input `state`"),
            "{message}"
        );
    }

    #[test]
    fn missing_and_corrupt_models_are_reported_with_their_path() {
        let missing = Path::new("/nonexistent/model.onnx");
        assert!(matches!(
            open_session(missing, SessionOptions::default()),
            Err(OnnxError::ModelMissing { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.onnx");
        std::fs::write(&junk, b"definitely not protobuf").unwrap();
        let error = open_session(&junk, SessionOptions::default()).unwrap_err();
        assert!(matches!(error, OnnxError::ModelLoad { .. }), "{error}");
        assert!(error.to_string().contains("junk.onnx"));
    }
}
