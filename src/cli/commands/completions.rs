//! `stratus completions SHELL`: a completion script on stdout.

use clap::CommandFactory;

use crate::cli::Cli;

/// Writes the completion script for `shell` to stdout.
pub fn run(shell: clap_complete::Shell) {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "stratus",
        &mut std::io::stdout(),
    );
}
