//! `witboost-token-operator values basic-auth`: the editors applied to a file, for GitOps users
//! whose source of truth is a values file in Git. The only part of `witboost_config` that does
//! I/O.

use std::{
    fs,
    io::{self, IsTerminal, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Subcommand, ValueEnum};

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
    /// Rewrite FILE atomically, keeping its permissions, instead of printing the result.
    #[arg(long, conflicts_with = "check")]
    in_place: bool,
    /// Change nothing: print a unified diff (coloured on a terminal) and exit 1 when FILE is not
    /// in the requested state, exit 0 when it is.
    #[arg(long)]
    check: bool,
    /// What FILE holds: a Witboost values file, a Backstage app-config file alone, or the
    /// Governance Platform's HOCON alone.
    #[arg(long, value_enum, default_value_t = Format::Values)]
    format: Format,
    /// The file to edit; `-` reads standard input (not with --in-place).
    #[arg(value_name = "FILE|-")]
    file: PathBuf,
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
    let ValuesCommand::BasicAuth(args) = command;
    match basic_auth(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(ERROR)
        }
    }
}

fn basic_auth(args: &BasicAuthArgs) -> Result<ExitCode, String> {
    let stdin = args.file == Path::new("-");
    let name = if stdin {
        "<stdin>".to_owned()
    } else {
        args.file.display().to_string()
    };
    if stdin && args.in_place {
        return Err("--in-place needs a FILE, not standard input".into());
    }
    let text = read(&args.file, stdin).map_err(|e| format!("{name}: failed to read: {e}"))?;
    let edit = edit(args.format, &text, args.enable).map_err(|e| describe(&name, &e))?;
    let state = if args.enable { "enabled" } else { "disabled" };
    let mut out = io::stdout().lock();
    let written = if args.check {
        if !edit.changed {
            eprintln!("{name} is up to date: basic auth {state}");
            return Ok(ExitCode::SUCCESS);
        }
        let diff = unified_diff(&name, &text, &edit.text, io::stdout().is_terminal());
        out.write_all(diff.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("failed to write to standard output: {e}"))?;
        eprintln!(
            "{name} is not up to date: basic auth is not {state} everywhere; \
             apply the diff above with --in-place"
        );
        return Ok(ExitCode::from(DIFFERS));
    } else if args.in_place {
        if edit.changed {
            write_atomically(&args.file, &edit.text).map_err(|e| format!("{name}: {e}"))?;
            eprintln!(
                "{}",
                updated(&name, state, places(args.format, &text, args.enable))
            );
        } else {
            eprintln!("{name} is already up to date: basic auth {state}");
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

/// `updated values.yaml: basic auth enabled in 2 places`.
fn updated(name: &str, state: &str, places: Option<usize>) -> String {
    match places {
        Some(1) => format!("updated {name}: basic auth {state} in 1 place"),
        Some(n) if n > 1 => format!("updated {name}: basic auth {state} in {n} places"),
        _ => format!("updated {name}: basic auth {state}"),
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
            updated("values.yaml", "enabled", Some(2)),
            "updated values.yaml: basic auth enabled in 2 places"
        );
        assert_eq!(
            updated("values.yaml", "disabled", Some(1)),
            "updated values.yaml: basic auth disabled in 1 place"
        );
        assert_eq!(
            updated("values.yaml", "enabled", None),
            "updated values.yaml: basic auth enabled"
        );
    }
}
