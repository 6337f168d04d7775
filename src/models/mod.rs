//! The model manifest: which model files persona can use, where they come from, and which of
//! them are on disk.
//!
//! `models/manifest.toml` lists each file once with its URL, size, SHA-256 and licence; it is
//! compiled into the binary ([`Manifest::shipped`]) so `persona models list` works from any
//! directory. [`Manifest::status`] compares a models directory against it by size, which is
//! instant; [`ModelEntry::verify`] hashes a file, which takes seconds for large models and is
//! therefore a separate, explicit step.
//!
//! This module never downloads anything and does not know which stage loads which file beyond
//! the informational `used_by` field.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Where the shipped manifest lives in the repository.
pub const MANIFEST_PATH: &str = "models/manifest.toml";

const SHIPPED_MANIFEST: &str = include_str!("../../models/manifest.toml");

/// Errors reading a manifest or checking a model file.
#[derive(Debug, Error)]
pub enum ModelsError {
    #[error("could not read {path}: {source}. Check that the file exists and is readable")]
    Read { path: PathBuf, source: io::Error },
    #[error("model manifest {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("model manifest {path}, entry `{name}`: {reason}")]
    Invalid {
        path: PathBuf,
        name: String,
        reason: String,
    },
}

/// The parsed `models/manifest.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "model", default)]
    pub models: Vec<ModelEntry>,
}

/// One model file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Unique name, used on the command line.
    pub name: String,
    /// File name under the models directory; never a path.
    pub file: String,
    /// Where to fetch it (https); empty for synthetic models.
    pub url: String,
    /// Exact size of the published file; absent for synthetic models.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Lowercase hex SHA-256 of the published file; empty when not known.
    #[serde(default)]
    pub sha256: String,
    pub licence: String,
    /// Which stages and backends use it, e.g. `stt/whisper`.
    pub used_by: Vec<String>,
    pub description: String,
    /// Made by persona itself (`persona models synth`) rather than downloaded.
    #[serde(default)]
    pub synthetic: bool,
}

/// Whether a model file is in the models directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelStatus {
    /// The file exists; `size_ok` is false when its size differs from the manifest's (a partial
    /// or different download). Files without a listed size are taken as the right size.
    Present { size_ok: bool },
    /// No regular file of that name (missing, a directory, or unreadable metadata).
    Missing,
}

/// The outcome of hashing a model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The file's SHA-256 equals the manifest's.
    Verified,
    /// The manifest pins no hash for this file; here is the file's, for the record.
    Unpinned { actual_sha256: String },
    /// The file is not the one the manifest describes.
    Mismatch {
        expected_sha256: String,
        actual_sha256: String,
    },
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ModelsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The manifest compiled into this binary from `models/manifest.toml`.
    pub fn shipped() -> Result<Self, ModelsError> {
        Self::parse(SHIPPED_MANIFEST, Path::new(MANIFEST_PATH))
    }

    /// Parses and validates manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ModelsError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ModelsError::Parse {
            path: origin.to_path_buf(),
            // toml's message names the key and quotes the line; keep it whole.
            message: e.to_string().trim_end().to_string(),
        })?;
        manifest.validate(origin)?;
        Ok(manifest)
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Each entry with whether its file is in `models_dir`, checked by size only.
    pub fn status(&self, models_dir: &Path) -> Vec<(ModelEntry, ModelStatus)> {
        self.models
            .iter()
            .map(|entry| (entry.clone(), entry.status(models_dir)))
            .collect()
    }

    fn validate(&self, origin: &Path) -> Result<(), ModelsError> {
        for (i, entry) in self.models.iter().enumerate() {
            let invalid = |reason: String| ModelsError::Invalid {
                path: origin.to_path_buf(),
                name: entry.name.clone(),
                reason,
            };
            if entry.name.is_empty() {
                return Err(invalid(format!("entry {} has an empty `name`", i + 1)));
            }
            if self.models[..i].iter().any(|m| m.name == entry.name) {
                return Err(invalid(
                    "the `name` is used by an earlier entry; names must be unique".into(),
                ));
            }
            if entry.file.is_empty() || entry.file.contains(['/', '\\']) || entry.file.starts_with('.') {
                return Err(invalid(format!(
                    "`file` = {:?} must be a plain file name inside the models directory",
                    entry.file
                )));
            }
            if !entry.sha256.is_empty() && !is_sha256_hex(&entry.sha256) {
                return Err(invalid(format!(
                    "`sha256` = {:?} must be 64 lowercase hex digits, or \"\" when unknown",
                    entry.sha256
                )));
            }
            if entry.synthetic {
                if !entry.url.is_empty() {
                    return Err(invalid(
                        "a synthetic model is generated, so its `url` must be \"\"".into(),
                    ));
                }
            } else {
                if !entry.url.starts_with("https://") {
                    return Err(invalid(format!("`url` = {:?} must be an https URL", entry.url)));
                }
                if entry.size_bytes.is_none_or(|s| s == 0) {
                    return Err(invalid(
                        "`size_bytes` is required for a downloaded model and must be positive".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl ModelEntry {
    /// Where this model's file lives in `models_dir`.
    pub fn path_in(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(&self.file)
    }

    /// Whether the file is in `models_dir`, by size.
    pub fn status(&self, models_dir: &Path) -> ModelStatus {
        match std::fs::metadata(self.path_in(models_dir)) {
            Ok(meta) if meta.is_file() => ModelStatus::Present {
                size_ok: self.size_bytes.is_none_or(|s| s == meta.len()),
            },
            _ => ModelStatus::Missing,
        }
    }

    /// Hashes the file in `models_dir` and compares it with the manifest's SHA-256.
    pub fn verify(&self, models_dir: &Path) -> Result<Verification, ModelsError> {
        let path = self.path_in(models_dir);
        let actual_sha256 = sha256_hex(&path).map_err(|source| ModelsError::Read { path, source })?;
        Ok(if self.sha256.is_empty() {
            Verification::Unpinned { actual_sha256 }
        } else if self.sha256 == actual_sha256 {
            Verification::Verified
        } else {
            Verification::Mismatch {
                expected_sha256: self.sha256.clone(),
                actual_sha256,
            }
        })
    }
}

/// 64 lowercase hex digits, the spelling `sha256sum` and Hugging Face use.
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lowercase hex SHA-256 of a file's bytes, as `sha256sum` prints it.
pub(crate) fn sha256_hex(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize().iter() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn repo_manifest() -> Manifest {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST_PATH);
        Manifest::load(&path).expect("the shipped manifest is valid")
    }

    #[test]
    fn shipped_manifest_parses_and_matches_the_compiled_copy() {
        let on_disk = repo_manifest();
        let compiled = Manifest::shipped().expect("compiled manifest");
        assert_eq!(on_disk.models, compiled.models);
        for name in [
            "whisper-tiny.en",
            "whisper-base.en",
            "whisper-small.en",
            "silero-vad-v5",
            "smart-turn-v3",
            "piper-en_US-lessac-medium",
            "piper-en_US-lessac-medium-config",
            "tiny-random-whisper",
        ] {
            assert!(on_disk.get(name).is_some(), "{name} is missing");
        }
    }

    #[test]
    fn names_and_files_are_unique() {
        let m = repo_manifest();
        let names: HashSet<_> = m.models.iter().map(|e| &e.name).collect();
        let files: HashSet<_> = m.models.iter().map(|e| &e.file).collect();
        assert_eq!(names.len(), m.models.len());
        assert_eq!(files.len(), m.models.len());
    }

    #[test]
    fn downloaded_entries_have_https_url_and_size() {
        for e in repo_manifest().models.iter().filter(|e| !e.synthetic) {
            assert!(e.url.starts_with("https://"), "{}: {}", e.name, e.url);
            assert!(e.size_bytes.is_some_and(|s| s > 0), "{}", e.name);
            assert!(!e.licence.is_empty() && !e.used_by.is_empty(), "{}", e.name);
        }
    }

    #[test]
    fn synthetic_entry_is_the_file_the_writer_makes() {
        let m = repo_manifest();
        let synth = m.get("tiny-random-whisper").expect("synthetic entry");
        assert!(synth.synthetic && synth.url.is_empty());
        assert_eq!(synth.file, crate::stt::TINY_WHISPER_FILE);
    }

    #[test]
    fn invalid_manifests_name_the_file_and_the_problem() {
        let entry = |extra: &str| {
            format!(
                "[[model]]\nname = \"m\"\nfile = \"m.bin\"\nlicence = \"MIT\"\nused_by = [\"x\"]\n\
                 description = \"d\"\n{extra}\n"
            )
        };
        let ok = "url = \"https://example.org/m.bin\"\nsize_bytes = 3";
        let cases = [
            (entry(&format!("{ok}\ncolour = \"red\"")), "colour"),
            (
                entry("url = \"https://example.org/m.bin\"\nsize_bytes = \"big\""),
                "size_bytes",
            ),
            (
                entry("url = \"http://example.org/m.bin\"\nsize_bytes = 3"),
                "https",
            ),
            (entry("url = \"https://example.org/m.bin\""), "size_bytes"),
            (entry(&format!("{ok}\nsha256 = \"ABC\"")), "sha256"),
            (
                entry("url = \"https://example.org/m.bin\"\nsynthetic = true"),
                "synthetic",
            ),
            (format!("{}{}", entry(ok), entry(ok)), "unique"),
            (
                entry(ok).replace("m.bin\"\nlicence", "../m.bin\"\nlicence"),
                "plain file name",
            ),
        ];
        let origin = Path::new("models/test-manifest.toml");
        for (text, expected) in cases {
            let err = Manifest::parse(&text, origin).expect_err(expected).to_string();
            assert!(err.contains("models/test-manifest.toml"), "{err}");
            assert!(err.contains(expected), "expected {expected:?} in: {err}");
        }
        let err = Manifest::load(Path::new("/nonexistent/manifest.toml")).expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/manifest.toml"));
    }

    #[test]
    fn status_checks_size_and_verify_checks_hash() {
        let dir = tempfile::tempdir().expect("temp dir");
        // SHA-256 of "abc" (FIPS 180-2 test vector).
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let text = format!(
            "[[model]]\nname = \"a\"\nfile = \"a.bin\"\nurl = \"https://example.org/a\"\n\
             size_bytes = 3\nsha256 = \"{abc}\"\nlicence = \"MIT\"\nused_by = [\"t\"]\ndescription = \"\"\n\
             [[model]]\nname = \"b\"\nfile = \"b.bin\"\nurl = \"https://example.org/b\"\n\
             size_bytes = 5\nlicence = \"MIT\"\nused_by = [\"t\"]\ndescription = \"\"\n\
             [[model]]\nname = \"c\"\nfile = \"c.bin\"\nurl = \"https://example.org/c\"\n\
             size_bytes = 1\nlicence = \"MIT\"\nused_by = [\"t\"]\ndescription = \"\"\n"
        );
        let m = Manifest::parse(&text, Path::new("t.toml")).expect("valid");
        std::fs::write(dir.path().join("a.bin"), b"abc").expect("write a");
        std::fs::write(dir.path().join("b.bin"), b"abc").expect("write b");
        let status: Vec<_> = m.status(dir.path()).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            status,
            [
                ModelStatus::Present { size_ok: true },
                ModelStatus::Present { size_ok: false },
                ModelStatus::Missing
            ]
        );

        let a = m.get("a").expect("a");
        assert_eq!(a.verify(dir.path()).expect("hash a"), Verification::Verified);
        std::fs::write(dir.path().join("a.bin"), b"abd").expect("rewrite a");
        assert!(matches!(a.verify(dir.path()), Ok(Verification::Mismatch { .. })));
        assert_eq!(
            m.get("b").expect("b").verify(dir.path()).expect("hash b"),
            Verification::Unpinned {
                actual_sha256: abc.to_string()
            }
        );
        let err = m
            .get("c")
            .expect("c")
            .verify(dir.path())
            .expect_err("c is missing");
        assert!(err.to_string().contains("c.bin"), "{err}");
    }
}
