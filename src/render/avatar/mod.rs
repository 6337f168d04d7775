//! Avatars: the rig every renderer draws, loaded from `assets/avatars/NAME/` (or the copy of the
//! default avatar built into the binary).
//!
//! An avatar is a stack of layers (back hair, face, eyes, lips, fringe …). Each layer is an image
//! (PNG, straight alpha), a triangle mesh over it, and per-vertex displacement targets keyed by
//! motion channels — the Live2D idea. A pose moves every vertex by the weighted sum of its targets;
//! head layers then turn about the neck by `headRoll`. Layers may be clipped by an earlier layer
//! (`mask`): the iris by the eye white, the teeth by the mouth's interior.
//! `assets/avatars/README.md` documents the format for people making avatars; this module
//! enforces it.
//!
//! Loading checks everything a renderer relies on (sizes, indices, finite numbers, channel names,
//! mask order) so renderers never see a bad rig, and every error names the file and the problem.
//! This module does not draw and knows nothing of frame sizes ([`super::rig`] places the canvas in
//! a frame).

mod embedded;
mod manifest;
mod mesh;
mod texture;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::motion::{Channel, MotionVector};

pub use mesh::{Driver, Mesh, Sign, Target};
pub use texture::Texture;

/// The name of the avatar built into the binary (a copy of `assets/avatars/mira/`).
pub const DEFAULT_AVATAR: &str = "mira";
/// The manifest's file name inside an avatar folder.
pub const MANIFEST_FILE: &str = "avatar.toml";
/// Largest canvas side and image side an avatar may declare.
pub const MAX_SIDE_PX: u32 = 8192;

/// An avatar could not be loaded. Every variant names the file.
#[derive(Debug, Error)]
pub enum AvatarError {
    #[error(
        "avatar folder {} does not exist or has no {MANIFEST_FILE}. Point `[stages.render] avatar` at a folder \
         like assets/avatars/{DEFAULT_AVATAR} (see assets/avatars/README.md), or leave it out for the built-in avatar",
        dir.display()
    )]
    NoManifest { dir: PathBuf },
    #[error("avatar file {} is missing: {what} names it. Add the file or fix the name in the manifest", file.display())]
    MissingFile { file: PathBuf, what: String },
    #[error("cannot read avatar file {}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("avatar file {}: {problem}", file.display())]
    Invalid { file: PathBuf, problem: String },
}

impl AvatarError {
    fn invalid(file: &Path, problem: impl Into<String>) -> AvatarError {
        AvatarError::Invalid {
            file: file.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// Where a layer sits in the rig.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Turns with the head (`headRoll` about the pivot) and may have targets.
    Head,
    /// Stays with the body (shoulders, neck): no roll.
    Body,
}

/// One drawable layer, validated.
#[derive(Clone, Debug)]
pub struct Layer {
    pub name: String,
    pub group: Group,
    /// Index of the earlier layer whose coverage clips this one.
    pub mask: Option<usize>,
    /// Whether a later layer is clipped by this one (renderers keep its coverage).
    pub is_mask_source: bool,
    pub texture: Texture,
    pub mesh: Mesh,
}

impl Layer {
    /// Never moves: a body layer without targets that neither clips nor is clipped. Renderers may
    /// draw a prefix of such layers once.
    pub fn is_static(&self) -> bool {
        self.group == Group::Body
            && self.mesh.targets.is_empty()
            && self.mask.is_none()
            && !self.is_mask_source
    }
}

/// A pixel rectangle on the canvas: x, y, width, height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CanvasRect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// Named areas of the canvas at the rest pose, for tests and tools that look at pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regions {
    /// The closed lips.
    pub mouth: CanvasRect,
    /// Eye openings: image-left eye first (the avatar's right, driven by `eyeBlinkRight`).
    pub eyes: [CanvasRect; 2],
}

/// The rig's head: what `headRoll` turns, and about where.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadRig {
    /// Canvas point head layers roll about (the top of the neck).
    pub pivot: [f32; 2],
    /// Roll at `headRoll` = ±1, in degrees.
    pub max_roll_deg: f32,
}

/// Vertical background gradient behind everything, filling the whole frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Background {
    pub top: [u8; 3],
    pub bottom: [u8; 3],
}

/// A loaded, validated avatar.
#[derive(Clone, Debug)]
pub struct Avatar {
    pub name: String,
    pub description: String,
    pub licence: String,
    pub author: String,
    /// Canvas size: the coordinate space of meshes and regions.
    pub canvas_width_px: u32,
    pub canvas_height_px: u32,
    /// Frame rate the rig was designed for (targets were tuned at this rate).
    pub fps: u32,
    pub background: Background,
    pub head: HeadRig,
    pub regions: Regions,
    /// Bottom to top.
    pub layers: Vec<Layer>,
}

impl Avatar {
    /// Loads the avatar in `dir` (`dir/avatar.toml` and the files it names).
    pub fn load(dir: &Path) -> Result<Avatar, AvatarError> {
        let manifest = dir.join(MANIFEST_FILE);
        if !manifest.is_file() {
            return Err(AvatarError::NoManifest {
                dir: dir.to_path_buf(),
            });
        }
        Self::from_source(dir, &|name| {
            let file = dir.join(name);
            std::fs::read(&file).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => AvatarError::MissingFile {
                    file,
                    what: String::new(),
                },
                _ => AvatarError::Read { file, source },
            })
        })
    }

    /// The default avatar, from the copy built into the binary (works from any folder).
    pub fn builtin() -> Avatar {
        let dir = Path::new("<built-in>").join(DEFAULT_AVATAR);
        Self::from_source(&dir, &|name| {
            embedded::file(name)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| AvatarError::MissingFile {
                    file: dir.join(name),
                    what: String::new(),
                })
        })
        .expect("the built-in avatar is valid (checked by render::avatar::tests)")
    }

    /// Loads from any file source; `dir` is only used to name files in errors.
    fn from_source(
        dir: &Path,
        read: &dyn Fn(&str) -> Result<Vec<u8>, AvatarError>,
    ) -> Result<Avatar, AvatarError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = read(MANIFEST_FILE)?;
        let text = String::from_utf8(text).map_err(|_| {
            AvatarError::invalid(&manifest_path, "is not UTF-8 text (a TOML file is expected)")
        })?;
        let manifest = manifest::parse(&manifest_path, &text)?;
        let mut layers: Vec<Layer> = Vec::with_capacity(manifest.layers.len());
        for spec in &manifest.layers {
            let named_by =
                |part: &str| format!("`{part}` of layer `{}` in {}", spec.name, manifest_path.display());
            let image_path = dir.join(&spec.image);
            let bytes = read(&spec.image).map_err(|e| name_the_reference(e, &named_by("image")))?;
            let texture = Texture::decode_png(&image_path, &bytes)?;
            let mesh_path = dir.join(&spec.mesh);
            let bytes = read(&spec.mesh).map_err(|e| name_the_reference(e, &named_by("mesh")))?;
            let mesh = Mesh::parse(&mesh_path, &bytes, &texture)?;
            if spec.group == Group::Body
                && let Some(target) = mesh
                    .targets
                    .iter()
                    .find(|t| t.drivers.iter().any(|d| d.channel == Channel::HeadRoll))
            {
                return Err(AvatarError::invalid(
                    &mesh_path,
                    format!(
                        "target `{}` is driven by headRoll, but the roll is applied by the rig to head layers; drop the target",
                        target.key
                    ),
                ));
            }
            let mask = match &spec.mask {
                None => None,
                Some(mask) => match layers.iter().position(|l| &l.name == mask) {
                    Some(index) => Some(index),
                    None => {
                        return Err(AvatarError::invalid(
                            &manifest_path,
                            format!(
                                "layer `{}` is clipped by `mask = \"{mask}\"`, but no earlier layer has that name \
                                 (a mask must be drawn before the layers it clips)",
                                spec.name
                            ),
                        ));
                    }
                },
            };
            if let Some(index) = mask {
                if let Some(outer) = layers[index].mask {
                    return Err(AvatarError::invalid(
                        &manifest_path,
                        format!(
                            "layer `{}` is clipped by `{}`, which is itself clipped by `{}`; masks do not nest",
                            spec.name, layers[index].name, layers[outer].name
                        ),
                    ));
                }
                layers[index].is_mask_source = true;
            }
            layers.push(Layer {
                name: spec.name.clone(),
                group: spec.group,
                mask,
                is_mask_source: false,
                texture,
                mesh,
            });
        }
        Ok(Avatar {
            name: manifest.name,
            description: manifest.description,
            licence: manifest.licence,
            author: manifest.author,
            canvas_width_px: manifest.width,
            canvas_height_px: manifest.height,
            fps: manifest.fps,
            background: manifest.background,
            head: manifest.head,
            regions: manifest.regions,
            layers,
        })
    }

    /// Number of leading layers that never move ([`Layer::is_static`]).
    pub fn static_prefix(&self) -> usize {
        self.layers.iter().take_while(|l| l.is_static()).count()
    }
}

/// A missing file gets the manifest entry that named it.
fn name_the_reference(error: AvatarError, what: &str) -> AvatarError {
    match error {
        AvatarError::MissingFile { file, .. } => AvatarError::MissingFile {
            file,
            what: what.to_string(),
        },
        other => other,
    }
}

/// A pose with every channel finite and inside its range: what rigs read. Non-finite channels read
/// as neutral, so a broken motion backend gives a plausible face rather than garbage.
pub fn sanitize(pose: &MotionVector) -> MotionVector {
    let mut out = MotionVector::NEUTRAL;
    for channel in Channel::ALL {
        let value = pose.get(channel);
        if value.is_finite() {
            out.set(channel, value);
        }
    }
    out
}
