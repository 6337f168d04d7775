//! `persona flow`: rehearse a scripted flow by typing, without audio.
//!
//! Each line on standard input is one thing the visitor says; each reply is printed on its own
//! line as `avatar: …`, after the answer it records is synced to the answer file — exactly what
//! the dialogue stage does in a session, minus the speech. Useful for writing flows, and for
//! checking that answers survive a crash (kill the process at any point).

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;

use persona::dialogue::flow::{Flow, FlowEngine};
use persona::dialogue::store::AnswerStore;
use persona::dialogue::tools::ToolRunner;
use persona::dialogue::{ScriptedDialogue, ToolOutcome};

use super::{CommandResult, Failure};

#[derive(clap::Args)]
pub struct FlowArgs {
    /// The flow file (e.g. flows/clinic-intake.toml).
    flow: PathBuf,
    /// Save answers to a new JSON-lines file in this folder.
    #[arg(long)]
    answers: Option<PathBuf>,
}

pub fn run(args: FlowArgs) -> CommandResult {
    let flow = Flow::load(&args.flow).map_err(Failure::usage)?;
    let store = match &args.answers {
        Some(dir) => Some(AnswerStore::create(dir, &flow.name).map_err(Failure::usage)?),
        None => None,
    };
    if let Some(store) = &store {
        eprintln!("answers go to {}", store.path().display());
    }
    let mut runner = ToolRunner::new(store);
    let mut engine = FlowEngine::new(flow);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    eprintln!("type what the visitor says, one line per turn (Ctrl-D to stop)");
    for line in stdin.lock().lines() {
        let line = line.map_err(Failure::runtime)?;
        let turn = engine.handle(&line);
        for call in ScriptedDialogue::tool_calls(&turn) {
            if let ToolOutcome::Failed(problem) = runner.run(&call) {
                return Err(Failure::runtime(anyhow::anyhow!("{problem}")));
            }
        }
        writeln!(stdout, "avatar: {}", turn.say).map_err(Failure::runtime)?;
        stdout.flush().map_err(Failure::runtime)?;
    }
    Ok(())
}
