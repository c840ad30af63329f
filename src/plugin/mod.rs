//! `kubectl witboost`: a kubectl plugin for the objects the operator reconciles, in the manner of
//! cert-manager's `cmctl`. The binary answers to it when it is called `kubectl-witboost` (a
//! symlink or a copy on `PATH`) and as `witboost-token-operator plugin`.
//!
//! kubectl's conventions: `-n`, `-A`, `--context`, `--kubeconfig`, `-o json|yaml`; exit code 0
//! when done, 1 on a failure, 2 on a usage error; results on standard output, what happened on
//! standard error; colour only on a terminal. Each subcommand has its own file, and each output
//! is rendered by a plain function, tested without a cluster.

pub mod check;
pub mod jwt;
pub mod regenerate;
pub mod revoke;
pub mod status;
pub mod token;
mod token_service;
mod wait;

use std::{
    io::{BufRead, IsTerminal, Write},
    path::PathBuf,
    time::Duration,
};

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::chart;
use crate::crd::{AccessToken, GoDuration};

/// The name under which kubectl finds the plugin on `PATH`.
pub const PLUGIN_BINARY: &str = "kubectl-witboost";

/// Witboost service accounts and access tokens, from kubectl.
#[derive(Debug, Parser)]
#[command(name = "kubectl witboost", bin_name = "kubectl witboost", version)]
pub struct Plugin {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// Where to connect, as kubectl takes it.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Every namespace (`status`, and the BasicAuths of `check`).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// ServiceAccounts, their AccessTokens (and personal access tokens by user) and Secrets as
    /// a tree: phase, revision, expiry, and why a token waits.
    Status(status::StatusArgs),
    /// Issue a new value for an Active token (same expiry), and wait until the operator has.
    Regenerate(regenerate::RegenerateArgs),
    /// Revoke a token (`spec.revoked: true`), and wait until the operator has removed its value.
    Revoke(revoke::RevokeArgs),
    /// Print a token's value from its Secret, for pipes.
    Token(token::TokenArgs),
    /// Exchange a token's value for a JWT at the token service, and print the JWT, for pipes.
    Jwt(jwt::JwtArgs),
    /// Check the installation: CRDs, the operator's Lease, the token service, BasicAuths.
    Check(check::CheckArgs),
}

/// Where the operator runs and its token service is reached: the chart's defaults.
#[derive(Clone, Debug, Args)]
pub struct OperatorArgs {
    /// The namespace the operator is installed in (its Lease and its Service).
    #[arg(long, env = "WITBOOST_OPERATOR_NAMESPACE", default_value = chart::NAMESPACE)]
    pub operator_namespace: String,
    /// The token service's Service, reached through the API server's service proxy, as the
    /// proxy path names it: NAME, NAME:PORT (number or name) or https:NAME:PORT.
    #[arg(long, value_name = "[https:]NAME[:PORT]", default_value_t = default_service())]
    pub service: String,
    /// The token service's URL, reached directly instead of through the service proxy.
    #[arg(long, value_name = "URL", conflicts_with = "service")]
    pub url: Option<String>,
}

fn default_service() -> String {
    format!("{}:{}", chart::SERVICE_NAME, chart::SERVICE_PORT)
}

/// `-o`: a structured form instead of the text for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Yaml,
}

/// What a change-making subcommand shares: confirmation and the wait for the operator.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// The AccessToken.
    pub token: String,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// How long to wait for the operator to act, e.g. 30s, 2m.
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    text.parse::<GoDuration>()
        .map(GoDuration::as_std)
        .map_err(|e| e.to_string())
}

/// A failure the plugin reports in its own words, with its exit code (1, or 2 for usage).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    pub code: u8,
}

impl Refusal {
    pub fn failure(message: impl Into<String>) -> anyhow::Error {
        Self {
            message: message.into(),
            code: 1,
        }
        .into()
    }

    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Self {
            message: message.into(),
            code: 2,
        }
        .into()
    }
}

/// Whether argv[0] names the plugin: `kubectl-witboost`, however it was reached.
pub fn invoked_as_plugin(argv0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(argv0)
        .file_stem()
        .is_some_and(|stem| stem == PLUGIN_BINARY)
}

/// The exit code of a failed command: 2 for a usage error, else 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    error.downcast_ref::<Refusal>().map_or(1, |r| r.code)
}

/// Runs the plugin's command line.
pub async fn run(plugin: Plugin) -> anyhow::Result<()> {
    let Plugin { cluster, command } = plugin;
    if cluster.all_namespaces
        && !matches!(command, PluginCommand::Status(_) | PluginCommand::Check(_))
    {
        return Err(Refusal::usage(
            "--all-namespaces applies to status and check only",
        ));
    }
    // A token or a JWT is not fetched for a terminal at all: nothing to connect for.
    match &command {
        PluginCommand::Token(args) => token::check_destination(args.show)?,
        PluginCommand::Jwt(args) => token::check_destination(args.show)?,
        _ => {}
    }
    let namespace_given = cluster.namespace.is_some();
    let connection = Connection::connect(&cluster).await?;
    match command {
        PluginCommand::Status(args) => status::run(&connection, args).await,
        PluginCommand::Regenerate(args) => regenerate::run(&connection, args).await,
        PluginCommand::Revoke(args) => revoke::run(&connection, args).await,
        PluginCommand::Token(args) => token::run(&connection, args).await,
        PluginCommand::Jwt(args) => jwt::run(&connection, args).await,
        PluginCommand::Check(args) => check::run(&connection, namespace_given, args).await,
    }
}

/// A client and the namespace(s) a command acts on.
pub struct Connection {
    pub client: kube::Client,
    /// The namespace, or `None` for all of them (`-A`).
    pub namespace: Option<String>,
    /// The client's configuration, for a client of the token service.
    pub config: kube::Config,
}

impl Connection {
    async fn connect(cluster: &ClusterArgs) -> anyhow::Result<Self> {
        let options = KubeConfigOptions {
            context: cluster.context.clone(),
            ..Default::default()
        };
        let config = match &cluster.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .with_context(|| format!("failed to read {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(anyhow::Error::from)
            }
            None if cluster.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(anyhow::Error::from),
            None => kube::Config::infer().await.map_err(anyhow::Error::from),
        }
        .context("failed to configure a Kubernetes client")?;
        let namespace = (!cluster.all_namespaces).then(|| {
            cluster
                .namespace
                .clone()
                .unwrap_or_else(|| config.default_namespace.clone())
        });
        let client = kube::Client::try_from(config.clone())
            .context("failed to build a Kubernetes client")?;
        Ok(Self {
            client,
            namespace,
            config,
        })
    }

    /// The one namespace of a command that acts on one object.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    pub fn tokens(&self) -> kube::Api<AccessToken> {
        kube::Api::namespaced(self.client.clone(), self.namespace())
    }

    /// Merge-patches AccessToken `name`; `what` says what the patch does, for its error.
    pub async fn patch_token(
        &self,
        name: &str,
        patch: &serde_json::Value,
        what: &str,
    ) -> anyhow::Result<()> {
        self.tokens()
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            )
            .await
            .with_context(|| format!("failed to {what} AccessToken {}/{name}", self.namespace()))?;
        Ok(())
    }

    /// The AccessToken `name`, or a failure that says it does not exist.
    pub async fn token(&self, name: &str) -> anyhow::Result<AccessToken> {
        self.tokens()
            .get_opt(name)
            .await
            .with_context(|| format!("failed to read AccessToken {}/{name}", self.namespace()))?
            .ok_or_else(|| {
                Refusal::failure(format!(
                    "AccessToken {name} not found in namespace {}",
                    self.namespace()
                ))
            })
    }
}

/// Asks on the terminal before a change, or requires `--yes` when nobody can answer.
pub fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Refusal::usage(
            "standard input is not a terminal: pass --yes to confirm",
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("failed to read the answer")?;
    if is_yes(&answer) {
        Ok(())
    } else {
        Err(Refusal::failure("not confirmed: nothing changed"))
    }
}

/// `y` or `yes`, in any case.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Colours for terminals; plain text elsewhere (and with `NO_COLOR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    pub fn plain() -> Self {
        Self { colour: false }
    }

    /// Colour when standard output is a terminal and `NO_COLOR` is not set.
    pub fn for_stdout() -> Self {
        Self {
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// `text` in the colour of a phase or Ready status: green, yellow or red.
    pub fn paint(self, text: &str, tone: Tone) -> String {
        if !self.colour {
            return text.to_owned();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Waiting => "33",
            Tone::Bad => "31",
            Tone::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Good,
    Waiting,
    Bad,
    Dim,
}

/// "in 29d", "3h ago": the distance from `now` to `at` in its largest whole unit.
pub fn relative(now: jiff::Timestamp, at: jiff::Timestamp) -> String {
    let seconds = at.as_second() - now.as_second();
    let magnitude = seconds.unsigned_abs();
    let amount = match magnitude {
        0..60 => format!("{magnitude}s"),
        60..3_600 => format!("{}m", magnitude / 60),
        3_600..86_400 => format!("{}h", magnitude / 3_600),
        _ => format!("{}d", magnitude / 86_400),
    };
    if seconds >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_recognised_by_its_file_name_wherever_it_lies() {
        for argv0 in [
            "kubectl-witboost",
            "/usr/local/bin/kubectl-witboost",
            "kubectl-witboost.exe",
        ] {
            assert!(invoked_as_plugin(argv0.as_ref()), "{argv0}");
        }
        for argv0 in [
            "witboost-token-operator",
            "/bin/kubectl",
            "kubectl-witboosted",
        ] {
            assert!(!invoked_as_plugin(argv0.as_ref()), "{argv0}");
        }
    }

    #[test]
    fn relative_times_use_their_largest_whole_unit_both_ways() {
        let now = jiff::Timestamp::from_second(1_000_000_000).unwrap();
        let at = |s: i64| jiff::Timestamp::from_second(1_000_000_000 + s).unwrap();
        assert_eq!(relative(now, at(29 * 86_400 + 5)), "in 29d");
        assert_eq!(relative(now, at(3 * 3_600 + 59)), "in 3h");
        assert_eq!(relative(now, at(90)), "in 1m");
        assert_eq!(relative(now, at(0)), "in 0s");
        assert_eq!(relative(now, at(-2 * 86_400)), "2d ago");
    }

    #[test]
    fn only_y_or_yes_confirms() {
        for yes in ["y\n", "Y", "yes", " YES \n"] {
            assert!(is_yes(yes), "{yes}");
        }
        for no in ["", "\n", "n", "no", "yep", "ja"] {
            assert!(!is_yes(no), "{no}");
        }
    }

    #[test]
    fn colour_only_when_asked_for() {
        assert_eq!(Style::plain().paint("Active", Tone::Good), "Active");
        assert_eq!(
            Style { colour: true }.paint("Active", Tone::Good),
            "\x1b[32mActive\x1b[0m"
        );
    }

    #[test]
    fn timeouts_are_go_durations() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_timeout("soon").is_err());
    }
}
