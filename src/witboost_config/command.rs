//! `witboost-token-operator values basic-auth`: the editors applied to a file, for GitOps users
//! whose source of truth is a values file in Git. The only part of `witboost_config` that does
//! I/O.

use std::{
    fs,
    io::{self, Read, Write},
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
    /// byte stays as it was. Prints the result unless --in-place or --check. Exit codes: 0 done
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
    /// Change nothing: print a unified diff and exit 1 when FILE is not in the requested state,
    /// exit 0 when it is.
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
    let mut out = io::stdout().lock();
    let written = if args.check {
        if !edit.changed {
            return Ok(ExitCode::SUCCESS);
        }
        let diff = similar::TextDiff::from_lines(&text, &edit.text)
            .unified_diff()
            .context_radius(3)
            .header(&name, &name)
            .to_string();
        out.write_all(diff.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("failed to write to standard output: {e}"))?;
        return Ok(ExitCode::from(DIFFERS));
    } else if args.in_place {
        if edit.changed {
            write_atomically(&args.file, &edit.text).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    } else {
        out.write_all(edit.text.as_bytes())
            .and_then(|()| out.flush())
    };
    written.map_err(|e| format!("failed to write to standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
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
