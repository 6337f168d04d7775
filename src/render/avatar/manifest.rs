//! `avatar.toml`: what an avatar is called, its licence, canvas size, frame rate, background, head
//! pivot, pixel regions and the layer stack (bottom to top). Syntax and unknown keys are caught by
//! serde (with the line); values are then checked one by one.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::{AvatarError, Background, CanvasRect, Group, HeadRig, MAX_SIDE_PX, Regions};

/// The format version this code reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    format: u32,
    name: String,
    #[serde(default)]
    description: String,
    licence: String,
    #[serde(default)]
    author: String,
    width: u32,
    height: u32,
    fps: u32,
    background: RawBackground,
    head: RawHead,
    regions: RawRegions,
    layers: Vec<RawLayer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackground {
    top: String,
    bottom: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHead {
    pivot: [f32; 2],
    max_roll_deg: f32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegions {
    mouth: [f32; 4],
    eye_right: [f32; 4],
    eye_left: [f32; 4],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: String,
    image: String,
    mesh: String,
    group: String,
    mask: Option<String>,
}

/// A layer as the manifest lists it (files not read yet).
pub struct LayerSpec {
    pub name: String,
    pub image: String,
    pub mesh: String,
    pub group: Group,
    pub mask: Option<String>,
}

pub struct Manifest {
    pub name: String,
    pub description: String,
    pub licence: String,
    pub author: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub background: Background,
    pub head: HeadRig,
    pub regions: Regions,
    pub layers: Vec<LayerSpec>,
}

pub fn parse(file: &Path, text: &str) -> Result<Manifest, AvatarError> {
    let bad = |problem: String| AvatarError::invalid(file, problem);
    let raw: RawManifest = toml::from_str(text).map_err(|e| bad(e.to_string().trim_end().to_string()))?;
    if raw.format != FORMAT_VERSION {
        return Err(bad(format!(
            "`format = {}` is not supported: this persona reads avatar format {FORMAT_VERSION}",
            raw.format
        )));
    }
    for (key, value) in [("name", &raw.name), ("licence", &raw.licence)] {
        if value.trim().is_empty() {
            return Err(bad(format!("`{key}` must not be empty")));
        }
    }
    for (key, value) in [("width", raw.width), ("height", raw.height)] {
        if !(1..=MAX_SIDE_PX).contains(&value) {
            return Err(bad(format!(
                "`{key} = {value}` is out of range: the canvas side must be 1 to {MAX_SIDE_PX} pixels"
            )));
        }
    }
    if !(1..=120).contains(&raw.fps) {
        return Err(bad(format!(
            "`fps = {}` is out of range: expected 1 to 120",
            raw.fps
        )));
    }
    let colour = |key: &str, value: &str| {
        parse_colour(value).ok_or_else(|| {
            bad(format!(
                "`background.{key} = \"{value}\"` is not a colour: write it as \"#rrggbb\""
            ))
        })
    };
    let background = Background {
        top: colour("top", &raw.background.top)?,
        bottom: colour("bottom", &raw.background.bottom)?,
    };
    let finite = |key: &str, values: &[f32]| {
        if values.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(bad(format!("`{key}` must hold finite numbers, found {values:?}")))
        }
    };
    finite("head.pivot", &raw.head.pivot)?;
    finite("head.max_roll_deg", &[raw.head.max_roll_deg])?;
    if !(0.0..=90.0).contains(&raw.head.max_roll_deg) {
        return Err(bad(format!(
            "`head.max_roll_deg = {}` is out of range: expected 0 to 90 degrees",
            raw.head.max_roll_deg
        )));
    }
    let rect = |key: &str, r: [f32; 4]| -> Result<CanvasRect, AvatarError> {
        finite(&format!("regions.{key}"), &r)?;
        let fits = r[2] > 0.0
            && r[3] > 0.0
            && r[0] >= 0.0
            && r[1] >= 0.0
            && r[0] + r[2] <= raw.width as f32
            && r[1] + r[3] <= raw.height as f32;
        if !fits {
            return Err(bad(format!(
                "`regions.{key} = {r:?}` must be [x, y, width, height] with a positive size inside the {}x{} canvas",
                raw.width, raw.height
            )));
        }
        Ok(CanvasRect {
            x: r[0],
            y: r[1],
            w: r[2],
            h: r[3],
        })
    };
    let regions = Regions {
        mouth: rect("mouth", raw.regions.mouth)?,
        eyes: [
            rect("eye_right", raw.regions.eye_right)?,
            rect("eye_left", raw.regions.eye_left)?,
        ],
    };
    if raw.layers.is_empty() {
        return Err(bad("has no layers: add at least one [[layers]] table".into()));
    }
    let mut names = HashSet::new();
    let mut layers = Vec::with_capacity(raw.layers.len());
    for layer in raw.layers {
        if layer.name.trim().is_empty() {
            return Err(bad("a layer has an empty `name`".into()));
        }
        if !names.insert(layer.name.clone()) {
            return Err(bad(format!(
                "two layers are named `{}`: layer names must be unique",
                layer.name
            )));
        }
        for (key, value) in [("image", &layer.image), ("mesh", &layer.mesh)] {
            let path = Path::new(value);
            let inside = !value.is_empty()
                && path.is_relative()
                && path
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                return Err(bad(format!(
                    "layer `{}`: `{key} = \"{value}\"` must be a file name inside the avatar folder",
                    layer.name
                )));
            }
        }
        let group = match layer.group.as_str() {
            "head" => Group::Head,
            "body" => Group::Body,
            other => {
                return Err(bad(format!(
                    "layer `{}`: `group = \"{other}\"` is not one of: head, body",
                    layer.name
                )));
            }
        };
        if layer.mask.as_deref() == Some(layer.name.as_str()) {
            return Err(bad(format!("layer `{}` cannot be its own mask", layer.name)));
        }
        layers.push(LayerSpec {
            name: layer.name,
            image: layer.image,
            mesh: layer.mesh,
            group,
            mask: layer.mask,
        });
    }
    Ok(Manifest {
        name: raw.name,
        description: raw.description,
        licence: raw.licence,
        author: raw.author,
        width: raw.width,
        height: raw.height,
        fps: raw.fps,
        background,
        head: HeadRig {
            pivot: raw.head.pivot,
            max_roll_deg: raw.head.max_roll_deg,
        },
        regions,
        layers,
    })
}

/// `#rrggbb` → [r, g, b].
fn parse_colour(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}
