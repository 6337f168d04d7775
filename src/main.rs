//! The `persona` command line. Everything real lives in the library; this is the edge that knows
//! about arguments, files, environment variables and exit codes.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
