use std::os::unix::fs::symlink;

use super::*;

const ELF_STUB: &[u8] = b"\x7fELF\x02\x01\x01\0 not really a library";

fn ggml_stub(len: usize) -> Vec<u8> {
    let mut bytes = GGML_MAGIC_BYTES.to_vec();
    bytes.resize(len.max(4), 0);
    bytes
}

/// A manifest with one downloaded model (5 bytes) and one synthetic one.
fn manifest() -> Manifest {
    let text = "\
[[model]]
name = \"whisper-test\"
file = \"ggml-test.bin\"
url = \"https://example.org/ggml-test.bin\"
size_bytes = 5
licence = \"MIT\"
used_by = [\"stt/whisper\"]
description = \"\"

[[model]]
name = \"made-here\"
file = \"made.bin\"
url = \"\"
licence = \"generated\"
used_by = [\"tests\"]
description = \"\"
synthetic = true
";
    Manifest::parse(text, Path::new("test-manifest.toml")).expect("valid test manifest")
}

fn vendor_ort(root: &Path, real_name: &str, contents: &[u8]) {
    let dir = root.join("vendor/onnxruntime");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(real_name), contents).unwrap();
    if real_name != "libonnxruntime.so" {
        symlink(real_name, dir.join("libonnxruntime.so")).unwrap();
    }
}

#[test]
fn vendored_onnxruntime_of_the_right_version_is_ok() {
    let root = tempfile::tempdir().unwrap();
    vendor_ort(root.path(), "libonnxruntime.so.1.31.1", ELF_STUB);
    let check = onnxruntime(None, root.path());
    assert_eq!(check.status, Status::Ok, "{check:?}");
    assert_eq!(
        check.detail,
        "1.31.1 at vendor/onnxruntime/libonnxruntime.so -> libonnxruntime.so.1.31.1"
    );
    assert_eq!(check.fix, None);
    // An empty ORT_DYLIB_PATH counts as unset, as it does for `ort`.
    assert_eq!(onnxruntime(Some(OsStr::new("")), root.path()).status, Status::Ok);
}

#[test]
fn onnxruntime_absent_from_the_repo_is_missing_and_setup_fetches_it() {
    let root = tempfile::tempdir().unwrap();
    let check = onnxruntime(None, root.path());
    assert_eq!(check.status, Status::Missing, "{check:?}");
    assert!(check.detail.contains(ORT_VENDORED_PATH), "{}", check.detail);
    assert_eq!(check.fix.as_deref(), Some("./setup.sh"));

    // A dangling symlink (the versioned file was deleted) is just as missing.
    let dir = root.path().join("vendor/onnxruntime");
    fs::create_dir_all(&dir).unwrap();
    symlink("libonnxruntime.so.1.31.1", dir.join("libonnxruntime.so")).unwrap();
    assert_eq!(onnxruntime(None, root.path()).status, Status::Missing);
}

#[test]
fn onnxruntime_of_another_version_fails() {
    let root = tempfile::tempdir().unwrap();
    vendor_ort(root.path(), "libonnxruntime.so.1.22.0", ELF_STUB);
    let check = onnxruntime(None, root.path());
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert!(
        check.detail.contains("1.22.0") && check.detail.contains("1.31.x"),
        "{}",
        check.detail
    );
    assert_eq!(
        check.fix.as_deref(),
        Some("rm -rf vendor/onnxruntime && ./setup.sh")
    );
}

#[test]
fn onnxruntime_that_is_not_a_library_fails() {
    let root = tempfile::tempdir().unwrap();
    vendor_ort(root.path(), "libonnxruntime.so.1.31.1", b"<html>404</html>");
    let check = onnxruntime(None, root.path());
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert!(check.detail.contains("not a shared library"), "{}", check.detail);
}

#[test]
fn onnxruntime_without_a_visible_version_is_a_warning() {
    let root = tempfile::tempdir().unwrap();
    vendor_ort(root.path(), "libonnxruntime.so", ELF_STUB);
    let check = onnxruntime(None, root.path());
    assert_eq!(check.status, Status::Warn, "{check:?}");
    assert!(check.detail.contains("not visible"), "{}", check.detail);
}

#[test]
fn ort_dylib_path_overrides_the_vendored_copy() {
    let root = tempfile::tempdir().unwrap();
    vendor_ort(root.path(), "libonnxruntime.so.1.31.1", ELF_STUB);
    let elsewhere = tempfile::tempdir().unwrap();
    let lib = elsewhere.path().join("libonnxruntime.so.1.31.0");
    fs::write(&lib, ELF_STUB).unwrap();

    let check = onnxruntime(Some(lib.as_os_str()), root.path());
    assert_eq!(check.status, Status::Ok, "{check:?}");
    assert!(
        check.detail.starts_with("1.31.0 at ORT_DYLIB_PATH="),
        "{}",
        check.detail
    );

    // Pointing it at nothing fails, even with a good vendored copy: `ort` would not look there.
    let gone = elsewhere.path().join("nope.so");
    let check = onnxruntime(Some(gone.as_os_str()), root.path());
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert!(check.detail.contains("does not exist"), "{}", check.detail);
    assert_eq!(check.fix.as_deref(), Some("unset ORT_DYLIB_PATH && ./setup.sh"));
}

#[test]
fn ort_versions_are_read_from_file_names() {
    let cases = [
        ("libonnxruntime.so.1.31.1", Some("1.31.1")),
        ("libonnxruntime.so.1.22", Some("1.22")),
        ("libonnxruntime.so.1", None),
        ("libonnxruntime.so", None),
        ("libonnxruntime.so.1.31.x", None),
        ("libonnxruntime.so.1..1", None),
        ("libonnxruntime.1.31.1.dylib", None),
    ];
    for (name, expected) in cases {
        assert_eq!(ort_version_from_file_name(name), expected, "{name}");
    }
}

#[test]
fn manifest_models_are_present_missing_or_the_wrong_size() {
    let root = tempfile::tempdir().unwrap();
    let models = root.path().join("models");
    fs::create_dir(&models).unwrap();
    let m = manifest();

    let checks = manifest_models(&m, &models, root.path(), &[]);
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].name, "model whisper-test");
    assert_eq!(checks[0].status, Status::Missing, "{:?}", checks[0]);
    assert_eq!(
        checks[0].detail,
        "models/ggml-test.bin is not there (optional: stt/whisper, 5 bytes)"
    );
    assert_eq!(
        checks[0].fix.as_deref(),
        Some("curl -fL --create-dirs -o models/ggml-test.bin https://example.org/ggml-test.bin")
    );
    assert_eq!(checks[1].status, Status::Missing);
    assert_eq!(checks[1].fix.as_deref(), Some("persona models synth"));

    fs::write(models.join("ggml-test.bin"), b"abc").unwrap();
    fs::write(models.join("made.bin"), b"anything").unwrap();
    let checks = manifest_models(&m, &models, root.path(), &[]);
    assert_eq!(checks[0].status, Status::Fail, "{:?}", checks[0]);
    assert!(
        checks[0].detail.contains("is 3 bytes, the manifest says 5"),
        "{}",
        checks[0].detail
    );
    assert!(checks[0].fix.as_deref().is_some_and(|f| f.starts_with("curl ")));
    assert_eq!(
        checks[1].status,
        Status::Ok,
        "a synthetic model has no fixed size"
    );

    fs::write(models.join("ggml-test.bin"), b"abcde").unwrap();
    let checks = manifest_models(&m, &models, root.path(), &[]);
    assert_eq!(checks[0].status, Status::Ok, "{:?}", checks[0]);
    assert_eq!(checks[0].detail, "models/ggml-test.bin (5 bytes)");
    assert_eq!(checks[0].fix, None);
}

#[test]
fn fix_commands_quote_paths_outside_the_repo_that_need_it() {
    let root = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let odd = models.path().join("my models");
    let check = manifest_model(
        &manifest().models[0],
        ModelStatus::Missing,
        &odd,
        root.path(),
        &[],
    );
    let expected = format!(
        "curl -fL --create-dirs -o '{}/ggml-test.bin' https://example.org/ggml-test.bin",
        odd.display()
    );
    assert_eq!(check.fix.as_deref(), Some(expected.as_str()));
}

/// A pipeline file in `root/pipelines/` whose STT model is `root/models/<model>`, written with
/// `contents` so the pipeline loads; tests then change or delete it.
fn pipeline_with_model(root: &Path, model: &str, contents: &[u8]) -> PipelineConfig {
    fs::create_dir_all(root.join("pipelines")).unwrap();
    fs::create_dir_all(root.join("models")).unwrap();
    fs::write(root.join("models").join(model), contents).unwrap();
    let text = format!("name = \"listen\"\n[stages.stt]\nmodel = \"../models/{model}\"\n");
    PipelineConfig::parse(&root.join("pipelines/listen.toml"), &text).expect("valid pipeline")
}

#[test]
fn a_pipelines_stt_model_is_checked_and_its_manifest_entry_gives_the_fix() {
    let root = tempfile::tempdir().unwrap();
    let m = manifest();
    let pipeline = pipeline_with_model(root.path(), "ggml-test.bin", &ggml_stub(5));
    let model = root.path().join("models/ggml-test.bin");

    let checks = pipeline_files(&pipeline, &m, root.path());
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].name, "pipeline listen: stt model");
    assert_eq!(checks[0].status, Status::Ok, "{:?}", checks[0]);

    fs::write(&model, ggml_stub(9)).unwrap();
    let check = &pipeline_files(&pipeline, &m, root.path())[0];
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert!(
        check.detail.contains("is 9 bytes, the manifest says 5"),
        "{}",
        check.detail
    );
    assert!(
        check.detail.contains("`stages.stt.model` of pipeline listen"),
        "{}",
        check.detail
    );
    assert!(
        check
            .fix
            .as_deref()
            .is_some_and(|f| f.starts_with("curl ") && f.contains("ggml-test.bin"))
    );

    fs::write(&model, b"version https://git-lfs.github.com/spec/v1\n").unwrap();
    let check = &pipeline_files(&pipeline, &m, root.path())[0];
    assert_eq!(check.status, Status::Fail);
    assert!(
        check.detail.contains("not a whisper.cpp model"),
        "{}",
        check.detail
    );

    fs::remove_file(&model).unwrap();
    let check = &pipeline_files(&pipeline, &m, root.path())[0];
    assert_eq!(check.status, Status::Fail);
    assert!(check.detail.contains("does not exist"), "{}", check.detail);

    // The same missing file in the manifest's list is a failure too: this pipeline needs it.
    let models = root.path().join("models");
    let listed = manifest_models(&m, &models, root.path(), std::slice::from_ref(&pipeline));
    assert_eq!(listed[0].status, Status::Fail, "{:?}", listed[0]);
    assert!(
        listed[0].detail.contains("needed by pipeline `listen`"),
        "{}",
        listed[0].detail
    );
    assert_eq!(
        listed[1].status,
        Status::Missing,
        "the synthetic model is not used"
    );
}

#[test]
fn a_model_the_manifest_does_not_list_is_checked_without_a_fix() {
    let root = tempfile::tempdir().unwrap();
    let pipeline = pipeline_with_model(root.path(), "my-finetune.bin", &ggml_stub(64));
    let check = &pipeline_files(&pipeline, &manifest(), root.path())[0];
    assert_eq!(check.status, Status::Ok, "{check:?}");
    assert_eq!(check.detail, "models/my-finetune.bin (64 bytes)");

    fs::remove_file(root.path().join("models/my-finetune.bin")).unwrap();
    let check = &pipeline_files(&pipeline, &manifest(), root.path())[0];
    assert_eq!(check.status, Status::Fail);
    assert_eq!(check.fix, None);
}

#[test]
fn a_pipelines_dialogue_flow_must_exist() {
    let root = tempfile::tempdir().unwrap();
    let flow = root.path().join("intake.toml");
    fs::write(&flow, "").unwrap();
    let text = "name = \"desk\"\n[stages.dialogue]\nflow = \"intake.toml\"\n";
    let pipeline = PipelineConfig::parse(&root.path().join("desk.toml"), text).unwrap();
    let checks = pipeline_files(&pipeline, &manifest(), root.path());
    assert_eq!(checks.len(), 1);
    assert_eq!(
        (checks[0].name.as_str(), checks[0].status),
        ("pipeline desk: dialogue flow", Status::Ok)
    );

    fs::remove_file(&flow).unwrap();
    let check = &pipeline_files(&pipeline, &manifest(), root.path())[0];
    assert_eq!(check.status, Status::Fail);
    assert_eq!(
        check.detail,
        "intake.toml does not exist (`stages.dialogue.flow` of pipeline desk (desk.toml))"
    );
}

#[test]
fn a_pipeline_without_files_has_no_file_checks() {
    let checks = pipeline_files(&PipelineConfig::embedded_default(), &manifest(), Path::new("/"));
    assert!(checks.is_empty(), "{checks:?}");
}

#[test]
fn espeak_engine_and_voices() {
    let ok = espeak_engine(Ok(EspeakInfo {
        sample_rate_hz: 22_050,
        languages: 120,
    }));
    assert_eq!(
        (ok.status, ok.detail.as_str()),
        (Status::Ok, "initialised at 22050 Hz, 120 languages installed")
    );

    let missing = TtsError::DataMissing {
        detail: "espeak_Initialize returned -1".into(),
    };
    let failed = espeak_engine(Err(&missing));
    assert_eq!(failed.status, Status::Fail);
    assert!(failed.detail.contains("espeak-ng-data"), "{}", failed.detail);
    assert_eq!(failed.fix.as_deref(), Some("./setup.sh"));

    let fine = espeak_voice("en-us", &[], None);
    assert_eq!(
        (fine.status, fine.detail.as_str()),
        (Status::Ok, "the default voice")
    );
    let unknown = TtsError::UnknownVoice {
        voice: "xx-klingon".into(),
    };
    let users = ["desk".to_string(), "kiosk".to_string()];
    let bad = espeak_voice("xx-klingon", &users, Some(&unknown));
    assert_eq!(bad.name, "espeak-ng voice xx-klingon");
    assert_eq!(bad.status, Status::Fail);
    assert!(
        bad.detail.contains("used by pipelines `desk`, `kiosk`"),
        "{}",
        bad.detail
    );
    assert!(bad.detail.contains("espeak-ng --voices"), "{}", bad.detail);
}

#[test]
fn codec_versions_are_reported() {
    let check = codecs(Some("v1.12.0".into()), None);
    assert_eq!(check.status, Status::Ok);
    assert_eq!(check.detail, "libvpx v1.12.0, libopus (version unknown)");
}

#[test]
fn vulkan_names_software_and_gpu_drivers_and_only_warns_when_absent() {
    let loader = Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/libvulkan.so.1"));
    let mesa = vec![
        "intel_icd.x86_64.json".to_string(),
        "lvp_icd.x86_64.json".to_string(),
        "radeon_icd.x86_64.json".to_string(),
    ];

    let none = vulkan(&VulkanProbe::default());
    assert_eq!(none.status, Status::Warn);
    assert_eq!(none.fix.as_deref(), Some(VULKAN_FIX));

    let no_icd = vulkan(&VulkanProbe {
        loader: loader.clone(),
        ..VulkanProbe::default()
    });
    assert_eq!(no_icd.status, Status::Warn);
    assert!(no_icd.detail.contains("no drivers"), "{}", no_icd.detail);

    let software = vulkan(&VulkanProbe {
        loader: loader.clone(),
        icd_files: mesa.clone(),
        ..VulkanProbe::default()
    });
    assert_eq!(software.status, Status::Ok);
    assert_eq!(
        software.detail,
        "/usr/lib/x86_64-linux-gnu/libvulkan.so.1; drivers: intel, lvp, radeon; \
         software only (lavapipe): the GPU renderer will run on the CPU"
    );

    let mesa_gpu = vulkan(&VulkanProbe {
        loader: loader.clone(),
        icd_files: mesa.clone(),
        render_node: true,
        ..VulkanProbe::default()
    });
    assert!(
        mesa_gpu.detail.contains("a GPU through Mesa"),
        "{}",
        mesa_gpu.detail
    );

    let mut with_nvidia = mesa;
    with_nvidia.push("nvidia_icd.json".to_string());
    let nvidia = vulkan(&VulkanProbe {
        loader,
        icd_files: with_nvidia,
        nvidia_driver: true,
        render_node: true,
    });
    assert_eq!(nvidia.status, Status::Ok);
    assert!(nvidia.detail.contains("NVIDIA"), "{}", nvidia.detail);
}

#[test]
fn ldconfig_output_is_searched_by_exact_soname() {
    let output = "\
1234 libs found in cache `/etc/ld.so.cache'
\tlibvulkan_lvp.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libvulkan_lvp.so
\tlibvulkan.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libvulkan.so.1
\tlibvpx.so.7 (libc6,x86-64) => /lib/x86_64-linux-gnu/libvpx.so.7
";
    assert_eq!(
        find_in_ldconfig(output, "libvulkan.so.1"),
        Some(PathBuf::from("/lib/x86_64-linux-gnu/libvulkan.so.1"))
    );
    assert_eq!(find_in_ldconfig(output, "libvulkan.so"), None);
    assert_eq!(find_in_ldconfig("", "libvulkan.so.1"), None);
}

#[test]
fn tools_are_found_on_path_only_when_executable() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    fs::write(a.path().join("ffmpeg"), "").unwrap(); // not executable: skipped
    let exe = b.path().join("ffmpeg");
    fs::write(&exe, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let path_var = std::env::join_paths([a.path(), b.path()]).unwrap();

    assert_eq!(find_on_path("ffmpeg", &path_var), Some(exe.clone()));
    assert_eq!(find_on_path("ffprobe", &path_var), None);

    let found = tool("ffmpeg", Some(&exe));
    assert_eq!(found.status, Status::Ok);
    let absent = tool("ffprobe", None);
    assert_eq!(absent.status, Status::Warn);
    assert_eq!(absent.fix.as_deref(), Some(FFMPEG_FIX));
}

#[test]
fn sizes_read_like_download_pages() {
    assert_eq!(human_size(5), "5 bytes");
    assert_eq!(human_size(4_885), "4.9 kB");
    assert_eq!(human_size(147_964_211), "148.0 MB");
    assert_eq!(human_size(1_500_000_000), "1.50 GB");
}

#[test]
fn serve_priority_warns_with_a_fix_only_when_nothing_could_be_raised() {
    use crate::runtime::priority::Granted;
    let realtime = serve_priority(&Granted::Realtime(10));
    assert_eq!(realtime.status, Status::Ok);
    assert!(realtime.detail.contains("SCHED_FIFO"), "{realtime:?}");
    assert_eq!(serve_priority(&Granted::Nice(-10)).status, Status::Ok);
    let refused = serve_priority(&Granted::Unchanged(
        "SCHED_FIFO refused: Operation not permitted".into(),
    ));
    assert_eq!(refused.status, Status::Warn);
    assert!(refused.detail.contains("Operation not permitted"), "{refused:?}");
    assert!(
        refused.fix.as_deref().is_some_and(|f| f.contains("cap_sys_nice")),
        "{refused:?}"
    );
}
