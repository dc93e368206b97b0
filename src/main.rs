//! The `kafka-fuzz` command line.

mod serve_cluster;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kafka_fuzz::adapters::adapter_targets;
use kafka_fuzz::attack::{AttackCase, Budget, CaseGenerator, REPORT_FILES, RemoteServer, run_attack, target_address};
use kafka_fuzz::capture::read_capture;
use kafka_fuzz::corpus::{
    ConnectionStream, CorpusStats, RESPONSES_DIR, Seed, SeedStore, TrafficRecorder, input_files, request_seeds,
    write_seeds,
};
use kafka_fuzz::harness::alloc::{CountingAllocator, with_allocation_cap};
use kafka_fuzz::harness::fatal_signal::FatalSignalReport;
use kafka_fuzz::harness::protocol_states::{ProtocolStates, recording};
use kafka_fuzz::harness::targets;
use kafka_fuzz::server::broker::{Broker, BrokerConfig, SystemClock};
use kafka_fuzz::server::net::{self, ConnectionLimits, ServerStats, TrafficObserver};
use kafka_fuzz::server::wire::{
    BatchLimits, DEFAULT_MAX_FRAME_SIZE, FrameSplitter, Request, decode_record_batches, decode_request, supported_api,
};
use kafka_fuzz::triage::TriageOptions;
use kafka_fuzz::triage::known::KnownIssues;
use kafka_fuzz::triage::minimize::MinimizeBudget;
use kafka_fuzz::triage::reproduce::Reproducer;
use kafka_protocol::messages::RequestKind;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    name = "kafka-fuzz",
    version,
    about = "Protocol fuzzing suite for Kafka-compatible servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode files of size-prefixed request frames (as a client sends them)
    /// with the reference server's decoder, printing each request or the
    /// exact error and byte offset.
    Decode {
        /// Files to decode.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print every decoded field, not just a summary line.
        #[arg(long, short)]
        verbose: bool,
        /// Largest frame accepted, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_FRAME_SIZE)]
        max_frame_size: usize,
    },
    /// Run the reference server on TCP, for real Kafka clients. Stops on
    /// Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Run inputs (files, or every file of a directory) through a fuzz
    /// target, as the fuzz binaries do, allocation cap included: a crasher
    /// crashes here too, with its report.
    ///
    /// With --addr, play session files (saved by `attack`) against a server
    /// over TCP instead, printing each request and answer; exits 2 when one
    /// breaks the server.
    Replay {
        /// The target, e.g. produce (see `kafka-fuzz targets`).
        #[arg(long, short, required_unless_present = "addr", conflicts_with = "addr")]
        target: Option<String>,
        /// A server to replay session files against, HOST:PORT.
        #[arg(long)]
        addr: Option<String>,
        /// Allow an --addr that is not a loopback address.
        #[arg(long, requires = "addr")]
        allow_remote: bool,
        /// Abort an input that runs longer than this many seconds, printing
        /// the frames it is in (as a timeout). With --addr: how long each
        /// answer is awaited [default: 5].
        #[arg(long)]
        timeout: Option<f64>,
        /// Do not print what a script input (a session) does step by step.
        #[arg(long, short)]
        quiet: bool,
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Attack a running server over TCP (any language): generated and
    /// corpus-mutated client streams on real connections, every answer
    /// checked, and after each case a fresh connection must get an
    /// ApiVersions answer. Cases that kill, hang or confuse the server are
    /// saved as session files for `replay --addr`. Exits 2 when a fault
    /// was found.
    Attack(AttackArgs),
    /// Many concurrent clients and real faults (SIGKILL and restart,
    /// SIGSTOP/SIGCONT) against servers over TCP, started from a command
    /// (the reference cluster by default) or attached to: every operation
    /// in a history checked against Kafka's replicated guarantees, stalls
    /// caught with every thread's stack, a report. Exits 2 on a finding.
    Storm(StormArgs),
    /// Every Kafka API: the versions the decoder reads, whether the reference
    /// broker answers it, whether sessions send it (a markdown table).
    Apis,
    /// Test builds only (`--features planted-bugs`): the bugs that can be
    /// planted in the reference server, one line each: name, the targets
    /// that should catch it, what it breaks (tab-separated).
    #[cfg(feature = "planted-bugs")]
    PlantedBugs,
    /// Protocol-state coverage of a corpus: run every input through a
    /// target and count the distinct (api, version, error code) tuples of
    /// the responses, with a table of the error codes never answered.
    States {
        /// The target, e.g. session.
        #[arg(long, short)]
        target: String,
        /// Print only the number of tuples.
        #[arg(long)]
        count: bool,
        /// Files, or directories of them (a corpus).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// List the fuzz targets.
    Targets,
    /// Reproduce crash artifacts, group them into distinct bugs, minimize
    /// one input per bug, and write report.json and report.md. Exits 0 when
    /// no new bug was found, 2 when one was.
    Triage(TriageArgs),
    /// Seed corpora.
    #[command(subcommand)]
    Corpus(CorpusCommand),
    /// Turn pcap or pcapng captures of Kafka traffic into seeds: every
    /// client request frame as its targets read it, each connection's
    /// request stream for `dispatch` (as `serve --record` does), and each
    /// connection's responses under OUT/responses/.
    ImportPcap(ImportPcapArgs),
}

#[derive(clap::Args)]
struct AttackArgs {
    /// The server, HOST:PORT.
    #[arg(long)]
    addr: String,
    /// Allow an address that is not loopback: hostile traffic goes to
    /// another machine.
    #[arg(long)]
    allow_remote: bool,
    /// Seconds to attack for [default: 60, unless --cases is given].
    #[arg(long)]
    time: Option<f64>,
    /// Most cases to play.
    #[arg(long)]
    cases: Option<u64>,
    /// Seconds each answer, and each probe, is awaited.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Corpus root whose client streams are mutated (its dispatch,
    /// frame_decode, differential, produce, fetch and metadata seeds)
    /// [default: corpus, if there is one].
    #[arg(long, conflicts_with = "no_corpus")]
    corpus: Option<PathBuf>,
    /// Generated cases only.
    #[arg(long)]
    no_corpus: bool,
    /// The seed cases come from [default: from the clock; the report gives it].
    #[arg(long)]
    seed: Option<u64>,
    /// Where session files, report.md and report.json go.
    #[arg(long, default_value = "attack-findings")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct StormArgs {
    #[command(flatten)]
    options: kafka_fuzz::storm::StormOptions,
    /// Run again what a run in DIR did: its options and seed (from
    /// DIR/options.json), so the same workload and fault schedule; the
    /// new run writes to --out.
    #[arg(long, value_name = "DIR")]
    replay: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ImportPcapArgs {
    /// Capture files (pcap or pcapng), or directories of them (their
    /// .pcap, .pcapng and .cap files).
    #[arg(required = true)]
    captures: Vec<PathBuf>,
    /// The Kafka server's ports: a connection to one of them is Kafka
    /// traffic, that side the server.
    #[arg(long, value_delimiter = ',', default_value = "9092")]
    port: Vec<u16>,
    /// The corpus root the seeds go under, as OUT/<target>/<sha1>: a
    /// staging directory, from which `scripts/corpus-minimize.sh --from OUT`
    /// merges what adds coverage into corpus/.
    #[arg(long)]
    out: PathBuf,
    /// Largest frame taken as one, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_SIZE)]
    max_frame_size: usize,
}

#[derive(Subcommand)]
enum CorpusCommand {
    /// Write the seeds generated from valid encodings (every API and
    /// version, every codec, a whole connection) under DIR/<target>/.
    Seed {
        #[arg(long, default_value = "corpus")]
        out: PathBuf,
    },
    /// Per target: how many seeds, their sizes, and what they hold
    /// (requests by API and version, record batches by codec).
    Stats {
        #[arg(default_value = "corpus")]
        dir: PathBuf,
    },
}

// Replayed inputs run under the same allocation cap as in the fuzz binaries.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[derive(clap::Args)]
struct TriageArgs {
    /// Artifacts: files, or directories of them (e.g. fuzz/artifacts/produce).
    #[arg(required = true)]
    artifacts: Vec<PathBuf>,
    /// The target the artifacts came from (see `kafka-fuzz targets`).
    #[arg(long, short)]
    target: String,
    /// Reproduce with this binary (a libFuzzer or replay build of the
    /// target, taking the input file as argument) instead of
    /// `kafka-fuzz replay`.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Where report.json, report.md and minimized/ go.
    #[arg(long, default_value = "triage-report")]
    out: PathBuf,
    /// File each new bug's minimized input as
    /// <REGRESSIONS>/<target>/<bug id>, replayed by `cargo test`.
    #[arg(long)]
    promote: bool,
    /// The regression corpus `--promote` files into.
    #[arg(long, default_value = "corpus/regressions")]
    regressions: PathBuf,
    /// More known issues (TOML, like src/triage/known-issues.toml); the
    /// built-in list always applies.
    #[arg(long)]
    known: Vec<PathBuf>,
    /// Seconds an input may run before it counts as a timeout.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Address-space limit of each reproducer, in MiB (0: none).
    #[arg(long, default_value_t = 4096)]
    memory_limit_mb: u64,
    /// Seconds spent minimizing each bug.
    #[arg(long, default_value_t = 60.0)]
    minimize_time: f64,
    /// Report each bug's smallest artifact without minimizing it.
    #[arg(long)]
    no_minimize: bool,
    /// Artifacts larger than this many bytes are skipped.
    #[arg(long, default_value_t = 16 << 20)]
    max_input_size: u64,
    /// Reproducers run at once [default: the number of cores].
    #[arg(long)]
    jobs: Option<usize>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (printed at start).
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// host:port sent to clients in Metadata and FindCoordinator
    /// [default: the address listened on].
    #[arg(long)]
    advertise: Option<String>,
    /// Partitions of auto-created topics (`num.partitions`).
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Do not create unknown topics on Metadata or Produce.
    #[arg(long)]
    no_auto_create: bool,
    /// Largest request frame accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_SIZE)]
    max_frame_size: usize,
    /// Close connections silent for this many seconds.
    #[arg(long, default_value_t = 600)]
    idle_timeout_secs: u64,
    /// Close connections whose started frame is not complete after this many seconds.
    #[arg(long, default_value_t = 30)]
    partial_frame_timeout_secs: u64,
    /// How long the first rebalance of an empty group waits for more members.
    #[arg(long, default_value_t = 0)]
    initial_rebalance_delay_ms: i32,
    /// Write every request received as seeds under DIR/<target>/ (and
    /// each connection's stream under DIR/dispatch/), as `import-pcap` does.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["node_id", "cluster"])]
    record: Option<PathBuf>,
    /// Run as this node of a cluster (with --peers and --data-dir): a Raft
    /// metadata quorum, replicated partitions, a write-ahead log.
    #[arg(long, requires_all = ["peers", "data_dir"], conflicts_with = "cluster")]
    node_id: Option<i32>,
    /// Every node of the cluster, this one included:
    /// ID=CLIENT_HOST:PORT/PEER_HOST:PORT, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = serve_cluster::parse_peer, requires = "node_id")]
    peers: Vec<(i32, kafka_fuzz::server::node_net::NodeAddresses)>,
    /// Listen on these addresses, CLIENT_HOST:PORT/PEER_HOST:PORT, instead
    /// of this node's --peers entry, which is then only how clients and the
    /// other nodes reach it (through a proxy, as `kafka-fuzz storm` puts
    /// one in front of each node).
    #[arg(long, value_parser = serve_cluster::parse_addresses, requires = "node_id")]
    bind: Option<kafka_fuzz::server::node_net::NodeAddresses>,
    /// Start this many nodes as child processes on loopback ports, print
    /// their addresses and pids, restart any that dies (with --data-dir).
    #[arg(long, requires = "data_dir")]
    cluster: Option<i32>,
    /// Where a node keeps its write-ahead log (with --cluster: one
    /// directory per node under it).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// When a node flushes partition data: `always` (before answering), or
    /// `interval:MS` (a crash loses what replication has not covered).
    #[arg(long, default_value = "always", value_parser = serve_cluster::parse_flush)]
    flush: kafka_fuzz::server::cluster::FlushPolicy,
    /// `min.insync.replicas` for acks=all [default: 1 alone, 2 on a cluster].
    #[arg(long)]
    min_insync_replicas: Option<usize>,
    /// A SASL/PLAIN user, NAME:PASSWORD (repeatable): connections must then
    /// authenticate before anything but ApiVersions, as on Kafka's
    /// SASL_PLAINTEXT listener.
    #[arg(long, value_name = "NAME:PASSWORD", value_parser = parse_sasl_user, conflicts_with_all = ["node_id", "cluster"])]
    sasl_user: Vec<(String, String)>,
}

/// `--sasl-user NAME:PASSWORD`.
fn parse_sasl_user(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((name, password)) if !name.is_empty() && !password.is_empty() => {
            Ok((name.to_owned(), password.to_owned()))
        }
        _ => Err(format!("{value:?} is not NAME:PASSWORD (both non-empty)")),
    }
}

fn storm(args: StormArgs) -> anyhow::Result<ExitCode> {
    let options = match &args.replay {
        None => args.options,
        Some(dir) => {
            let path = dir.join("options.json");
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let recorded: kafka_fuzz::storm::StormOptions =
                serde_json::from_str(&text).with_context(|| format!("{} is not a storm's options", path.display()))?;
            kafka_fuzz::storm::StormOptions {
                out: args.options.out,
                ..recorded
            }
        }
    };
    let own_binary = std::env::current_exe().context("cannot find the kafka-fuzz executable")?;
    let outcome = kafka_fuzz::storm::run(&options, &own_binary)?;
    Ok(if outcome.found() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        // Colour codes only for a person: triage reports quote this output.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Decode {
            files,
            verbose,
            max_frame_size,
        } => {
            let mut failures = 0;
            for file in &files {
                failures += decode_file(file, verbose, max_frame_size)?;
            }
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Replay {
            addr: Some(addr),
            allow_remote,
            timeout,
            quiet,
            inputs,
            ..
        } => replay_remote(&addr, allow_remote, timeout, quiet, &inputs),
        Command::Replay {
            target,
            timeout,
            quiet,
            inputs,
            ..
        } => {
            let target = known_target(target.as_deref().unwrap_or_default())?;
            let run = target.explain.filter(|_| !quiet).unwrap_or(target.run);
            let time_limit = timeout.map(|value| seconds(value, "--timeout")).transpose()?;
            let files = input_files(&inputs).context("cannot list the inputs")?;
            let report = FatalSignalReport::install().context("cannot install the fatal-signal report")?;
            for file in &files {
                let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
                eprintln!("{}: {} ({} bytes)", target.name, file.display(), data.len());
                report.with_time_limit(time_limit, || {
                    with_allocation_cap(data.len(), || run(&data));
                });
            }
            eprintln!("{} inputs ran through {} without a crash", files.len(), target.name);
            Ok(ExitCode::SUCCESS)
        }
        Command::States { target, count, inputs } => {
            let target = known_target(&target)?;
            let files = input_files(&inputs).context("cannot list the inputs")?;
            let mut states = ProtocolStates::default();
            for file in &files {
                let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
                let ((), reached) = recording(|| with_allocation_cap(data.len(), || (target.run)(&data)));
                states.merge(reached);
            }
            if count {
                println!("{}", states.len());
            } else {
                println!(
                    "{}: {} inputs, {} distinct (api, version, error code) tuples\n",
                    target.name,
                    files.len(),
                    states.len()
                );
                print!("{}", states.table());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Triage(args) => triage(args),
        Command::Attack(args) => attack(args),
        Command::Storm(args) => storm(args),
        Command::Apis => {
            print!("{}", kafka_fuzz::harness::api_coverage::api_coverage_table());
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "planted-bugs")]
        Command::PlantedBugs => {
            for bug in kafka_fuzz::server::planted::PlantedBug::ALL {
                println!("{}\t{}\t{}", bug.name(), bug.targets().join(","), bug.what());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Targets => {
            for target in targets::TARGETS.iter().chain(adapter_targets()) {
                println!("{:<22} {}", target.name, target.about);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Corpus(CorpusCommand::Seed { out }) => {
            let count = write_seeds(&out).with_context(|| format!("cannot write seeds under {}", out.display()))?;
            println!("{count} seeds written under {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Corpus(CorpusCommand::Stats { dir }) => {
            let stats = CorpusStats::read(&dir)?;
            print!("{stats}");
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportPcap(args) => import_pcap(args),
        Command::Serve(args) => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            // A planted bug is per thread: every worker gets it.
            #[cfg(feature = "planted-bugs")]
            runtime.on_thread_start(kafka_fuzz::server::planted::plant_from_environment);
            runtime
                .enable_all()
                .build()
                .context("cannot start the async runtime")?
                .block_on(serve(args))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The target called `name`, or an error listing the targets.
fn known_target(name: &str) -> anyhow::Result<&'static targets::FuzzTarget> {
    targets::target(name).with_context(|| {
        let names: Vec<_> = targets::TARGETS
            .iter()
            .chain(adapter_targets())
            .map(|t| t.name)
            .collect();
        format!("unknown target {name}; the targets are {}", names.join(", "))
    })
}

/// A command-line duration in seconds: more than zero (a zero timeout
/// would call every answer late) and at most a year.
fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero() && value <= YEAR)
        .with_context(|| format!("{flag}: expected a number of seconds above 0 and at most {YEAR}, got {value}"))
}

fn triage(args: TriageArgs) -> anyhow::Result<ExitCode> {
    let time_limit = seconds(args.timeout, "--timeout")?;
    let reproducer = match &args.binary {
        Some(binary) => Reproducer::binary(binary.clone(), time_limit, args.memory_limit_mb)?,
        None => {
            known_target(&args.target).map_err(|error| {
                anyhow::anyhow!("{error} (for a target of your own, give its fuzz binary with --binary)")
            })?;
            let program = std::env::current_exe().context("cannot find the kafka-fuzz executable to replay with")?;
            Reproducer::replay(program, &args.target, time_limit, args.memory_limit_mb)
        }
    };
    let mut known = KnownIssues::builtin();
    for file in &args.known {
        known.load(file)?;
    }
    let options = TriageOptions {
        reproducer,
        out_dir: args.out.clone(),
        known,
        minimize: (!args.no_minimize)
            .then(|| seconds(args.minimize_time, "--minimize-time").map(|time| MinimizeBudget { runs: 100_000, time }))
            .transpose()?,
        promote_to: args.promote.then(|| args.regressions.join(&args.target)),
        max_input_size: args.max_input_size,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        target: args.target,
    };
    let report = kafka_fuzz::triage::triage(&args.artifacts, &options)?;
    for skipped in &report.skipped {
        eprintln!("skipped {}: {}", skipped.path, skipped.reason);
    }
    if !report.bugs.is_empty() {
        println!("{}", report.table());
    }
    println!("{}", report.summary());
    println!("report: {}", args.out.join("report.md").display());
    if report.skipped.len() == report.artifacts {
        anyhow::bail!(
            "none of the {} artifacts could be run (reasons above)",
            report.artifacts
        );
    }
    Ok(if report.new_bugs() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn attack(args: AttackArgs) -> anyhow::Result<ExitCode> {
    let addr = target_address(&args.addr, args.allow_remote)?;
    let server = RemoteServer {
        addr,
        timeout: seconds(args.timeout, "--timeout")?,
    };
    let budget = Budget {
        time: match (args.time, args.cases) {
            (Some(time), _) => Some(seconds(time, "--time")?),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs(60)),
        },
        cases: args.cases,
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64)
    });
    let mut generator = CaseGenerator::new(seed);
    let corpus = match (args.no_corpus, args.corpus) {
        (true, _) => None,
        (false, Some(dir)) => Some(dir),
        (false, None) => Some(PathBuf::from("corpus")).filter(|dir| dir.is_dir()),
    };
    if let Some(dir) = &corpus {
        let streams = generator
            .load_corpus(dir)
            .with_context(|| format!("cannot read the corpus {}", dir.display()))?;
        eprintln!("attack: {streams} client streams from {}", dir.display());
    }
    // Most cases go to what the server says it answers; it is asked once,
    // so a rerun against the same server plays the same cases.
    if let Ok(api_keys) = server.advertised_apis() {
        generator.focus_on(&api_keys);
        eprintln!("attack: the server advertises {} APIs", api_keys.len());
    }
    eprintln!("attack: {addr}, seed {seed}");
    let mut last_line = std::time::Instant::now();
    let summary = run_attack(&server, &generator, seed, budget, &args.out, |progress| {
        if last_line.elapsed() >= Duration::from_secs(1) {
            last_line = std::time::Instant::now();
            eprintln!(
                "attack: {} cases ({:.0}/s), {} faults, {:.0} s",
                progress.cases,
                progress.cases as f64 / progress.elapsed.as_secs_f64().max(1e-9),
                progress.findings,
                progress.elapsed.as_secs_f64()
            );
        }
    })?;
    print!("{summary}");
    println!("\n{}", summary.line());
    println!("report: {}", args.out.join("report.md").display());
    Ok(if summary.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Plays session files against a server, printing each exchange.
fn replay_remote(
    addr: &str,
    allow_remote: bool,
    timeout: Option<f64>,
    quiet: bool,
    inputs: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let server = RemoteServer {
        addr: target_address(addr, allow_remote)?,
        timeout: seconds(timeout.unwrap_or(5.0), "--timeout")?,
    };
    // An attack's output directory holds its reports beside the sessions.
    let files: Vec<PathBuf> = input_files(inputs)
        .context("cannot list the inputs")?
        .into_iter()
        .filter(|file| {
            !file
                .file_name()
                .is_some_and(|name| REPORT_FILES.iter().any(|report| name == *report))
        })
        .collect();
    let mut faults = 0;
    for file in &files {
        let case = AttackCase::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        println!(
            "{}: {} frames, {} tail bytes",
            file.display(),
            case.frames.len(),
            case.tail.len()
        );
        let mut stdout = std::io::stdout();
        let transcript = (!quiet).then_some(&mut stdout as &mut dyn std::io::Write);
        let outcome = server.play(&case, transcript);
        match outcome.fault {
            Some(fault) => {
                faults += 1;
                println!("{}: {}: {}", file.display(), fault.kind.name(), fault.detail);
            }
            None => println!("{}: the server survived and answers", file.display()),
        }
    }
    println!(
        "{} of {} session files broke the server at {}",
        faults,
        files.len(),
        server.addr
    );
    Ok(if faults == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn import_pcap(args: ImportPcapArgs) -> anyhow::Result<ExitCode> {
    let files = capture_files(&args.captures)?;
    let mut store = SeedStore::new(&args.out);
    let mut failed = 0;
    for file in &files {
        let capture = match read_capture(file, &args.port, args.max_frame_size) {
            Ok(capture) => capture,
            Err(error) => {
                failed += 1;
                eprintln!("error: {error}");
                continue;
            }
        };
        let (mut requests, mut responses, mut skipped) = (0, 0, 0);
        for connection in &capture.connections {
            requests += connection.requests.len();
            responses += connection.responses.len();
            skipped += connection.skipped_bytes;
            let mut stream = ConnectionStream::default();
            let mut seeds = Vec::new();
            for frame in &connection.requests {
                // Captured frames carry their size prefix.
                seeds.extend(request_seeds(&frame[4..]));
                stream.push(&frame[4..]);
            }
            seeds.extend(stream.into_seed());
            if !connection.responses.is_empty() {
                seeds.push(Seed::content_addressed(RESPONSES_DIR, connection.responses.concat()));
            }
            for seed in &seeds {
                store
                    .add(seed)
                    .with_context(|| format!("cannot write {}/{}/{}", args.out.display(), seed.target, seed.name))?;
            }
        }
        println!(
            "{}: {} connections, {requests} requests, {responses} responses; {skipped} bytes skipped resynchronizing, {} packets skipped",
            file.display(),
            capture.connections.len(),
            capture.skipped_packets
        );
    }
    print!("seeds under {}:\n{}", args.out.display(), store.summary());
    if failed > 0 {
        anyhow::bail!("{failed} of {} captures could not be read", files.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// The capture files named, and those of the directories named (by their
/// extension: a directory of captures holds notes too).
fn capture_files(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let listed =
                input_files(std::slice::from_ref(input)).with_context(|| format!("cannot list {}", input.display()))?;
            let is_capture = |path: &PathBuf| {
                path.extension()
                    .is_some_and(|ext| ["pcap", "pcapng", "cap"].contains(&&*ext.to_string_lossy()))
            };
            files.extend(listed.into_iter().filter(is_capture));
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(count) = args.cluster {
        let data_dir = args.data_dir.as_deref().context("--cluster needs --data-dir")?;
        let mut extra = vec!["--partitions".to_owned(), args.partitions.to_string()];
        if let Some(min) = args.min_insync_replicas {
            extra.extend(["--min-insync-replicas".to_owned(), min.to_string()]);
        }
        if args.no_auto_create {
            extra.push("--no-auto-create".to_owned());
        }
        return serve_cluster::run_cluster(count, data_dir, args.flush, extra, shutdown_signal()).await;
    }
    let limits = ConnectionLimits {
        max_frame_size: args.max_frame_size,
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        partial_frame_timeout: Duration::from_secs(args.partial_frame_timeout_secs),
    };
    if let (Some(id), Some(data_dir)) = (args.node_id, args.data_dir.clone()) {
        let nodes = args.peers.len();
        let broker = BrokerConfig {
            auto_create_topics: !args.no_auto_create,
            default_partitions: args.partitions,
            initial_rebalance_delay_ms: args.initial_rebalance_delay_ms,
            default_replication_factor: nodes.min(3),
            min_insync_replicas: args.min_insync_replicas.unwrap_or(nodes.min(2)),
            replica_lag_time_max_ms: 10_000,
            ..BrokerConfig::default()
        };
        let options = serve_cluster::NodeOptions {
            id,
            peers: args.peers,
            bind: args.bind,
            data_dir,
            flush: args.flush,
            broker,
            limits,
        };
        return serve_cluster::run_node(options, shutdown_signal()).await;
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let (host, port) = match &args.advertise {
        Some(advertised) => {
            let (host, port) = advertised
                .rsplit_once(':')
                .with_context(|| format!("--advertise {advertised}: expected host:port"))?;
            let port = port
                .parse()
                .with_context(|| format!("--advertise {advertised}: bad port"))?;
            (host.to_owned(), port)
        }
        None => (local.ip().to_string(), i32::from(local.port())),
    };
    let config = BrokerConfig {
        advertised_host: host,
        advertised_port: port,
        auto_create_topics: !args.no_auto_create,
        default_partitions: args.partitions,
        initial_rebalance_delay_ms: args.initial_rebalance_delay_ms,
        min_insync_replicas: args.min_insync_replicas.unwrap_or(1),
        sasl_users: args.sasl_user,
        ..BrokerConfig::default()
    };
    let stats = Arc::new(ServerStats::default());
    let shutdown = shutdown_signal();
    // Scripts read this line to learn the port.
    println!("listening on {local}");
    tracing::info!(
        "kafka-fuzz reference server on {local}, advertised as {}:{}",
        config.advertised_host,
        config.advertised_port
    );
    let broker = Broker::new(config, SystemClock);
    let recorder = args.record.map(|dir| Arc::new(TrafficRecorder::new(dir)));
    let observer = recorder.clone().map(|recorder| recorder as Arc<dyn TrafficObserver>);
    net::serve(listener, broker, limits, Arc::clone(&stats), observer, shutdown).await?;
    println!(
        "stopped: {} connections, {} requests, {} connections closed for bad input",
        stats.connections.load(Ordering::Relaxed),
        stats.requests.load(Ordering::Relaxed),
        stats.rejected.load(Ordering::Relaxed)
    );
    if let Some(recorder) = recorder {
        print!("recorded seeds:\n{}", recorder.finish());
    }
    Ok(())
}

/// Ctrl-C or SIGTERM. SIGTERM is watched from the call on, not from the
/// first poll: a script that stops the server as soon as it says it listens
/// must not kill it before it can write what it recorded.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let terminate = signal(SignalKind::terminate());
    async move {
        match terminate {
            Ok(mut terminate) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            },
            Err(error) => {
                tracing::warn!("cannot watch SIGTERM: {error}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Prints every frame of `file`; returns how many could not be decoded.
fn decode_file(file: &PathBuf, verbose: bool, max_frame_size: usize) -> anyhow::Result<usize> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut splitter = FrameSplitter::new(max_frame_size);
    splitter.push(&bytes);
    let (mut frames, mut failures) = (0, 0);
    loop {
        let frame = match splitter.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                println!("{}: stream: {error}", file.display());
                return Ok(failures + 1);
            }
        };
        let label = format!("{} frame {frames} ({} bytes)", file.display(), frame.len());
        frames += 1;
        match decode_request(frame) {
            Ok(request) => {
                println!("{label}: {}", summary(&request));
                if verbose {
                    println!("{request:#?}");
                }
            }
            Err(error) => {
                failures += 1;
                println!("{label}: error: {error}");
            }
        }
    }
    if splitter.buffered() > 0 {
        failures += 1;
        println!(
            "{}: {} bytes of an incomplete frame at the end",
            file.display(),
            splitter.buffered()
        );
    }
    println!("{}: {frames} frames, {failures} errors", file.display());
    Ok(failures)
}

/// One line: api, version, correlation id, client, and for Produce the
/// record batches each partition carries.
fn summary(request: &Request) -> String {
    let header = &request.header;
    let client = header.client_id.as_deref().unwrap_or("-");
    let api = supported_api(header.request_api_key).map_or("?", |api| api.name);
    let mut line = format!(
        "{api} v{} correlation id {} client {client}",
        header.request_api_version, header.correlation_id
    );
    if let RequestKind::Produce(produce) = &request.body {
        for topic in &produce.topic_data {
            for partition in &topic.partition_data {
                let records = partition.records.clone().unwrap_or_default();
                let batches = match decode_record_batches(records, BatchLimits::default()) {
                    Ok(batches) => {
                        let count: usize = batches.iter().map(|b| b.records.len()).sum();
                        format!("{} batches, {count} records", batches.len())
                    }
                    Err(error) => format!("bad records: {error}"),
                };
                // Produce v13 names topics by id only.
                let topic = match topic.name.as_str() {
                    "" => topic.topic_id.to_string(),
                    name => name.to_owned(),
                };
                line += &format!("; {topic}[{}]: {batches}", partition.index);
            }
        }
    }
    line
}
