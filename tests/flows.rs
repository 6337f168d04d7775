//! The shipped flows, through the dialogue stage: valid answers advance, invalid ones are asked
//! again, branches branch, every answer lands in the session's JSON-lines file — and stays there
//! when the process is killed mid-flow.

mod common;

use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::repo;
use common::speaking::Rig;
use persona::dialogue::ScriptedDialogue;
use persona::dialogue::flow::Flow;
use persona::dialogue::stage::StageSettings;
use persona::dialogue::store::{AnswerStore, read_answers};
use persona::dialogue::tools::ToolRunner;
use serde_json::{Value, json};

fn flow(name: &str) -> Flow {
    Flow::load(&repo().join(format!("flows/{name}.toml"))).expect("the shipped flow loads")
}

/// A dialogue stage running `name` and saving answers into a fresh folder.
fn rig(name: &str) -> (Rig, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = AnswerStore::create(dir.path(), name).unwrap();
    let answers = store.path().to_path_buf();
    let rig = Rig::dialogue(
        Box::new(ScriptedDialogue::new(flow(name))),
        ToolRunner::new(Some(store)),
        StageSettings::default(),
    );
    (rig, answers, dir)
}

/// (field, value) of each saved answer.
fn saved(path: &Path) -> Vec<(String, Value)> {
    read_answers(path)
        .unwrap()
        .into_iter()
        .filter(|r| r["event"] == "answer")
        .map(|r| (r["field"].as_str().unwrap().to_string(), r["value"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinic_intake_checks_answers_saves_them_and_reads_them_back() {
    let (mut rig, answers, _dir) = rig("clinic-intake");
    let mut turn = async |said: &str| {
        rig.say(said).await;
        rig.reply().await
    };
    assert!(turn("hello").await.ends_with("What is your full name?"));
    assert_eq!(
        turn("Maria Gonzalez").await,
        "Thank you, Maria Gonzalez. What is your date of birth?"
    );
    // Not a date: the question comes again, with how to answer it.
    let again = turn("I'd rather not say").await;
    assert!(
        again.starts_with("Please say the date") && again.ends_with("What is your date of birth?"),
        "{again}"
    );
    assert!(
        turn("march fourteenth nineteen ninety")
            .await
            .ends_with("phone number to reach you on?")
    );
    assert!(
        turn("five five five")
            .await
            .starts_with("Please say the phone number digit by digit.")
    );
    assert_eq!(
        turn("five five five, one two three, four five six seven").await,
        "Do you have an appointment with us today?"
    );
    // No appointment: the branch asks why they came instead of who they are seeing.
    assert_eq!(turn("no I don't").await, "What brings you in today?");
    assert!(turn("a sore throat").await.starts_with("How urgent is it"));
    assert_eq!(
        turn("it can wait a few days").await,
        "Do you have health insurance?"
    );
    assert_eq!(turn("yes").await, "Which insurance company are you with?");
    assert!(
        turn("Blue Shield")
            .await
            .ends_with("email address should we send your appointment details to?")
    );
    let last = turn("maria dot gonzalez at example dot com").await;
    assert_eq!(
        last,
        "Let me read that back. You are Maria Gonzalez, born March 14th, 1990, and we can reach you on \
         555-123-4567. Thank you. Please take a seat, and someone will call your name shortly."
    );
    rig.stop().await;

    assert_eq!(
        saved(&answers),
        [
            ("full_name".into(), json!("Maria Gonzalez")),
            ("date_of_birth".into(), json!("1990-03-14")),
            ("phone".into(), json!("5551234567")),
            ("has_appointment".into(), json!("no")),
            ("reason".into(), json!("a sore throat")),
            ("urgency".into(), json!("can wait")),
            ("insured".into(), json!("yes")),
            ("insurer".into(), json!("Blue Shield")),
            ("email".into(), json!("maria.gonzalez@example.com")),
        ]
    );
    let records = read_answers(&answers).unwrap();
    assert_eq!(records.last().unwrap()["event"], "end");
    // Each answer keeps its type and what was actually said.
    assert_eq!(records[1]["type"], "date");
    assert_eq!(records[1]["heard"], "march fourteenth nineteen ninety");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recruiting_prescreen_branches_on_the_role_and_re_asks_invalid_answers() {
    let (mut rig, answers, _dir) = rig("recruiting-prescreen");
    let mut turn = async |said: &str| {
        rig.say(said).await;
        rig.reply().await
    };
    assert!(turn("hi").await.ends_with("what's your full name?"));
    assert!(
        turn("Sam Lee")
            .await
            .ends_with("authorized to work in this country?")
    );
    assert!(turn("maybe").await.starts_with("Sorry, please answer yes or no."));
    assert_eq!(turn("yes I am").await, "Are you eighteen or older?");
    assert!(turn("yep").await.starts_with("Which role are you applying for"));
    assert!(
        turn("astronaut")
            .await
            .starts_with("Please choose one of: warehouse associate, delivery driver or customer service.")
    );
    // Drivers are asked about their licence; the other roles skip that question.
    assert!(
        turn("I'd like to be a driver")
            .await
            .starts_with("Do you have a valid driving licence")
    );
    assert_eq!(
        turn("I do").await,
        "How many years of experience do you have in similar work?"
    );
    assert!(
        turn("about a hundred")
            .await
            .starts_with("Please say a number from 0 to 60.")
    );
    assert!(
        turn("three years")
            .await
            .starts_with("Are you looking for full-time or part-time")
    );
    assert_eq!(
        turn("full time please").await,
        "What is the earliest date you could start?"
    );
    assert!(
        turn("July first twenty twenty seven")
            .await
            .ends_with("phone number to reach you on?")
    );
    assert_eq!(turn("555 987 6543").await, "And your email address?");
    let last = turn("sam dot lee at mail dot example dot org").await;
    assert!(
        last.starts_with(
            "Thanks, Sam Lee. You're interested in the delivery driver role, with 3 years of experience, \
             available full-time, from July 1st, 2027."
        ),
        "{last}"
    );
    rig.stop().await;
    let fields: Vec<String> = saved(&answers).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "full_name",
            "work_authorized",
            "adult",
            "position",
            "driving_licence",
            "experience_years",
            "availability",
            "start_date",
            "phone",
            "email"
        ]
    );
    assert_eq!(saved(&answers)[5].1, json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ineligible_applicant_hears_why_and_the_flow_ends() {
    let (mut rig, answers, _dir) = rig("recruiting-prescreen");
    rig.say("hello").await;
    rig.reply().await;
    rig.say("Jo").await;
    rig.reply().await;
    rig.say("no I'm not").await;
    let ending = rig.reply().await;
    assert!(ending.contains("right to work"), "{ending}");
    assert!(!ending.contains("recruiter will be in touch"), "{ending}");
    rig.say("ok thanks").await;
    assert!(
        rig.reply().await.contains("recruiter will be in touch"),
        "later turns hear the closing"
    );
    rig.stop().await;
    assert_eq!(saved(&answers)[1], ("work_authorized".into(), json!("no")));
}

/// Reads reply lines from a `persona flow` child until it has printed `count` of them.
fn read_replies(out: &mut impl std::io::BufRead, count: usize) -> Vec<String> {
    let mut replies = Vec::new();
    let mut line = String::new();
    while replies.len() < count {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the flow process ended early"
        );
        if let Some(reply) = line.trim_end().strip_prefix("avatar: ") {
            replies.push(reply.to_string());
        }
    }
    replies
}

#[test]
fn killing_the_process_mid_flow_keeps_every_completed_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_persona"))
        .arg("flow")
        .arg(repo().join("flows/clinic-intake.toml"))
        .arg("--answers")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the persona binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let said = [
        "hello",
        "Ada Lovelace",
        "December tenth eighteen fifteen",
        "December tenth nineteen eighty five",
        "oh seven nine one one one two three four five six",
        "yes",
    ];
    for (n, line) in said.iter().enumerate() {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        // Each reply is printed after its answer was synced: wait for it before going on.
        let reply = read_replies(&mut stdout, 1).remove(0);
        if n == 2 {
            // 1815 is not a plausible date of birth: asked again.
            assert!(reply.starts_with("Please say the date"), "{reply}");
        }
    }
    // The next answer is typed, and the process is killed without warning, before or after
    // it handled it: either way, nothing already answered may be missing.
    writeln!(stdin, "Dr. Babbage").unwrap();
    let _ = stdin.flush();
    child.kill().unwrap();
    child.wait().unwrap();

    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one answer file per session: {files:?}");
    let answers = saved(&files[0]);
    assert!(answers.len() == 4 || answers.len() == 5, "{answers:?}");
    assert_eq!(
        answers[..4],
        [
            ("full_name".to_string(), json!("Ada Lovelace")),
            ("date_of_birth".to_string(), json!("1985-12-10")),
            ("phone".to_string(), json!("07911123456")),
            ("has_appointment".to_string(), json!("yes")),
        ]
    );
}
