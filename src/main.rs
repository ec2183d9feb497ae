//! The `stratus` binary: parse the command line, run it, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use stratus::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 2 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = cli::exit_code(&error);
            let message = format!("{error:#}");
            if !message.is_empty() {
                let no_color = std::env::var_os("NO_COLOR").is_some();
                let prefix = if no_color || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    "error:".to_string()
                } else {
                    "\x1b[31merror:\x1b[0m".to_string()
                };
                eprintln!("{prefix} {message}");
            }
            ExitCode::from(code)
        }
    }
}
