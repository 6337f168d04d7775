use std::path::{Path, PathBuf};

use super::*;

fn mira_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/avatars")
        .join(DEFAULT_AVATAR)
}

/// A copy of the default avatar in a temporary folder, to break.
fn copy_of_mira() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(mira_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn edit_text(path: &Path, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, edit(text)).unwrap();
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_vec(&value).unwrap()).unwrap();
}

#[test]
fn the_default_avatar_loads_and_the_built_in_copy_is_the_same_files() {
    let on_disk = Avatar::load(&mira_dir()).unwrap();
    let builtin = Avatar::builtin();
    assert_eq!(on_disk.name, builtin.name);
    assert_eq!(on_disk.layers.len(), builtin.layers.len());
    let mut names: Vec<String> = std::fs::read_dir(mira_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    names.sort();
    let mut embedded: Vec<String> = embedded::FILES.iter().map(|(n, _)| n.to_string()).collect();
    embedded.sort();
    assert_eq!(
        names, embedded,
        "src/render/avatar/embedded.rs must list every file of the folder"
    );
    for (name, bytes) in embedded::FILES {
        assert_eq!(
            &std::fs::read(mira_dir().join(name)).unwrap()[..],
            *bytes,
            "{name} differs"
        );
    }
}

#[test]
fn the_default_avatar_has_the_parts_the_issue_asks_for() {
    let avatar = Avatar::builtin();
    assert_eq!(avatar.canvas_width_px, 1024);
    assert_eq!(avatar.fps, 25);
    assert!(!avatar.licence.is_empty());
    let names: Vec<&str> = avatar.layers.iter().map(|l| l.name.as_str()).collect();
    for part in [
        "face",
        "ears",
        "nose",
        "eye_whites",
        "irises",
        "eyelids",
        "brows",
        "mouth_cavity",
        "teeth_upper",
        "teeth_lower",
        "tongue",
        "lips",
        "hair_back",
        "hair_front",
        "neck",
        "body",
    ] {
        assert!(names.contains(&part), "no layer {part} in {names:?}");
    }
    // The iris and the teeth are clipped by the eye opening and the mouth's interior.
    let layer = |n: &str| avatar.layers.iter().find(|l| l.name == n).unwrap();
    let index = |n: &str| avatar.layers.iter().position(|l| l.name == n).unwrap();
    assert_eq!(layer("irises").mask, Some(index("eye_whites")));
    assert_eq!(layer("teeth_upper").mask, Some(index("mouth_cavity")));
    assert!(layer("mouth_cavity").is_mask_source);
    // Every motion channel moves something, except roll (the rig turns head layers itself).
    for channel in Channel::ALL {
        let driven = avatar
            .layers
            .iter()
            .flat_map(|l| &l.mesh.targets)
            .any(|t| t.drivers.iter().any(|d| d.channel == channel));
        assert_eq!(driven, channel != Channel::HeadRoll, "{}", channel.name());
    }
    assert!(avatar.static_prefix() >= 2, "background layers are drawn once");
}

/// Each broken folder must be rejected, naming the file and what is wrong with it.
#[test]
fn corrupt_or_incomplete_avatar_folders_are_rejected_with_the_file_and_the_problem() {
    type Break = fn(&Path);
    let cases: &[(&str, Break, &[&str])] = &[
        (
            "no manifest",
            |d| std::fs::remove_file(d.join("avatar.toml")).unwrap(),
            &["has no avatar.toml"],
        ),
        (
            "manifest not TOML",
            |d| {
                edit_text(&d.join("avatar.toml"), |t| {
                    t.replace("format = 1", "format = = 1")
                })
            },
            &["avatar.toml", "line"],
        ),
        (
            "manifest without licence",
            |d| {
                edit_text(&d.join("avatar.toml"), |t| {
                    t.replace("licence = ", "# licence = ")
                })
            },
            &["avatar.toml", "missing field `licence`"],
        ),
        (
            "unknown manifest key",
            |d| {
                edit_text(&d.join("avatar.toml"), |t| {
                    t.replace("fps = 25", "fps = 25\nframerate = 30")
                })
            },
            &["avatar.toml", "unknown field `framerate`"],
        ),
        (
            "bad colour",
            |d| edit_text(&d.join("avatar.toml"), |t| t.replace("top = \"#", "top = \"#zz")),
            &["avatar.toml", "background.top", "#rrggbb"],
        ),
        (
            "mask names a later layer",
            |d| {
                edit_text(&d.join("avatar.toml"), |t| {
                    t.replace("mask = \"eye_whites\"", "mask = \"brows\"")
                })
            },
            &["avatar.toml", "`irises`", "no earlier layer"],
        ),
        (
            "path leaves the folder",
            |d| {
                edit_text(&d.join("avatar.toml"), |t| {
                    t.replace("image = \"nose.png\"", "image = \"../nose.png\"")
                })
            },
            &["avatar.toml", "layer `nose`", "inside the avatar folder"],
        ),
        (
            "duplicate layer name",
            |d| {
                edit_text(&d.join("avatar.toml"), |t| {
                    t.replace("name = \"ears\"", "name = \"neck\"")
                })
            },
            &["avatar.toml", "two layers are named `neck`"],
        ),
        (
            "image missing",
            |d| std::fs::remove_file(d.join("face.png")).unwrap(),
            &["face.png", "is missing", "`image` of layer `face`"],
        ),
        (
            "image is not a PNG",
            |d| std::fs::write(d.join("face.png"), b"GIF89a....").unwrap(),
            &["face.png", "is not a PNG"],
        ),
        (
            "image truncated",
            |d| {
                let bytes = std::fs::read(d.join("face.png")).unwrap();
                std::fs::write(d.join("face.png"), &bytes[..bytes.len() / 2]).unwrap();
            },
            &["face.png", "broken PNG"],
        ),
        (
            "mesh missing",
            |d| std::fs::remove_file(d.join("lips.json")).unwrap(),
            &["lips.json", "is missing", "`mesh` of layer `lips`"],
        ),
        (
            "mesh not JSON",
            |d| std::fs::write(d.join("lips.json"), b"{\"vertices\": [[1, 2],").unwrap(),
            &["lips.json", "not a valid mesh file", "line 1"],
        ),
        (
            "triangle out of range",
            |d| {
                edit_json(&d.join("nose.json"), |m| {
                    m["triangles"][3] = serde_json::json!([0, 1, 99999])
                })
            },
            &["nose.json", "triangle 3", "99999", "only"],
        ),
        (
            "uvs missing",
            |d| {
                edit_json(&d.join("nose.json"), |m| {
                    m["uvs"].as_array_mut().unwrap().pop();
                })
            },
            &["nose.json", "uvs"],
        ),
        (
            "uv outside the image",
            |d| {
                edit_json(&d.join("nose.json"), |m| {
                    m["uvs"][0] = serde_json::json!([-5.0, 1.0])
                })
            },
            &["nose.json", "uv 0", "inside the"],
        ),
        (
            "unknown channel",
            |d| {
                edit_json(&d.join("brows.json"), |m| {
                    let targets = m["targets"].as_object_mut().unwrap();
                    let t = targets.remove("browInnerUp").unwrap();
                    targets.insert("browsUp".into(), t);
                })
            },
            &["brows.json", "`browsUp` is not a motion channel", "browInnerUp"],
        ),
        (
            "sign on a one-sided channel",
            |d| {
                edit_json(&d.join("teeth_lower.json"), |m| {
                    let targets = m["targets"].as_object_mut().unwrap();
                    let t = targets.remove("jawOpen").unwrap();
                    targets.insert("jawOpen+".into(), t);
                })
            },
            &["teeth_lower.json", "jawOpen+", "only signed channels"],
        ),
        (
            "offsets do not match vertices",
            |d| {
                edit_json(&d.join("teeth_lower.json"), |m| {
                    m["targets"]["jawOpen"]["offsets"].as_array_mut().unwrap().pop();
                })
            },
            &["teeth_lower.json", "target `jawOpen`", "offsets"],
        ),
        (
            "roll target on a body layer",
            |d| {
                edit_json(&d.join("neck.json"), |m| {
                    m["targets"]["headRoll"] = serde_json::json!({"vertices": [0], "offsets": [[1.0, 0.0]]});
                })
            },
            &["neck.json", "headRoll", "head layers"],
        ),
    ];
    for (what, break_it, expected) in cases {
        let dir = copy_of_mira();
        break_it(dir.path());
        let error = match Avatar::load(dir.path()) {
            Ok(_) => panic!("{what}: the broken avatar loaded"),
            Err(e) => e.to_string(),
        };
        for needle in *expected {
            assert!(error.contains(needle), "{what}: `{needle}` not in: {error}");
        }
    }
}

#[test]
fn a_missing_folder_says_how_to_point_at_one() {
    let error = Avatar::load(Path::new("/nonexistent/avatars/bob"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("/nonexistent/avatars/bob") && error.contains("[stages.render] avatar"),
        "{error}"
    );
}

#[test]
fn halving_a_texture_averages_premultiplied_texels() {
    let texture = Texture {
        width: 3,
        height: 2,
        rgba: [
            [255, 0, 0, 255],
            [0, 0, 0, 0],
            [10, 10, 10, 10],
            [255, 0, 0, 255],
            [0, 0, 0, 0],
            [10, 10, 10, 10],
        ]
        .concat(),
    };
    let half = texture.halved();
    assert_eq!((half.width, half.height), (2, 1));
    assert_eq!(&half.rgba[..4], &[128, 0, 0, 128]);
    assert_eq!(
        &half.rgba[4..],
        &[10, 10, 10, 10],
        "the odd column is clamped, not dropped"
    );
}
