//! The command line: clap definitions, and one module per command.
//!
//! `main.rs` parses [`Cli`], calls [`run`], and maps the error to an exit code with
//! [`exit_code`]: 0 ok, 1 failure, 2 usage or invalid manifest (and `plan
//! --detailed-exitcode` when there are changes).

mod commands;
pub mod output;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use commands::run;

/// Deploy serverless.yml services to AWS Lambda, Azure Functions, Google Cloud Functions,
/// Apache OpenWhisk, or this machine.
#[derive(Debug, Parser)]
#[command(
    name = "stratus",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Start here:\n  stratus deploy -c serverless.example.yml --provider local\n  stratus invoke -c serverless.example.yml --provider local -f hello --data '{\"name\":\"you\"}'\n\nDocs: README.md and docs/ in the stratus repository."
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The manifest [default: serverless.yml, then serverless.yaml]
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The stage [default: provider.stage, else dev]
    #[arg(short = 's', long, global = true)]
    pub stage: Option<String>,
    /// The region [default: provider.region]
    #[arg(short = 'r', long, global = true)]
    pub region: Option<String>,
    /// Deploy to this provider instead of provider.name (local, aws, azure, google, openwhisk)
    #[arg(long, global = true, value_name = "NAME")]
    pub provider: Option<String>,
    /// A value for ${param:KEY}; repeatable
    #[arg(long = "param", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub params: Vec<(String, String)>,
    /// Print one JSON document on stdout (messages go to stderr)
    #[arg(long, global = true)]
    pub json: bool,
    /// Say more (repeat for even more)
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No colours, even on a terminal
    #[arg(long, global = true, env = "NO_COLOR", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_color: bool,
    /// Answer yes to confirmations (needed for `remove` when not on a terminal)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
}

fn parse_key_value(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!(
            "expected KEY=VALUE, got `{raw}` (for example --param domain=example.com)"
        )),
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Package, plan and apply: deploy the service (or one function with -f)
    #[command(
        after_help = "Examples:\n  stratus deploy\n  stratus deploy --stage prod --yes\n  stratus deploy -f hello          # one function, nothing deleted\n  stratus deploy --provider local  # run it on this machine"
    )]
    Deploy(DeployArgs),
    /// Show what a deploy would change, without changing anything
    #[command(
        after_help = "Examples:\n  stratus plan\n  stratus plan --detailed-exitcode   # exit 0: no changes, 2: changes (for CI)\n  stratus plan --json"
    )]
    Plan(PlanArgs),
    /// Build the deployment zips, dependencies included, into .stratus/ (no cloud calls)
    #[command(
        long_about = "Build the deployment zips into .stratus/ (no cloud calls, no credentials needed).\n\nA function's requirements.txt / pyproject.toml or package.json (beside its handler, else at the service root) is installed into its zip for the platform that runs it: Linux wheels for the function's architecture and Python version on aws, openwhisk and azure, this machine's own for local; google builds them itself. Installs are cached in ~/.cache/stratus (STRATUS_CACHE_DIR): a second run with nothing changed starts no pip or npm. -v shows their output.",
        after_help = "Examples:\n  stratus package\n  stratus package --json              # artifact paths, sha256 and dependency sets on stdout\n  stratus package --provider aws -v   # pip/npm output as they run"
    )]
    Package(PackageArgs),
    /// Call a deployed function (or `invoke local` to run it from the working tree)
    #[command(
        after_help = "Examples:\n  stratus invoke -f hello --data '{\"name\":\"you\"}'\n  stratus invoke -f hello --path event.json --log\n  echo '{}' | stratus invoke -f hello\n  stratus invoke local -f hello --data '{}'   # no deploy needed"
    )]
    Invoke(InvokeArgs),
    /// Print a function's logs, or follow them with --tail
    #[command(
        after_help = "Examples:\n  stratus logs -f hello\n  stratus logs -f hello --since 10m --filter ERROR\n  stratus logs -f hello --tail      # until Ctrl-C"
    )]
    Logs(LogsArgs),
    /// Show what is deployed: functions, versions, endpoints
    #[command(after_help = "Examples:\n  stratus info\n  stratus info --stage prod --json")]
    Info,
    /// Delete everything this service and stage deployed (and nothing else)
    #[command(
        after_help = "Examples:\n  stratus remove --stage dev\n  stratus remove --yes    # no confirmation (CI)"
    )]
    Remove,
    /// Print the manifest with every variable resolved
    #[command(
        after_help = "Examples:\n  stratus print\n  stratus print --json\n  stratus print --path provider.environment\n  stratus print --stage prod --param domain=example.com"
    )]
    Print(PrintArgs),
    /// Start a new service from a template
    #[command(
        after_help = "Examples:\n  stratus create --template python --path my-service\n  stratus create --template node --name hello-api"
    )]
    Create(CreateArgs),
    /// Serve the manifest's http/httpApi routes on 127.0.0.1 from the local deployment
    #[command(
        after_help = "Examples:\n  stratus deploy --provider local && stratus serve --port 3000\n  curl http://127.0.0.1:3000/hello"
    )]
    Serve(ServeArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  stratus completions bash > /etc/bash_completion.d/stratus\n  stratus completions zsh > \"${fpath[1]}/_stratus\"\n  stratus completions fish > ~/.config/fish/completions/stratus.fish"
    )]
    Completions(CompletionsArgs),
}

/// `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Deploy only this function (repeatable); nothing is deleted
    #[arg(short = 'f', long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan only this function (repeatable)
    #[arg(short = 'f', long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// Exit 2 when there are changes, 0 when there are none
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// `package`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// Where to write the zips [default: .stratus/ beside the manifest]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Package only this function (repeatable)
    #[arg(short = 'f', long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
}

/// `invoke`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct InvokeArgs {
    /// Run from the working tree instead
    #[command(subcommand)]
    pub local: Option<InvokeLocal>,
    /// The call itself
    #[command(flatten)]
    pub call: InvokeCall,
    /// `RequestResponse` waits for the answer; `Event` only queues the call
    #[arg(long = "type", value_enum, default_value_t = InvocationType::RequestResponse)]
    pub invocation_type: InvocationType,
}

/// `invoke local`.
#[derive(Debug, Subcommand)]
pub enum InvokeLocal {
    /// Run the handler on this machine from the working tree, without deploying
    Local(InvokeCall),
}

/// What to call and with what.
#[derive(Debug, Clone, Args)]
pub struct InvokeCall {
    /// The function (its name in the manifest)
    #[arg(short = 'f', long = "function", value_name = "NAME", required = true)]
    pub function: Option<String>,
    /// The event as JSON text
    #[arg(short = 'd', long, value_name = "JSON", conflicts_with = "path")]
    pub data: Option<String>,
    /// Read the event from a JSON file
    #[arg(short = 'p', long, value_name = "FILE")]
    pub path: Option<PathBuf>,
    /// Also print what the function logged during the call
    #[arg(short = 'l', long)]
    pub log: bool,
}

/// Invocation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InvocationType {
    /// Wait for the result.
    #[value(name = "RequestResponse")]
    RequestResponse,
    /// Queue it and return.
    #[value(name = "Event")]
    Event,
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The function (its name in the manifest)
    #[arg(short = 'f', long = "function", value_name = "NAME")]
    pub function: String,
    /// Keep following new records until Ctrl-C
    #[arg(short = 't', long)]
    pub tail: bool,
    /// Only records newer than this (10m, 2h, 1d) or after this time (RFC 3339)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only records whose message contains this text
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// How often --tail asks for new records, in milliseconds
    #[arg(long, default_value_t = 500, value_name = "MS", hide = true)]
    pub interval: u64,
}

/// `print`.
#[derive(Debug, Args)]
pub struct PrintArgs {
    /// Print only the value at this dotted path (e.g. provider.environment)
    #[arg(long, value_name = "KEY.PATH")]
    pub path: Option<String>,
}

/// `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The template: python or node
    #[arg(short = 't', long, value_name = "NAME")]
    pub template: String,
    /// Directory to create [default: the service name]
    #[arg(short = 'p', long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The service name [default: the directory name]
    #[arg(short = 'n', long)]
    pub name: Option<String>,
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one); deploy and info print endpoints on the same
    #[arg(long, default_value_t = 3000, env = "STRATUS_SERVE_PORT")]
    pub port: u16,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

/// An error that carries its own exit code (`plan --detailed-exitcode`, usage errors).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitWith {
    /// The exit code.
    pub code: u8,
    /// What to print on stderr (nothing when empty).
    pub message: String,
}

/// The exit code for an error: 2 for usage and manifest errors, 1 for everything else.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if let Some(exit) = error.downcast_ref::<ExitWith>() {
        return exit.code;
    }
    if error
        .downcast_ref::<crate::diagnostic::Diagnostics>()
        .is_some()
    {
        return 2;
    }
    match error.downcast_ref::<crate::manifest::LoadError>() {
        Some(crate::manifest::LoadError::Io { .. }) => 1,
        Some(_) => 2,
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn invoke_local_parses_as_a_subcommand() {
        let cli = Cli::try_parse_from(["stratus", "invoke", "local", "-f", "hello"]).unwrap();
        let Command::Invoke(args) = cli.command else {
            panic!("not invoke")
        };
        let Some(InvokeLocal::Local(call)) = args.local else {
            panic!("not local")
        };
        assert_eq!(call.function.as_deref(), Some("hello"));
        let cli = Cli::try_parse_from(["stratus", "invoke", "-f", "hello", "--log"]).unwrap();
        let Command::Invoke(args) = cli.command else {
            panic!("not invoke")
        };
        assert!(args.local.is_none() && args.call.log);
        assert!(Cli::try_parse_from(["stratus", "invoke"]).is_err());
    }

    #[test]
    fn params_must_be_key_value() {
        assert!(Cli::try_parse_from(["stratus", "print", "--param", "novalue"]).is_err());
        let cli = Cli::try_parse_from(["stratus", "print", "--param", "a=b=c"]).unwrap();
        assert_eq!(cli.global.params, vec![("a".into(), "b=c".into())]);
    }
}
