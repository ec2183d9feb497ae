//! Everything the CLI prints, human or `--json`.
//!
//! Results go to stdout — one JSON document with `--json`, text otherwise; messages, warnings
//! and progress go to stderr. Colour only on a terminal and without `--no-color`/`NO_COLOR`;
//! spinners only when stderr is a terminal, never with `--json` or in CI (`CI` set).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::providers::{Action, Plan};

/// The printer every command uses.
#[derive(Debug, Clone)]
pub struct Output {
    json: bool,
    color: bool,
    progress: bool,
    verbose: u8,
}

/// ANSI styles used in human output.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// Creations.
    Green,
    /// Updates.
    Yellow,
    /// Deletions and errors.
    Red,
    /// Unchanged things and secondary text.
    Dim,
    /// Headings.
    Bold,
}

impl Output {
    /// An output for these global flags, looking at the terminal and `CI`.
    pub fn new(json: bool, no_color: bool, verbose: u8) -> Output {
        let stderr_tty = std::io::stderr().is_terminal();
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        Output {
            json,
            color: !no_color && stderr_tty,
            progress: stderr_tty && !json && !ci,
            verbose,
        }
    }

    /// Whether `--json` was given.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// How verbose (`-v` count).
    pub fn verbosity(&self) -> u8 {
        self.verbose
    }

    /// `text` in `style`, when colours are on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Red => "31",
            Style::Dim => "2",
            Style::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// A progress message on stderr (suppressed with `--json` unless verbose).
    pub fn status(&self, message: impl AsRef<str>) {
        if !self.json || self.verbose > 0 {
            eprintln!("{}", message.as_ref());
        }
    }

    /// A detail shown only with `-v`.
    pub fn detail(&self, message: impl AsRef<str>) {
        if self.verbose > 0 {
            eprintln!("{}", self.paint(Style::Dim, message.as_ref()));
        }
    }

    /// A warning on stderr.
    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!(
            "{} {}",
            self.paint(Style::Yellow, "warning:"),
            message.as_ref()
        );
    }

    /// Prints every warning of `diagnostics` on stderr.
    pub fn warnings(&self, diagnostics: &Diagnostics) {
        for diagnostic in diagnostics.warnings() {
            self.warn(diagnostic.to_string());
        }
    }

    /// Prints a list of diagnostics (errors and warnings) on stderr.
    pub fn diagnostic(&self, diagnostic: &Diagnostic) {
        match diagnostic.severity {
            Severity::Warning => self.warn(diagnostic.to_string()),
            Severity::Error => eprintln!("{} {diagnostic}", self.paint(Style::Red, "error:")),
        }
    }

    /// Prints a command's result on stdout: `value` as JSON with `--json`, else `human()`.
    pub fn result<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        let mut stdout = std::io::stdout().lock();
        let text = if self.json {
            serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        } else {
            human()
        };
        if text.is_empty() {
            return;
        }
        // A closed pipe (`stratus info | head -1`) is not an error worth reporting.
        let _ = writeln!(stdout, "{}", text.trim_end_matches('\n'));
    }

    /// A spinner on stderr while something runs; `None` when not on a terminal.
    pub fn spinner(&self, message: impl Into<String>) -> Option<ProgressBar> {
        if !self.progress {
            return None;
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(bar)
    }

    /// The human diff of a plan.
    pub fn render_plan(&self, plan: &Plan) -> String {
        let mut out = String::new();
        let region = plan
            .region
            .as_deref()
            .map(|r| format!(", region {r}"))
            .unwrap_or_default();
        out.push_str(&self.paint(
            Style::Bold,
            &format!(
                "Plan for {} (stage {}{region}) on {}:",
                plan.service, plan.stage, plan.provider
            ),
        ));
        out.push('\n');
        if plan.changes.is_empty() {
            out.push_str("  nothing deployed and nothing to deploy\n");
        }
        for change in &plan.changes {
            let style = match change.action {
                Action::Create => Style::Green,
                Action::Update => Style::Yellow,
                Action::Delete => Style::Red,
                Action::Unchanged => Style::Dim,
            };
            let what: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
            let summary = if change.action == Action::Update && !what.is_empty() {
                format!(" ({})", what.join(", "))
            } else {
                String::new()
            };
            let line = format!(
                "  {} {} {} {}{summary}",
                change.action.mark(),
                change.action.verb(),
                change.kind.label(),
                change.name
            );
            out.push_str(&self.paint(style, &line));
            out.push('\n');
            if change.action == Action::Update {
                for field in &change.fields {
                    if field.field == "code" && !field.sensitive {
                        continue;
                    }
                    out.push_str(&format!(
                        "      {}: {} → {}\n",
                        field.field,
                        field.shown_old().unwrap_or("(none)"),
                        field.shown_new().unwrap_or("(none)")
                    ));
                }
            }
        }
        let (create, update, delete, unchanged) = plan.counts();
        if plan.has_changes() {
            out.push_str(&format!(
                "{create} to create, {update} to update, {delete} to delete, {unchanged} unchanged."
            ));
        } else {
            out.push_str("No changes: what is deployed matches the manifest.");
        }
        out
    }
}
