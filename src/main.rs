//! The `kafka-fuzz` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kafka_fuzz::server::wire::{
    BatchLimits, DEFAULT_MAX_FRAME_SIZE, FrameSplitter, Request, decode_record_batches, decode_request, supported_api,
};
use kafka_protocol::messages::RequestKind;

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
}

fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
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
