//! Running pip and npm: their output is captured (and echoed to stderr with `-v`, never to
//! stdout, which `--json` owns), so it can be shown when they fail and parsed for the cause.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::thread;

/// How a tool run ended.
pub(crate) struct Finished {
    /// Exit success.
    pub success: bool,
    /// stdout then stderr, as text.
    pub output: String,
}

/// Runs `command`, capturing its output; with `verbose`, each line is also copied to stderr as
/// it comes, after `label` (installs may run side by side). An error means it could not start
/// (`NotFound` when the program is missing).
pub(crate) fn run(command: &mut Command, label: &str, verbose: bool) -> io::Result<Finished> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let pump = |stream: Option<Box<dyn Read + Send>>| {
        let label = label.to_string();
        thread::spawn(move || {
            let mut collected = String::new();
            let Some(stream) = stream else {
                return collected;
            };
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                let text = String::from_utf8_lossy(&line);
                if verbose {
                    let _ = write!(io::stderr().lock(), "{label}: {text}");
                }
                collected.push_str(&text);
                line.clear();
            }
            collected
        })
    };
    let out = pump(stdout.map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = pump(stderr.map(|s| Box::new(s) as Box<dyn Read + Send>));
    let status = child.wait()?;
    let mut output = out.join().unwrap_or_default();
    output.push_str(&err.join().unwrap_or_default());
    Ok(Finished {
        success: status.success(),
        output,
    })
}

/// The trimmed stdout of a quick query (`python3 -c ...`), or `None` if it did not run.
pub(crate) fn quick_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The last `count` non-empty lines of `output`, indented, for an error message.
pub(crate) fn tail(output: &str, count: usize) -> String {
    let lines: Vec<&str> = output
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(count);
    lines[start..]
        .iter()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
