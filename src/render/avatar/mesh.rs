//! A layer's mesh file (JSON): rest vertex positions on the canvas, texture coordinates in the
//! layer image's pixels, triangles, and displacement targets keyed by motion channels.
//!
//! A target's key names what drives it: a channel (`jawOpen`), one direction of a signed channel
//! (`headYaw+`, `headYaw-`), or a product of those (`jawOpen*mouthClose`: a corrective shape that
//! only acts when both are on). Its weight is the channel value (or the product), and each listed
//! vertex moves by weight × offset.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{AvatarError, Texture};
use crate::motion::{Channel, MotionVector};

/// The most vertices one layer may have (indices must also fit the GPU's 32-bit index buffers).
pub const MAX_VERTICES: usize = 1 << 20;
/// The most channels a target's key may multiply.
pub const MAX_DRIVERS: usize = 3;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMesh {
    vertices: Vec<[f32; 2]>,
    uvs: Vec<[f32; 2]>,
    triangles: Vec<[u32; 3]>,
    #[serde(default)]
    targets: BTreeMap<String, RawTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    vertices: Option<Vec<u32>>,
    offsets: Vec<[f32; 2]>,
}

/// Which part of a channel's range drives a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// The value as it is (signed channels push the other way when negative).
    Both,
    /// Only values above 0 (`headYaw+`).
    Positive,
    /// Only values below 0, as a positive weight (`headYaw-`).
    Negative,
}

/// One factor of a target's weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Driver {
    pub channel: Channel,
    pub sign: Sign,
}

impl Driver {
    pub fn weight(&self, pose: &MotionVector) -> f32 {
        let value = pose.get(self.channel);
        match self.sign {
            Sign::Both => value,
            Sign::Positive => value.max(0.0),
            Sign::Negative => (-value).max(0.0),
        }
    }
}

/// A displacement of some vertices, scaled by the product of its drivers' weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The key as written in the file (for messages).
    pub key: String,
    pub drivers: Vec<Driver>,
    pub vertices: Vec<u32>,
    /// Canvas pixels at weight 1, one per entry of `vertices`.
    pub offsets: Vec<[f32; 2]>,
}

impl Target {
    pub fn weight(&self, pose: &MotionVector) -> f32 {
        self.drivers.iter().map(|d| d.weight(pose)).product()
    }
}

/// A validated mesh.
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    /// Canvas pixels at the rest (neutral) pose.
    pub rest: Vec<[f32; 2]>,
    /// Texture coordinates normalised to 0..1 (pixel coordinates / image size).
    pub uv: Vec<[f32; 2]>,
    pub triangles: Vec<[u32; 3]>,
    pub targets: Vec<Target>,
}

impl Mesh {
    pub fn parse(file: &Path, bytes: &[u8], texture: &Texture) -> Result<Mesh, AvatarError> {
        let bad = |problem: String| AvatarError::invalid(file, problem);
        let raw: RawMesh =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("is not a valid mesh file: {e}")))?;
        let n = raw.vertices.len();
        if !(3..=MAX_VERTICES).contains(&n) {
            return Err(bad(format!("has {n} vertices: a mesh needs 3 to {MAX_VERTICES}")));
        }
        if raw.uvs.len() != n {
            return Err(bad(format!(
                "has {n} vertices but {} uvs: every vertex needs one texture coordinate",
                raw.uvs.len()
            )));
        }
        if let Some(i) = raw
            .vertices
            .iter()
            .position(|v| !v.iter().all(|c| c.is_finite() && c.abs() < 1e6))
        {
            return Err(bad(format!(
                "vertex {i} is {:?}: coordinates must be finite canvas pixels",
                raw.vertices[i]
            )));
        }
        let (tw, th) = (texture.width as f32, texture.height as f32);
        if let Some(i) = raw.uvs.iter().position(|[u, v]| {
            !(u.is_finite() && v.is_finite() && (0.0..=tw).contains(u) && (0.0..=th).contains(v))
        }) {
            return Err(bad(format!(
                "uv {i} is {:?}: texture coordinates are pixels inside the {}x{} layer image",
                raw.uvs[i], texture.width, texture.height
            )));
        }
        if raw.triangles.is_empty() {
            return Err(bad("has no triangles".into()));
        }
        if let Some(i) = raw
            .triangles
            .iter()
            .position(|t| t.iter().any(|&v| v as usize >= n))
        {
            return Err(bad(format!(
                "triangle {i} is {:?}, but there are only {n} vertices (indices count from 0)",
                raw.triangles[i]
            )));
        }
        let mut targets = Vec::with_capacity(raw.targets.len());
        for (key, target) in raw.targets {
            let drivers = parse_key(&key).map_err(|problem| bad(format!("target `{key}`: {problem}")))?;
            let vertices = match target.vertices {
                Some(vertices) => {
                    if vertices.len() != target.offsets.len() {
                        return Err(bad(format!(
                            "target `{key}` lists {} vertices but {} offsets: give one offset per vertex",
                            vertices.len(),
                            target.offsets.len()
                        )));
                    }
                    if let Some(&v) = vertices.iter().find(|&&v| v as usize >= n) {
                        return Err(bad(format!(
                            "target `{key}` moves vertex {v}, but there are only {n} vertices"
                        )));
                    }
                    vertices
                }
                None => {
                    if target.offsets.len() != n {
                        return Err(bad(format!(
                            "target `{key}` has {} offsets for {n} vertices: without a `vertices` list it needs one per vertex",
                            target.offsets.len()
                        )));
                    }
                    (0..n as u32).collect()
                }
            };
            if let Some(o) = target
                .offsets
                .iter()
                .find(|o| !o.iter().all(|c| c.is_finite() && c.abs() < 1e6))
            {
                return Err(bad(format!(
                    "target `{key}` has the offset {o:?}: offsets must be finite canvas pixels"
                )));
            }
            targets.push(Target {
                key,
                drivers,
                vertices,
                offsets: target.offsets,
            });
        }
        Ok(Mesh {
            rest: raw.vertices,
            uv: raw.uvs.iter().map(|[u, v]| [u / tw, v / th]).collect(),
            triangles: raw.triangles,
            targets,
        })
    }
}

/// `jawOpen`, `headYaw-`, `jawOpen*mouthClose` → drivers.
fn parse_key(key: &str) -> Result<Vec<Driver>, String> {
    let mut drivers: Vec<Driver> = Vec::new();
    for part in key.split('*') {
        let (name, sign) = if let Some(name) = part.strip_suffix('+') {
            (name, Sign::Positive)
        } else if let Some(name) = part.strip_suffix('-') {
            (name, Sign::Negative)
        } else {
            (part, Sign::Both)
        };
        let channel = Channel::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Channel::ALL.iter().map(|c| c.name()).collect();
            format!(
                "`{name}` is not a motion channel (channels: {})",
                names.join(", ")
            )
        })?;
        if sign != Sign::Both && channel.range().0 >= 0.0 {
            return Err(format!(
                "`{part}`: only signed channels (head and gaze) take a + or - suffix; {name} runs from 0 to 1"
            ));
        }
        if drivers.iter().any(|d| d.channel == channel) {
            return Err(format!("names {name} twice"));
        }
        drivers.push(Driver { channel, sign });
    }
    if drivers.len() > MAX_DRIVERS {
        return Err(format!(
            "multiplies {} channels; at most {MAX_DRIVERS}",
            drivers.len()
        ));
    }
    Ok(drivers)
}
