//! `witboost-token-operator values basic-auth` and `values trust`: the editors applied to a
//! file, for GitOps users whose source of truth is a values file in Git. The only part of
//! `witboost_config` that does I/O.

use std::{
    fs,
    io::{self, IsTerminal, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Subcommand, ValueEnum};

use super::external_access::{self, DEFAULT_AUDIENCE, DEFAULT_SUBJECT_PREFIX, Trust};
use super::{Edit, EditError, app_config, hocon, values};

/// `values …`: edits of a Witboost Helm values file.
#[derive(Debug, Subcommand)]
pub enum ValuesCommand {
    /// Switch Basic auth on or off in a Witboost values file, changing nothing else.
    ///
    /// Sets `ui.appConfig.backend.auth.basicAuth.enabled` and, in the
    /// `governance-platform.configOverride` HOCON string,
    /// `computational-governance-platform.platform-services.auth.basic-auth.enabled`; every other
    /// byte stays as it was. Prints the result unless --in-place or --check; what was done (or
    /// that nothing needed doing) goes to standard error. Exit codes: 0 done
    /// (with --check: already in the requested state), 1 --check found a difference, 2 error.
    BasicAuth(BasicAuthArgs),
    /// Make Witboost's UI trust the token service's JWTs (or no longer), changing nothing else.
    ///
    /// Adds to the list `ui.appConfig.backend.auth.externalAccess` one entry of type `jwks`
    /// (Backstage's external access) with the token service's JWKS URL, issuer, signing
    /// algorithm and audience, and a subject prefix that marks it: run again with another URL
    /// and the entry is updated, not added twice; --remove takes it out. Every other entry of
    /// the list keeps its bytes. Output, --in-place, --check and exit codes as for basic-auth.
    Trust(TrustArgs),
}

/// Where the result goes.
#[derive(Debug, Args)]
pub struct Output {
    /// Rewrite FILE atomically, keeping its permissions, instead of printing the result.
    #[arg(long, conflicts_with = "check")]
    in_place: bool,
    /// Change nothing: print a unified diff (coloured on a terminal) and exit 1 when FILE is not
    /// in the requested state, exit 0 when it is.
    #[arg(long)]
    check: bool,
    /// The file to edit; `-` reads standard input (not with --in-place).
    #[arg(value_name = "FILE|-")]
    file: PathBuf,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("state").required(true).args(["issuer", "remove"]))]
pub struct TrustArgs {
    /// The token service's issuer URL (its --issuer): the `iss` its JWTs carry.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Where Backstage fetches the token service's keys [default: ISSUER/.well-known/jwks.json].
    #[arg(long, value_name = "URL", requires = "issuer")]
    jwks_url: Option<String>,
    /// The `aud` the token service puts in its JWTs (its --audience).
    #[arg(long, default_value = DEFAULT_AUDIENCE, requires = "issuer")]
    audience: String,
    /// The token service's signing algorithm (its --jwt-algorithm).
    #[arg(long, default_value = "ES256", value_parser = ["ES256", "RS512"], requires = "issuer")]
    algorithm: String,
    /// The entry's marker; principals read `external:<prefix>:<email>`.
    #[arg(long, default_value = DEFAULT_SUBJECT_PREFIX)]
    subject_prefix: String,
    /// Remove the entry instead.
    #[arg(long)]
    remove: bool,
    /// What FILE holds: a Witboost values file or a Backstage app-config file alone.
    #[arg(long, value_enum, default_value_t = TrustFormat::Values)]
    format: TrustFormat,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrustFormat {
    Values,
    AppConfig,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("state").required(true).args(["enable", "disable"]))]
pub struct BasicAuthArgs {
    /// Switch Basic auth on.
    #[arg(long)]
    enable: bool,
    /// Switch Basic auth off.
    #[arg(long)]
    disable: bool,
    /// What FILE holds: a Witboost values file, a Backstage app-config file alone, or the
    /// Governance Platform's HOCON alone.
    #[arg(long, value_enum, default_value_t = Format::Values)]
    format: Format,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Values,
    AppConfig,
    Hocon,
}

/// Exit code for a file that --check found not in the requested state.
const DIFFERS: u8 = 1;
/// Exit code for any error.
const ERROR: u8 = 2;

/// Runs `values …`; errors are reported on standard error and give exit code 2.
pub fn run(command: ValuesCommand) -> ExitCode {
    let result = match command {
        ValuesCommand::BasicAuth(args) => basic_auth(&args),
        ValuesCommand::Trust(args) => trust(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(ERROR)
        }
    }
}

/// What an edit is, in the messages on standard error.
struct Messages {
    /// The requested state: `basic auth enabled`.
    state: String,
    /// What --check says of a file not in it: `basic auth is not enabled everywhere`.
    differs: String,
    /// What --in-place says after a change: `basic auth enabled in 2 places`.
    updated: Box<dyn Fn(&str) -> String>,
}

fn basic_auth(args: &BasicAuthArgs) -> Result<ExitCode, String> {
    let state = if args.enable { "enabled" } else { "disabled" };
    let (format, enable) = (args.format, args.enable);
    let messages = Messages {
        state: format!("basic auth {state}"),
        differs: format!("basic auth is not {state} everywhere"),
        updated: Box::new(move |before| {
            let places = places(format, before, enable);
            updated_count(state, places)
        }),
    };
    apply(&args.output, &messages, |text| edit(format, text, enable))
}

fn trust(args: &TrustArgs) -> Result<ExitCode, String> {
    let prefix = args.subject_prefix.clone();
    let format = args.format;
    match &args.issuer {
        Some(issuer) if !args.remove => {
            let mut trust = Trust::for_issuer(issuer, &args.algorithm, &args.audience);
            trust.subject_prefix = prefix;
            if let Some(url) = &args.jwks_url {
                trust.url = url.clone();
            }
            let messages = Messages {
                state: format!("the UI trusts {issuer}"),
                differs: format!("the UI does not trust {issuer} as requested"),
                updated: Box::new({
                    let issuer = issuer.clone();
                    move |_| format!("the UI trusts {issuer}")
                }),
            };
            apply(&args.output, &messages, |text| match format {
                TrustFormat::Values => values::set_trust(text, &trust),
                TrustFormat::AppConfig => external_access::set_trust(text, &trust),
            })
        }
        _ => {
            let messages = Messages {
                state: format!("no trust entry {prefix}"),
                differs: format!("the trust entry {prefix} is there"),
                updated: Box::new({
                    let prefix = prefix.clone();
                    move |_| format!("trust entry {prefix} removed")
                }),
            };
            apply(&args.output, &messages, |text| match format {
                TrustFormat::Values => values::remove_trust(text, &prefix),
                TrustFormat::AppConfig => external_access::remove_trust(text, &prefix),
            })
        }
    }
}

/// Reads FILE (or standard input), edits it and prints, writes or checks the result.
fn apply(
    output: &Output,
    messages: &Messages,
    edit: impl Fn(&str) -> Result<Edit, EditError>,
) -> Result<ExitCode, String> {
    let stdin = output.file == Path::new("-");
    let name = if stdin {
        "<stdin>".to_owned()
    } else {
        output.file.display().to_string()
    };
    if stdin && output.in_place {
        return Err("--in-place needs a FILE, not standard input".into());
    }
    let text = read(&output.file, stdin).map_err(|e| format!("{name}: failed to read: {e}"))?;
    let edit = edit(&text).map_err(|e| describe(&name, &e))?;
    let state = &messages.state;
    let mut out = io::stdout().lock();
    let written = if output.check {
        if !edit.changed {
            eprintln!("{name} is up to date: {state}");
            return Ok(ExitCode::SUCCESS);
        }
        let diff = unified_diff(&name, &text, &edit.text, io::stdout().is_terminal());
        out.write_all(diff.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("failed to write to standard output: {e}"))?;
        eprintln!(
            "{name} is not up to date: {}; apply the diff above with --in-place",
            messages.differs
        );
        return Ok(ExitCode::from(DIFFERS));
    } else if output.in_place {
        if edit.changed {
            write_atomically(&output.file, &edit.text).map_err(|e| format!("{name}: {e}"))?;
            eprintln!("updated {name}: {}", (messages.updated)(&text));
        } else {
            eprintln!("{name} is already up to date: {state}");
        }
        Ok(())
    } else {
        out.write_all(edit.text.as_bytes())
            .and_then(|()| out.flush())
    };
    written.map_err(|e| format!("failed to write to standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// How many of the file's places for the flag did not hold `enabled` before the edit; `None`
/// when that cannot be read back (the edit itself succeeded, so this is only for the message).
fn places(format: Format, before: &str, enabled: bool) -> Option<usize> {
    let differs = |flag: Option<bool>| usize::from(flag != Some(enabled));
    match format {
        Format::Values => values::basic_auth(before)
            .ok()
            .map(|(ui, governance)| differs(ui) + differs(governance)),
        Format::AppConfig => app_config::basic_auth(before).ok().map(differs),
        Format::Hocon => hocon::basic_auth(before).ok().map(differs),
    }
}

/// `basic auth enabled in 2 places`.
fn updated_count(state: &str, places: Option<usize>) -> String {
    match places {
        Some(1) => format!("basic auth {state} in 1 place"),
        Some(n) if n > 1 => format!("basic auth {state} in {n} places"),
        _ => format!("basic auth {state}"),
    }
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The unified diff from `old` to `new`, both named `name`; with `colour`, removed lines red,
/// added lines green, hunk headers cyan and the file header bold (ANSI escapes, for a terminal).
pub fn unified_diff(name: &str, old: &str, new: &str, colour: bool) -> String {
    let plain = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(name, name)
        .to_string();
    if !colour {
        return plain;
    }
    let mut coloured = String::with_capacity(plain.len() + plain.len() / 4);
    for (index, line) in plain.split_inclusive('\n').enumerate() {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let style = if index < 2 {
            BOLD
        } else if body.starts_with("@@") {
            CYAN
        } else if body.starts_with('-') {
            RED
        } else if body.starts_with('+') {
            GREEN
        } else {
            ""
        };
        if style.is_empty() {
            coloured.push_str(line);
        } else {
            coloured.push_str(&format!("{style}{body}{RESET}{end}"));
        }
    }
    coloured
}

fn edit(format: Format, text: &str, enabled: bool) -> Result<Edit, EditError> {
    match format {
        Format::Values => values::set_basic_auth(text, enabled),
        Format::AppConfig => app_config::set_basic_auth(text, enabled),
        Format::Hocon => hocon::set_basic_auth(text, enabled),
    }
}

/// `FILE: line N: what is wrong (reason); nothing was written; what to do`.
fn describe(name: &str, error: &EditError) -> String {
    format!(
        "{name}: {error} ({}); nothing was written; {}",
        error.category(),
        error.hint()
    )
}

fn read(path: &Path, stdin: bool) -> io::Result<String> {
    let mut text = String::new();
    if stdin {
        io::stdin().lock().read_to_string(&mut text)?;
    } else {
        text = fs::read_to_string(path)?;
    }
    Ok(text)
}

/// Writes beside the file and renames over it, so a reader sees the old or the new file, never
/// half of one; the new file keeps the old one's permissions. A symbolic link is followed, not
/// replaced.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let target = fs::canonicalize(path).map_err(|e| format!("failed to resolve: {e}"))?;
    let permissions = fs::metadata(&target)
        .map_err(|e| format!("failed to read its permissions: {e}"))?
        .permissions();
    let dir = target.parent().unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(permissions)?;
        file.sync_all()?;
        fs::rename(&temporary, &target)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&temporary);
        format!("failed to write: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "a: 1\nb: false\nc: 3\n";
    const NEW: &str = "a: 1\nb: true\nc: 3\n";

    #[test]
    fn a_diff_for_a_terminal_is_red_and_green_and_otherwise_plain() {
        let plain = unified_diff("values.yaml", OLD, NEW, false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("\n-b: false\n+b: true\n"), "{plain}");

        let coloured = unified_diff("values.yaml", OLD, NEW, true);
        assert!(
            coloured.contains("\x1b[31m-b: false\x1b[0m\n\x1b[32m+b: true\x1b[0m\n"),
            "{coloured:?}"
        );
        assert!(
            coloured.starts_with("\x1b[1m--- values.yaml\x1b[0m\n\x1b[1m+++ values.yaml"),
            "{coloured:?}"
        );
        assert!(coloured.contains("\x1b[36m@@"), "{coloured:?}");
        assert!(
            coloured.contains("\n a: 1\n"),
            "context stays plain: {coloured:?}"
        );
        let stripped = coloured
            .replace(BOLD, "")
            .replace(RED, "")
            .replace(GREEN, "")
            .replace(CYAN, "")
            .replace(RESET, "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn the_update_message_counts_the_places_that_changed() {
        let values = "ui:\n  appConfig:\n    backend:\n      auth:\n        basicAuth:\n          enabled: true\ngovernance-platform:\n  configOverride: |-\n    akka.loglevel = INFO\n";
        assert_eq!(places(Format::Values, values, true), Some(1));
        assert_eq!(places(Format::Values, values, false), Some(2));
        assert_eq!(places(Format::AppConfig, "app: {}\n", true), Some(1));
        assert_eq!(
            updated_count("enabled", Some(2)),
            "basic auth enabled in 2 places"
        );
        assert_eq!(
            updated_count("disabled", Some(1)),
            "basic auth disabled in 1 place"
        );
        assert_eq!(updated_count("enabled", None), "basic auth enabled");
    }
}
