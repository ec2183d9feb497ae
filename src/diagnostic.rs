//! Problems found in a manifest or a model, reported all at once.
//!
//! The manifest loader and every provider's model check speak this one type, so the CLI prints
//! them the same way: `error: serverless.yml:12:5 functions.hello.timeout: expected a number`,
//! followed by what to do. A [`Diagnostics`] with at least one error is what makes a command
//! exit with code 2 (invalid manifest).

use std::fmt;

use serde::Serialize;

use crate::model::Location;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; the command goes on.
    Warning,
    /// The command cannot go on.
    Error,
}

/// One problem, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in which file, when known.
    pub location: Option<Location>,
    /// The dotted key path (`functions.hello.timeout`), when it is about a key.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error about `key`.
    pub fn error(key: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            location: None,
            key: Some(key.into()).filter(|k: &String| !k.is_empty()),
            message: message.into(),
            help: None,
        }
    }

    /// A warning about `key`.
    pub fn warning(key: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(key, message)
        }
    }

    /// Adds where it was written.
    pub fn at(mut self, location: Option<Location>) -> Diagnostic {
        self.location = location;
        self
    }

    /// Adds what to do.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Whether this one stops the command.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// A set of diagnostics; an error value when it holds at least one error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<_> = self.errors().collect();
        for (i, diagnostic) in errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_column_key_and_fix() {
        let diagnostic = Diagnostic::error("functions.hello.timeout", "expected a number")
            .at(Some(Location {
                file: "serverless.yml".into(),
                line: 12,
                column: 5,
            }))
            .help("write the timeout in seconds, e.g. `timeout: 10`");
        assert_eq!(
            diagnostic.to_string(),
            "serverless.yml:12:5: functions.hello.timeout: expected a number\n  help: write the timeout in seconds, e.g. `timeout: 10`"
        );
    }
}
