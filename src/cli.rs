//! The command line: `witboost-token-operator <subcommand>`.

use std::{
    io::{IsTerminal, Read, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::operator::{RunArgs, Running};
use crate::plugin::Plugin;
use crate::sandbox::SandboxArgs;
use crate::witboost_config::command::ValuesCommand;
use crate::{crd, telemetry, token::Token};

/// Witboost service accounts and access tokens as Kubernetes resources.
#[derive(Debug, Parser)]
#[command(name = "witboost-token-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every CustomResourceDefinition as YAML (the files in crds/ are this output).
    Crds {
        /// Write one file per CRD, named after it, into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// Also write the Helm chart's CRD templates (behind `crds.enabled`, kept on uninstall
        /// with `crds.keep`) into this directory, one file per CRD.
        #[arg(long, value_name = "DIR")]
        chart_templates_dir: Option<PathBuf>,
    },
    /// Run the controllers, the token service and the admin server against the current
    /// kubeconfig or the in-cluster configuration, until SIGTERM.
    Run(RunArgs),
    /// Serve an embedded, in-memory Kubernetes API (for trying the operator and for tests),
    /// with the operator and the token service running against it unless --no-operator.
    Sandbox {
        #[command(flatten)]
        sandbox: SandboxArgs,
        #[command(flatten)]
        operator: RunArgs,
    },
    /// Work with access token values.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The kubectl plugin (`kubectl witboost`), under this binary's own name.
    Plugin(Plugin),
    /// Edit a Witboost Helm values file (for GitOps: the result is committed or fed to Flux).
    #[command(subcommand)]
    Values(ValuesCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Read a token from standard input; exit 0 if it is well-formed, 1 if not.
    /// Prints only the verdict and the token's hint, never the token.
    Check,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Crds {
            output_dir,
            chart_templates_dir,
        } => {
            write_crds(output_dir)?;
            if let Some(dir) = chart_templates_dir {
                write_chart_templates(&dir)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            crate::operator::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sandbox { sandbox, operator } => {
            run_sandbox(sandbox, operator).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Values(command) => Ok(crate::witboost_config::command::run(command)),
        Command::Plugin(plugin) => Ok(run_plugin(plugin).await),
        Command::Token(TokenCommand::Check) => {
            if let Some(prompt) = token_prompt(std::io::stdin().is_terminal()) {
                eprintln!("{prompt}");
            }
            let mut input = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut input)
                .context("failed to read the token from standard input")?;
            let (verdict, ok) = check_token(&input);
            println!("{verdict}");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Runs `kubectl witboost`: a failure is reported on standard error, with kubectl's exit codes
/// (1, or 2 for a usage error).
pub async fn run_plugin(plugin: Plugin) -> ExitCode {
    match crate::plugin::run(plugin).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_report(&error));
            ExitCode::from(crate::plugin::exit_code(&error))
        }
    }
}

/// The sandbox API, and the operator and the token service against it once it is up. A SIGTERM
/// or Ctrl-C at any moment stops everything started so far, each step bounded in time.
async fn run_sandbox(sandbox: SandboxArgs, operator: RunArgs) -> anyhow::Result<()> {
    telemetry::init_logging(&operator.log);
    let stop = crate::signal::stop_on_signal()?;
    let Some(sb) = crate::sandbox::start_until(&sandbox, &stop).await? else {
        return Ok(());
    };
    if !sandbox.runs_operator() {
        println!("{}", sandbox.ready_line(&sb.url(), None));
        stop.cancelled().await;
        return stop_within(sb.shutdown(), "the sandbox API").await;
    }
    // The operator talks to the address the sandbox really bound, not the one asked for; the
    // ready line comes once the token service serves and the controllers' caches are synced.
    let mut operator = operator.on_loopback();
    operator
        .leader_election_namespace
        .get_or_insert_with(|| crate::chart::NAMESPACE.to_owned());
    let start = async {
        let running = Running::start(sb.client(), &operator).await?;
        running.ready().await;
        anyhow::Ok(running)
    };
    let started = tokio::select! {
        running = start => Some(running),
        () = stop.cancelled() => None,
    };
    let result = match started {
        None => Ok(()),
        Some(Err(e)) => Err(e.context("the operator failed to start against the sandbox")),
        Some(Ok(running)) => {
            let tls = operator.token_service.tls_cert_file.is_some();
            let exposed = match running.token_service_addr() {
                Some(addr) => crate::sandbox::expose_token_service(&sb, addr, tls).await,
                // `--components controllers`: no token service to put behind the Service.
                None => Ok(()),
            };
            if let Err(e) = exposed {
                let stopped = stop_within(running.shutdown(), "the operator").await;
                let api = stop_within(sb.shutdown(), "the sandbox API").await;
                return Err::<(), _>(e).and(stopped).and(api);
            }
            let scheme = if tls { "https" } else { "http" };
            let addrs = crate::sandbox::OperatorAddrs {
                token_service: running
                    .token_service_addr()
                    .map_or_else(|| "none".into(), |a| format!("{scheme}://{a}")),
                admin: running
                    .admin_addr()
                    .map_or_else(|| "none".into(), |a| format!("http://{a}")),
            };
            println!("{}", sandbox.ready_line(&sb.url(), Some(&addrs)));
            let result = tokio::select! {
                () = stop.cancelled() => Ok(()),
                () = running.lost_leadership() => {
                    Err(anyhow::anyhow!("the operator lost its leader Lease; stopping the sandbox"))
                }
            };
            let stopped = stop_within(running.shutdown(), "the operator").await;
            result.and(stopped)
        }
    };
    let api = stop_within(sb.shutdown(), "the sandbox API").await;
    result.and(api)
}

/// Waits for a shutdown step, at most 10 s: a stop never hangs on one part.
async fn stop_within<T>(
    step: impl std::future::Future<Output = T>,
    what: &str,
) -> anyhow::Result<()>
where
    T: Into<StepResult>,
{
    match tokio::time::timeout(std::time::Duration::from_secs(10), step).await {
        Ok(done) => done.into().0,
        Err(_) => Err(anyhow::anyhow!("{what} did not stop within 10 s")),
    }
}

/// The outcome of a shutdown step: `()` or a `Result`.
struct StepResult(anyhow::Result<()>);

impl From<()> for StepResult {
    fn from((): ()) -> Self {
        Self(Ok(()))
    }
}

impl From<anyhow::Result<()>> for StepResult {
    fn from(r: anyhow::Result<()>) -> Self {
        Self(r)
    }
}

fn write_crds(output_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let crds = crd::all();
    match output_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            for crd in &crds {
                let path = dir.join(crd::file_name(crd));
                std::fs::write(&path, crd::to_yaml(crd))
                    .with_context(|| format!("failed to write {}", path.display()))?;
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            for crd in &crds {
                write!(out, "---\n{}", crd::to_yaml(crd)).context("failed to write to stdout")?;
            }
        }
    }
    Ok(())
}

fn write_chart_templates(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    for crd in crd::all() {
        let path = dir.join(crate::chart::file_name(&crd));
        std::fs::write(&path, crate::chart::crd_template(&crd))
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(())
}

/// An error and its causes on one line, each cause once: errors whose message already quotes
/// their source (kube's do) would otherwise repeat it at every level of the chain. A Forbidden
/// answer of the API is followed by what grants the missing permission.
pub fn error_report(error: &anyhow::Error) -> String {
    let mut kept: Vec<String> = Vec::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if !kept.iter().any(|k| k.contains(&message)) {
            kept.push(message);
        }
    }
    let report = kept.join(": ");
    match error.chain().find_map(crate::rbac::explain) {
        Some(hint) => format!("{report}; {hint}"),
        None => report,
    }
}

/// What `token check` says on standard error before it waits for a token typed at a terminal;
/// nothing when the token comes through a pipe or a file.
pub fn token_prompt(stdin_is_terminal: bool) -> Option<&'static str> {
    stdin_is_terminal.then_some("reading a token from standard input (end with Ctrl-D)…")
}

/// The verdict line of `token check` for the given input (surrounding whitespace ignored).
pub fn check_token(input: &str) -> (String, bool) {
    match Token::parse(input.trim()) {
        Ok(token) => (format!("valid: {}", token.hint()), true),
        Err(reason) => (format!("invalid: {reason}"), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_report_names_each_cause_once() {
        let missing = kube::config::Kubeconfig::read_from("/nonexistent/kubeconfig").unwrap_err();
        let error = anyhow::Error::new(missing).context("failed to configure a Kubernetes client");
        let report = error_report(&error);
        assert!(
            report.starts_with("failed to configure a Kubernetes client: "),
            "{report}"
        );
        assert_eq!(
            report.matches("/nonexistent/kubeconfig").count(),
            1,
            "{report}"
        );
        assert_eq!(
            report.matches("No such file or directory").count(),
            1,
            "{report}"
        );

        let plain = anyhow::anyhow!("innermost")
            .context("middle")
            .context("outer");
        assert_eq!(error_report(&plain), "outer: middle: innermost");
    }

    #[test]
    fn a_forbidden_signing_key_secret_is_reported_with_what_grants_the_permission() {
        let status = kube::core::Status::failure(
            "secrets \"wto-signing-key\" is forbidden: User \"system:serviceaccount:ops:wto\" \
             cannot get resource \"secrets\" in API group \"\" in the namespace \"ops\"",
            "Forbidden",
        )
        .with_code(403);
        let error = anyhow::Error::new(crate::server::keystore::KeyStoreError::Read(
            kube::Error::Api(Box::new(status)),
        ))
        .context("failed to load the signing key secret ops/wto-signing-key");
        let report = error_report(&error);
        assert!(
            report.starts_with("failed to load the signing key secret ops/wto-signing-key: "),
            "{report}"
        );
        assert!(
            report.contains(r#"cannot get resource "secrets" in API group "" in the namespace"#),
            "{report}"
        );
        assert!(
            report.ends_with(
                "; forbidden: the operator may not get secrets (in namespace ops); the Helm chart \
                 grants it with rbac.create=true (ClusterRole <fullname>, or a Role in \
                 watchNamespace; the signing-key Secret: Role <fullname>-signing-key in the \
                 release namespace, for the token service Role \
                 <fullname>-token-service-signing-key); see \
                 docs/install.md#rbac-which-rule-serves-what"
            ),
            "{report}"
        );
    }

    #[test]
    fn token_check_says_where_it_reads_only_when_a_person_types_the_token() {
        let prompt = token_prompt(true).unwrap();
        assert!(prompt.contains("standard input"), "{prompt}");
        assert!(prompt.contains("Ctrl-D"), "{prompt}");
        assert_eq!(token_prompt(false), None);
    }

    #[test]
    fn token_check_prints_the_hint_of_a_valid_token_and_never_the_token() {
        let token = Token::generate();
        let (verdict, ok) = check_token(&format!("{}\n", token.expose()));
        assert!(ok);
        assert_eq!(verdict, format!("valid: {}", token.hint()));
        assert!(!verdict.contains(token.expose()));
    }

    #[test]
    fn token_check_rejects_a_mistyped_token_without_echoing_it() {
        let token = Token::generate();
        let mut mistyped = token.expose().to_owned();
        let swapped = if mistyped.as_bytes()[10] == b'x' {
            "y"
        } else {
            "x"
        };
        mistyped.replace_range(10..11, swapped);
        let (verdict, ok) = check_token(&mistyped);
        assert!(!ok);
        assert!(verdict.starts_with("invalid: "), "{verdict}");
        assert!(!verdict.contains(&mistyped[5..]));
    }
}
