//! The processes under test: the sandbox API server (`sandbox --no-operator`, with its fault
//! controls on loopback) and the operator replicas (`run`, each with its own token service and
//! admin ports, leader election on), their output appended to log files the observer scans.

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::process::{Child, Command};

use crate::http::Http;

/// The sandbox process.
pub struct SandboxProc {
    pub child: Child,
    pub api: String,
    pub controls: String,
    pub kubeconfig: PathBuf,
    pub log: PathBuf,
}

impl SandboxProc {
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Self> {
        let log = dir.join("sandbox.log");
        let kubeconfig = dir.join("kubeconfig");
        let out = OpenOptions::new().create(true).append(true).open(&log)?;
        let child = Command::new(binary)
            .args(["sandbox", "--no-operator", "--api-addr", "127.0.0.1:0"])
            // Events expire as on a real cluster, only sooner: the workload writes thousands,
            // and at kube-apiserver's default of one hour a 30-minute run would keep them all,
            // so the sandbox's memory would grow with time at a constant workload.
            .args(["--event-ttl", "2m"])
            .args(["--control-addr", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("failed to start {}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with("sandbox ready at ")) {
                let api = word_after(line, "sandbox ready at ").context("no API address")?;
                let controls = word_after(line, "controls ").context("no controls address")?;
                return Ok(Self {
                    child,
                    api: api.to_owned(),
                    controls: controls.trim_end_matches(',').to_owned(),
                    kubeconfig,
                    log,
                });
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the sandbox did not get ready:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn word_after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.split(prefix).nth(1)?.split_whitespace().next()
}

/// A free loopback port (bound and released: the replica binds it again at each start).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One operator replica: a name, fixed ports, and the process of its current incarnation.
pub struct Replica {
    pub name: &'static str,
    pub http_port: u16,
    pub admin_port: u16,
    pub child: Option<Child>,
    pub incarnation: u32,
    pub log: PathBuf,
}

/// How `run` is started for the soak.
#[derive(Clone)]
pub struct RunConfig {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub resync: Duration,
}

impl Replica {
    pub fn new(name: &'static str, dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            name,
            http_port: free_port()?,
            admin_port: free_port()?,
            child: None,
            incarnation: 0,
            log: dir.join(format!("replica-{name}.log")),
        })
    }

    /// The Lease holder identity of this replica starts with this.
    pub fn identity_prefix(&self) -> String {
        format!("soak-{}_", self.name)
    }

    pub fn token_service(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts a new incarnation and waits for its token service to answer.
    pub async fn start(&mut self, config: &RunConfig, http: &Http) -> anyhow::Result<()> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&config.binary)
            .arg("run")
            .args(["--http-addr", &format!("127.0.0.1:{}", self.http_port)])
            .args(["--admin-addr", &format!("127.0.0.1:{}", self.admin_port)])
            .args(["--resync-period", &format!("{}s", config.resync.as_secs())])
            .args(["--basic-auth", "false"])
            .env("KUBECONFIG", &config.kubeconfig)
            .env("POD_NAME", format!("soak-{}", self.name))
            // As the image runs it (Containerfile): its memory is what is judged.
            .env("MALLOC_MMAP_THRESHOLD_", "131072")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("failed to start replica {}", self.name))?;
        self.child = Some(child);
        self.incarnation += 1;
        let jwks = format!("{}/.well-known/jwks.json", self.token_service());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok((200, _)) = http.send("GET", &jwks, None).await {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                anyhow::bail!("replica {} exited at start: {status}", self.name);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "replica {}'s token service did not answer",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, and reap.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM, and wait for the exit (SIGKILL after 30 s).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}
