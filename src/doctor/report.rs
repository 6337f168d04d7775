//! The text `persona doctor` prints: an aligned table of checks, a one-line tally, and the fix
//! commands in a form that can be pasted into a shell as is (worst problems first, each
//! command once, a comment naming the checks it fixes). Plain text, no colour: the CLI may add
//! it when writing to a terminal.

use std::fmt::Write as _;

use super::{Check, Status};

/// The report for `checks`, ending with a newline.
pub fn render_report(checks: &[Check]) -> String {
    let mut out = String::new();
    let status_width = checks
        .iter()
        .map(|c| c.status.label().len())
        .chain(["STATUS".len()])
        .max()
        .unwrap_or(0);
    let name_width = checks
        .iter()
        .map(|c| c.name.chars().count())
        .chain(["CHECK".len()])
        .max()
        .unwrap_or(0);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{:status_width$}  {:name_width$}  DETAIL", "STATUS", "CHECK");
    for check in checks {
        let line = format!(
            "{:status_width$}  {:name_width$}  {}",
            check.status.label(),
            check.name,
            one_line(&check.detail)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }

    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let _ = writeln!(
        out,
        "\n{} check{}: {} ok, {} warn, {} missing, {} failed.",
        checks.len(),
        if checks.len() == 1 { "" } else { "s" },
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Missing),
        count(Status::Fail)
    );

    let fixes = fixes(checks);
    if fixes.is_empty() {
        if checks.iter().all(|c| c.status == Status::Ok) {
            out.push_str("Nothing to fix.\n");
        }
        return out;
    }
    out.push_str("\nTo fix (run from the repository root):\n");
    for fix in fixes {
        let _ = writeln!(out, "  # {}", fix.names.join(", "));
        let _ = writeln!(out, "  {}", fix.command);
    }
    out
}

struct Fix<'a> {
    command: &'a str,
    names: Vec<&'a str>,
    worst: Status,
}

/// Distinct fix commands of the checks that are not ok, worst first, then in check order.
fn fixes(checks: &[Check]) -> Vec<Fix<'_>> {
    let mut fixes: Vec<Fix<'_>> = Vec::new();
    for check in checks.iter().filter(|c| c.status != Status::Ok) {
        let Some(command) = check.fix.as_deref() else {
            continue;
        };
        match fixes.iter_mut().find(|f| f.command == command) {
            Some(fix) => {
                fix.names.push(&check.name);
                fix.worst = fix.worst.max(check.status);
            }
            None => fixes.push(Fix {
                command,
                names: vec![&check.name],
                worst: check.status,
            }),
        }
    }
    // Stable: commands of equal severity keep the order of the checks.
    fixes.sort_by_key(|fix| std::cmp::Reverse(fix.worst));
    fixes
}

/// Details are one line in the table; a stray newline would break the columns.
fn one_line(detail: &str) -> String {
    detail.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Check> {
        vec![
            Check::new(
                "espeak-ng data",
                Status::Ok,
                "initialised at 22050 Hz, 120 languages installed",
            ),
            Check::new(
                "onnxruntime",
                Status::Missing,
                "not found at vendor/onnxruntime/libonnxruntime.so",
            )
            .with_fix("./setup.sh"),
            Check::new("ffmpeg", Status::Warn, "not on PATH").with_fix("apt-get install ffmpeg"),
            Check::new("ffprobe", Status::Warn, "not on PATH").with_fix("apt-get install ffmpeg"),
            Check::new(
                "model whisper-base.en",
                Status::Fail,
                "models/ggml-base.en.bin is not there",
            )
            .with_fix("curl -fL --create-dirs -o models/ggml-base.en.bin https://example.org/b"),
            Check::new("vulkan", Status::Warn, "no Vulkan loader\n(libvulkan.so.1)"),
        ]
    }

    #[test]
    fn the_table_is_aligned_and_the_fixes_are_listed_worst_first_once_each() {
        let report = render_report(&sample());
        let expected = "\
STATUS   CHECK                  DETAIL
ok       espeak-ng data         initialised at 22050 Hz, 120 languages installed
missing  onnxruntime            not found at vendor/onnxruntime/libonnxruntime.so
warn     ffmpeg                 not on PATH
warn     ffprobe                not on PATH
FAIL     model whisper-base.en  models/ggml-base.en.bin is not there
warn     vulkan                 no Vulkan loader (libvulkan.so.1)

6 checks: 1 ok, 3 warn, 1 missing, 1 failed.

To fix (run from the repository root):
  # model whisper-base.en
  curl -fL --create-dirs -o models/ggml-base.en.bin https://example.org/b
  # onnxruntime
  ./setup.sh
  # ffmpeg, ffprobe
  apt-get install ffmpeg
";
        assert_eq!(report, expected);
    }

    #[test]
    fn an_all_ok_report_says_there_is_nothing_to_fix() {
        let checks = [Check::new("codecs", Status::Ok, "libvpx v1.12.0, libopus 1.3.1")];
        let report = render_report(&checks);
        assert!(
            report.starts_with("STATUS  CHECK   DETAIL\nok      codecs  libvpx v1.12.0"),
            "{report}"
        );
        assert!(
            report.ends_with("1 check: 1 ok, 0 warn, 0 missing, 0 failed.\nNothing to fix.\n"),
            "{report}"
        );
    }

    #[test]
    fn fixes_of_passing_checks_are_not_listed() {
        let checks = [Check::new("x", Status::Ok, "fine").with_fix("do-nothing")];
        assert!(!render_report(&checks).contains("do-nothing"));
    }

    #[test]
    fn an_empty_report_still_has_a_header_and_a_tally() {
        let report = render_report(&[]);
        assert_eq!(
            report,
            "STATUS  CHECK  DETAIL\n\n0 checks: 0 ok, 0 warn, 0 missing, 0 failed.\nNothing to fix.\n"
        );
    }
}
