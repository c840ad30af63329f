//! One soak run, in order: the sandbox, two replicas, the observer, the probers and the memory
//! sampler; the workload and the fault schedule for the duration; then the faults off, the
//! workload brought to rest, convergence within its bound, no write at rest, no secret in any
//! log line or Event, no memory growth; the report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::bounds::Bounds;
use crate::faults::{Limits, Schedule};
use crate::http::Http;
use crate::observer::{NAMESPACE, access_tokens, digest, service_accounts};
use crate::procs::{Replica, RunConfig, SandboxProc};
use crate::report::{Extra, render};
use crate::scan::find_secret;
use crate::stop::Stop;
use crate::workload::Workload;
use crate::world::World;

/// Options of `soak`.
#[derive(clap::Parser, Debug)]
#[command(about = "A compressed-time soak of witboost-token-operator under faults")]
pub struct Args {
    /// The operator binary (`sandbox` and `run` are its subcommands).
    #[arg(long)]
    pub binary: PathBuf,
    /// How long the workload and the faults run (e.g. 45s, 30m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Accounts (ServiceAccounts and users' PATs), one token each.
    #[arg(long, default_value_t = 300)]
    pub accounts: usize,
    /// Seed of the workload and the fault schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Workload operations per second [default: accounts / 30, at least 2].
    #[arg(long)]
    pub ops_per_second: Option<f64>,
    /// The replicas' `--resync-period`.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub resync: Duration,
    /// The largest latency injected into every API request.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    pub max_latency: Duration,
    /// The longest write-failure burst.
    #[arg(long, default_value = "4s", value_parser = parse_duration)]
    pub max_burst: Duration,
    /// Mean time between API faults [default: duration / 150, between 2 s and 12 s].
    #[arg(long, value_parser = parse_duration)]
    pub fault_interval: Option<Duration>,
    /// Mean time between process faults (kills, restarts), which happen in the first three
    /// fifths of the run only [default: about twelve faults: duration / 20, between 5 s and
    /// 5 min].
    #[arg(long, value_parser = parse_duration)]
    pub process_fault_interval: Option<Duration>,
    /// Allowance in every bound for processes not scheduled on a loaded machine.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub slack: Duration,
    /// Working directory (logs, kubeconfig); a fresh one under the system's temp dir by default.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Also write the report (Markdown) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// `300ms`, `45s`, `30m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("{text}: a unit (ms, s, m, h) is needed"))?;
    let (n, unit) = text.split_at(split);
    let n: f64 = n.parse().map_err(|_| format!("{text}: not a number"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{text}: unknown unit {unit}")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// The sandbox's writes since `earlier`, Lease renewals aside.
fn writes(counts: &serde_json::Value) -> HashMap<(String, String), u64> {
    counts["counts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            ["create", "update", "patch", "delete", "deletecollection"]
                .contains(&c["verb"].as_str().unwrap_or_default())
                && c["resource"] != "leases"
        })
        .map(|c| {
            (
                (
                    c["verb"].as_str().unwrap_or_default().to_owned(),
                    c["resource"].as_str().unwrap_or_default().to_owned(),
                ),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// RSS samples by process incarnation, and for a replica by its role in it (standby, then
/// leading): (seconds, KiB) in the order taken.
type Samples = HashMap<String, Vec<(f64, u64)>>;

/// Runs the soak; `Ok(true)` when no invariant was violated.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("soak-{}-{}", args.seed, std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let http = Http::default();
    let world = Arc::new(World::default());
    let limits = fault_limits(&args);
    let bounds = bounds_from(&args);
    eprintln!("soak: working in {}", dir.display());

    let (mut procs, services) = start_processes(&args, &dir, &http).await?;
    let watchers = start_watchers(&procs, services, &world, &bounds);
    let workload = set_up_workload(&args, &procs.client, &world).await?;
    let schedule = Arc::new(Schedule {
        controls: procs.sandbox.controls.clone(),
        replicas: procs.replicas.clone(),
        run: procs.run_config.clone(),
        world: world.clone(),
        limits,
        http: http.clone(),
    });
    let (mut workload, duration_secs) = load(&args, &schedule, &world, workload).await?;
    let rest = bring_to_rest(&schedule, &mut workload, &procs, &http, &bounds, &world).await?;
    let samples = watchers.stop().await;

    judge_events_seen(&world);
    scan_logs(&world, &procs).await;
    let rss = judge_rss(&samples, &world);
    stop_processes(&mut procs).await;

    let extra = Extra {
        command,
        duration_secs,
        accounts: args.accounts,
        seed: args.seed,
        convergence_secs: rest.convergence_secs,
        rest_writes: rest.rest_writes,
        rest_window_secs: bounds.rest_window().as_secs_f64(),
        rss,
        quiesce_ops: rest.quiesce_ops,
    };
    publish(&args, &dir, &world, &bounds, &extra)
}

/// What the fault schedule injects, from the arguments and their defaults.
fn fault_limits(args: &Args) -> Limits {
    let interval = args.fault_interval.unwrap_or_else(|| {
        (args.duration / 150).clamp(Duration::from_secs(2), Duration::from_secs(12))
    });
    // The last two fifths leave the processes alive: every replica's last incarnation lives
    // at least that long, long enough at 30 minutes for its memory to be judged.
    let process_window = args.duration * 3 / 5;
    let process_interval = args.process_fault_interval.unwrap_or_else(|| {
        (process_window / 12).clamp(Duration::from_secs(5), Duration::from_secs(300))
    });
    Limits {
        max_latency: args.max_latency,
        max_burst: args.max_burst,
        interval,
        process_interval,
        process_window,
    }
}

/// The timings the bounds are made of: the operator's Lease and retry, and the arguments.
fn bounds_from(args: &Args) -> Bounds {
    Bounds {
        lease: Duration::from_secs(15),
        retry: Duration::from_secs(2),
        resync: args.resync,
        latency: args.max_latency,
        burst: args.max_burst,
        slack: args.slack,
    }
}

/// The processes of a run and how to reach and restart them.
struct Processes {
    sandbox: SandboxProc,
    /// A client of the sandbox, in the workload's namespace.
    client: kube::Client,
    run_config: RunConfig,
    replicas: Arc<Mutex<Vec<Replica>>>,
}

/// Starts the sandbox and the two replicas; them, and the replicas' token services.
async fn start_processes(
    args: &Args,
    dir: &Path,
    http: &Http,
) -> anyhow::Result<(Processes, Vec<String>)> {
    let sandbox = SandboxProc::start(&args.binary, dir).await?;
    let mut config = kube::Config::new(sandbox.api.parse()?);
    config.default_namespace = NAMESPACE.into();
    let client = kube::Client::try_from(config)?;
    let run_config = RunConfig {
        binary: args.binary.clone(),
        kubeconfig: sandbox.kubeconfig.clone(),
        resync: args.resync,
    };
    let mut replicas = vec![Replica::new("a", dir)?, Replica::new("b", dir)?];
    for r in &mut replicas {
        r.start(&run_config, http).await?;
    }
    let services: Vec<String> = replicas.iter().map(Replica::token_service).collect();
    let procs = Processes {
        sandbox,
        client,
        run_config,
        replicas: Arc::new(Mutex::new(replicas)),
    };
    Ok((procs, services))
}

/// The tasks that watch the whole run: the observer, the prober and the RSS sampler.
struct Watchers {
    stop_all: tokio::sync::watch::Sender<bool>,
    observer: JoinHandle<()>,
    prober: JoinHandle<()>,
    sampler: JoinHandle<Samples>,
}

/// Spawns the observer, the prober of the token `services` and the RSS sampler.
fn start_watchers(
    procs: &Processes,
    services: Vec<String>,
    world: &Arc<World>,
    bounds: &Bounds,
) -> Watchers {
    let (stop_all, stop) = Stop::new();
    let observer = tokio::spawn(crate::observer::observe(
        procs.client.clone(),
        world.clone(),
        bounds.clone(),
        stop.clone(),
    ));
    let prober = tokio::spawn(crate::prober::probe(
        services,
        world.clone(),
        bounds.clone(),
        stop.clone(),
    ));
    let sampler = tokio::spawn(sample_rss(
        procs.sandbox.child.id(),
        procs.replicas.clone(),
        world.clone(),
        stop.clone(),
    ));
    Watchers {
        stop_all,
        observer,
        prober,
        sampler,
    }
}

impl Watchers {
    /// Stops the tasks and waits for them; the RSS samples taken.
    async fn stop(self) -> Samples {
        let _ = self.stop_all.send(true);
        let _ = self.prober.await;
        let _ = self.observer.await;
        self.sampler.await.unwrap_or_default()
    }
}

/// Creates the workload's accounts and tokens.
async fn set_up_workload(
    args: &Args,
    client: &kube::Client,
    world: &Arc<World>,
) -> anyhow::Result<Workload> {
    let mut workload = Workload::new(client.clone(), world.clone(), args.accounts, args.seed);
    let started = Instant::now();
    workload.set_up().await?;
    eprintln!(
        "soak: {} accounts set up in {:.1} s",
        args.accounts,
        started.elapsed().as_secs_f64()
    );
    Ok(workload)
}

/// Runs the workload and the fault schedule for the run's duration, with progress printed;
/// the workload, and how many seconds it ran.
async fn load(
    args: &Args,
    schedule: &Arc<Schedule>,
    world: &Arc<World>,
    mut workload: Workload,
) -> anyhow::Result<(Workload, f64)> {
    let (stop_load_tx, stop_load) = Stop::new();
    let faults = {
        let (schedule, stop) = (schedule.clone(), stop_load.clone());
        let seed = args.seed;
        tokio::spawn(async move { schedule.run(seed, stop).await })
    };
    let progress = print_progress(world.clone(), stop_load.clone());
    let rate = args
        .ops_per_second
        .unwrap_or((args.accounts as f64 / 30.0).max(2.0));
    let load_started = Instant::now();
    let load = {
        let stop = stop_load.clone();
        async move {
            let r = workload.run(rate, stop).await;
            (workload, r)
        }
    };
    let timer = async {
        tokio::time::sleep(args.duration).await;
        let _ = stop_load_tx.send(true);
    };
    let ((workload, load_result), ()) = tokio::join!(load, timer);
    load_result?;
    faults.await??;
    let _ = progress.await;
    Ok((workload, load_started.elapsed().as_secs_f64()))
}

/// Spawns a task that prints the run's progress every 30 s until `stop`.
fn print_progress(world: Arc<World>, mut stop: Stop) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.sleep(Duration::from_secs(30)).await {
            world.with(|w| {
                eprintln!(
                    "soak: ops {:?}; faults {}; exchanges {} accepted, {} refused; leader changes {}; violations {}",
                    w.ops,
                    w.faults.values().sum::<u64>(),
                    w.exchanges_accepted,
                    w.exchanges_refused,
                    w.leader_changes,
                    w.violations.len()
                )
            });
        }
    })
}

/// What bringing the run to rest measured.
struct Rest {
    /// The deletes and re-enables that quiesced the workload.
    quiesce_ops: u64,
    /// From the workload's rest to the last write, when it converged within its bound.
    convergence_secs: Option<f64>,
    /// The writes over the rest window, when it converged.
    rest_writes: Option<u64>,
}

/// Turns the faults off, restarts the stopped replicas, quiesces the workload, waits for
/// convergence and then counts the writes at rest.
async fn bring_to_rest(
    schedule: &Schedule,
    workload: &mut Workload,
    procs: &Processes,
    http: &Http,
    bounds: &Bounds,
    world: &World,
) -> anyhow::Result<Rest> {
    schedule.clear().await?;
    schedule.restart_stopped().await?;
    let quiesce = workload.quiesce().await?;
    let quiesce_ops = quiesce.values().sum();
    let quiesced = Instant::now();
    let counts_url = format!("{}/counts", procs.sandbox.controls);
    let convergence_secs = converge(
        &procs.client,
        http,
        &counts_url,
        workload.staying(),
        bounds,
        world,
    )
    .await
    .map(|last_write| last_write.duration_since(quiesced).as_secs_f64());
    let rest_writes = if convergence_secs.is_some() {
        Some(writes_at_rest(http, &counts_url, bounds, world).await?)
    } else {
        None
    };
    Ok(Rest {
        quiesce_ops,
        convergence_secs,
        rest_writes,
    })
}

/// The writes over [`Bounds::rest_window`], Lease renewals aside; a violation when any came.
async fn writes_at_rest(
    http: &Http,
    counts_url: &str,
    bounds: &Bounds,
    world: &World,
) -> anyhow::Result<u64> {
    let before = writes(&http.json("GET", counts_url, None).await?);
    tokio::time::sleep(bounds.rest_window()).await;
    let after = writes(&http.json("GET", counts_url, None).await?);
    let mut delta: Vec<String> = Vec::new();
    let mut total = 0;
    for (key, n) in &after {
        let d = n - before.get(key).copied().unwrap_or(0);
        if d > 0 {
            total += d;
            delta.push(format!("{} {} × {d}", key.0, key.1));
        }
    }
    if total > 0 {
        world.violation(format!(
            "{total} writes at rest over {:.0} s: {}",
            bounds.rest_window().as_secs_f64(),
            delta.join(", ")
        ));
    }
    Ok(total)
}

/// A violation when values were issued but no Event was seen.
fn judge_events_seen(world: &World) {
    // The operator records an Event for every value it issues: none seen means the Event
    // watch saw nothing, and the scan of Events proved nothing.
    if world.with(|w| w.events_seen == 0 && !w.values.is_empty()) {
        world.violation("no Event seen: the scan of Events for secrets saw nothing".into());
    }
}

/// A violation for every secret in a line of the sandbox's or a replica's log.
async fn scan_logs(world: &World, procs: &Processes) {
    // Secrets in the logs (every incarnation's output).
    let mut logs = vec![procs.sandbox.log.clone()];
    logs.extend(procs.replicas.lock().await.iter().map(|r| r.log.clone()));
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if let Some((what, _)) = find_secret(line) {
                world.violation(format!("{what} in {} line {}", log.display(), n + 1));
            }
        }
    }
}

/// The report's memory rows, by process incarnation; a violation for every memory that grows.
fn judge_rss(samples: &Samples, world: &World) -> Vec<(String, u64, u64, Option<f64>, String)> {
    let mut rss = Vec::new();
    let mut keys: Vec<_> = samples.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let series = &samples[&key];
        let (Some(first), Some(last)) = (series.first(), series.last()) else {
            continue;
        };
        let span = last.0 - first.0;
        let warm = crate::rss::after_warm_up(series);
        let slope = crate::rss::slope_kib_per_min(warm);
        // Judged over a lifetime long enough, after its warm-up, for a leak to show above the
        // noise.
        let judged = match crate::rss::grows(series) {
            Some(true) => {
                world.violation(format!("the memory of {key} grows: {slope:?} KiB/min"));
                "grows".to_owned()
            }
            Some(false) => "flat".to_owned(),
            None => format!(
                "lived {span:.0} s, not judged under {:.0} s",
                crate::rss::JUDGED_LIFETIME.as_secs_f64()
            ),
        };
        rss.push((key, first.1, last.1, slope, judged));
    }
    if !rss.iter().any(|r| r.4 == "flat" || r.4 == "grows") {
        eprintln!(
            "soak: no process lived {:.0} s in one role: memory was not judged",
            crate::rss::JUDGED_LIFETIME.as_secs_f64()
        );
    }
    rss
}

/// Stops the replicas, then kills the sandbox.
async fn stop_processes(procs: &mut Processes) {
    {
        let mut replicas = procs.replicas.lock().await;
        for r in replicas.iter_mut() {
            r.stop().await;
        }
    }
    let _ = procs.sandbox.child.kill().await;
}

/// Prints the report and writes it where asked; `Ok(true)`, the working directory removed,
/// when no invariant was violated.
fn publish(
    args: &Args,
    dir: &Path,
    world: &World,
    bounds: &Bounds,
    extra: &Extra,
) -> anyhow::Result<bool> {
    let report = world.with(|w| render(w, bounds, extra));
    println!("{report}");
    if let Some(path) = &args.report {
        std::fs::write(path, &report)?;
    }
    let ok = world.violations() == 0;
    if ok {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        eprintln!("soak: FAILED; logs kept in {}", dir.display());
    }
    Ok(ok)
}

/// Waits until a live leader renews the Lease (a killed leader's Lease is not renewed: until
/// it runs out nobody reconciles, and quiet is not convergence), every staying token is Active
/// for its generation with its value in its Secret, every ServiceAccount's status names its
/// Active token (or none), and no write has come for [`Bounds::quiet`]; the moment of the last
/// write before that, if it came within the convergence bound, else a violation.
async fn converge(
    client: &kube::Client,
    http: &Http,
    counts_url: &str,
    staying: usize,
    bounds: &Bounds,
    world: &World,
) -> Option<Instant> {
    let tokens = access_tokens(client);
    let accounts = service_accounts(client);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let mut first_renewal = None;
    let mut renewed = false;
    let started = Instant::now();
    let deadline = started + bounds.convergence() + bounds.quiet();
    let mut last = String::new();
    let mut last_write = started;
    let mut writes_seen = None;
    while Instant::now() < deadline {
        if let Ok(counts) = http.json("GET", counts_url, None).await {
            let total: u64 = writes(&counts).values().sum();
            if writes_seen.is_some_and(|seen| seen != total) {
                last_write = Instant::now();
            }
            writes_seen = Some(total);
        }
        if let Ok(lease_list) = leases.list(&ListParams::default()).await {
            let renewal = lease_list
                .items
                .iter()
                .find_map(|l| l.spec.as_ref()?.renew_time.clone());
            match (&first_renewal, renewal) {
                (None, Some(seen)) => first_renewal = Some(seen),
                (Some(first), Some(seen)) if *first != seen => renewed = true,
                _ => {}
            }
        }
        if let (Ok(list), Ok(secret_list), Ok(account_list)) = (
            tokens.list(&ListParams::default()).await,
            secrets.list(&ListParams::default()).await,
            accounts.list(&ListParams::default()).await,
        ) {
            if !renewed {
                last = "no live leader has renewed the Lease yet".into();
            } else if let Some(what) = unsettled(
                &list.items,
                &secret_list.items,
                &account_list.items,
                staying,
            ) {
                last = what;
            } else if last_write.elapsed() >= bounds.quiet() {
                return within_convergence(started, last_write, bounds, world);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    world.violation(format!(
        "no convergence within {:.1} s after the faults stopped: {last}",
        bounds.convergence().as_secs_f64()
    ));
    None
}

/// `last_write` when it came within the convergence bound after `started`, else a violation.
fn within_convergence(
    started: Instant,
    last_write: Instant,
    bounds: &Bounds,
    world: &World,
) -> Option<Instant> {
    (last_write.duration_since(started) <= bounds.convergence())
        .then_some(last_write)
        .or_else(|| {
            world.violation(format!(
                "the last write came {:.1} s after the faults stopped (bound {:.1} s)",
                last_write.duration_since(started).as_secs_f64(),
                bounds.convergence().as_secs_f64()
            ));
            None
        })
}

/// What keeps the tokens and ServiceAccounts from being as wanted, or `None` when they are:
/// `staying` tokens, all settled, every ServiceAccount's status naming its Active token.
fn unsettled(
    tokens: &[DynamicObject],
    secrets: &[Secret],
    accounts: &[DynamicObject],
    staying: usize,
) -> Option<String> {
    let unsettled = unsettled_tokens(tokens, secrets);
    let stale_accounts = stale_account_statuses(tokens, accounts);
    if tokens.len() == staying && unsettled.is_empty() && stale_accounts.is_empty() {
        return None;
    }
    Some(format!(
        "{} tokens (want {staying}), unsettled: {:?}, ServiceAccount statuses not \
         naming their Active token: {:?}",
        tokens.len(),
        unsettled.iter().take(10).collect::<Vec<_>>(),
        stale_accounts.iter().take(10).collect::<Vec<_>>()
    ))
}

/// The tokens not Active for their generation with their value in their Secret.
fn unsettled_tokens(tokens: &[DynamicObject], secrets: &[Secret]) -> Vec<String> {
    let values: HashMap<String, String> = secrets
        .iter()
        .filter_map(|s| {
            Some((
                s.metadata.name.clone()?,
                digest(&s.data.as_ref()?.get("token")?.0),
            ))
        })
        .collect();
    tokens
        .iter()
        .filter(|t| {
            let status = t.data.get("status");
            let phase = status.and_then(|s| s["phase"].as_str());
            let observed = status.and_then(|s| s["observedGeneration"].as_i64());
            let want = status.and_then(|s| s["tokenDigest"].as_str());
            let name = t.metadata.name.clone().unwrap_or_default();
            let secret = status
                .and_then(|s| s["secretName"].as_str())
                .unwrap_or(&name);
            !(phase == Some("Active")
                && observed == t.metadata.generation
                && want.is_some()
                && values.get(secret).map(String::as_str) == want)
        })
        .filter_map(|t| t.metadata.name.clone())
        .collect()
}

/// The ServiceAccounts whose `status.activeToken` is not the name of their Active token (or
/// absent when none is Active).
fn stale_account_statuses(tokens: &[DynamicObject], accounts: &[DynamicObject]) -> Vec<String> {
    let mut active: HashMap<&str, &str> = HashMap::new();
    for token in tokens {
        let account = token.data["spec"]["serviceAccountName"].as_str();
        let phase = token.data["status"]["phase"].as_str();
        if let (Some(account), Some("Active"), Some(name)) =
            (account, phase, token.metadata.name.as_deref())
        {
            active.insert(account, name);
        }
    }
    accounts
        .iter()
        .filter_map(|account| {
            let name = account.metadata.name.as_deref()?;
            let named = account.data["status"]["activeToken"].as_str();
            (named != active.get(name).copied()).then(|| name.to_owned())
        })
        .collect()
}

/// RSS samples every 2 s, by process incarnation and role (`sandbox`, `replica a #1 standby`,
/// `replica a #1 leading`, ...).
async fn sample_rss(
    sandbox: Option<u32>,
    replicas: Arc<Mutex<Vec<Replica>>>,
    world: Arc<World>,
    mut stop: Stop,
) -> HashMap<String, Vec<(f64, u64)>> {
    let mut samples: HashMap<String, Vec<(f64, u64)>> = HashMap::new();
    loop {
        let now = crate::now();
        let mut pids: Vec<(String, u32)> = sandbox
            .map(|p| ("sandbox".to_owned(), p))
            .into_iter()
            .collect();
        let leader = world.with(|w| w.leader.clone()).unwrap_or_default();
        if let Ok(replicas) = replicas.try_lock() {
            pids.extend(replicas.iter().filter_map(|r| {
                // A standby that takes over starts a series of its own: leading, it keeps more
                // (the controllers' caches and Event series), and warms up again.
                let role = if leader.starts_with(&r.identity_prefix()) {
                    "leading"
                } else {
                    "standby"
                };
                Some((
                    format!("replica {} #{} {role}", r.name, r.incarnation),
                    r.pid()?,
                ))
            }));
        }
        for (key, pid) in pids {
            if let Some(kib) = crate::rss::rss_kib(pid) {
                samples.entry(key).or_default().push((now, kib));
            }
        }
        if stop.sleep(Duration::from_secs(2)).await {
            return samples;
        }
    }
}
