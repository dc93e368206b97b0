//! The report's pictures, as Jepsen draws them: every operation's latency
//! over the run and the operations completed each second, with the fault
//! intervals shaded, as SVG (`plotters`).

use std::path::Path;

use plotters::prelude::*;

use super::StormError;
use super::history::HistoryEvent;

/// At most this many operations are drawn (evenly picked): a picture of
/// millions of points says no more and weighs megabytes.
const MAX_POINTS: usize = 20_000;

/// One operation as drawn: when it completed, how long it took, its kind.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub completed_ms: u64,
    pub latency_ms: u64,
    pub kind: usize,
}

/// The kinds drawn, each its colour.
pub const KINDS: [&str; 3] = ["produce", "fetch", "admin"];
const COLOURS: [RGBColor; 3] = [RGBColor(31, 119, 180), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];

pub fn kind_index(kind: &str) -> usize {
    match kind {
        "produce" => 0,
        "fetch" => 1,
        _ => 2,
    }
}

fn error(path: &Path, e: impl std::fmt::Display) -> StormError {
    StormError::Io(format!("cannot draw {}: {e}", path.display()))
}

/// The fault intervals, in seconds, with their names.
fn intervals(faults: &[HistoryEvent]) -> Vec<(f64, f64, String)> {
    faults
        .iter()
        .filter_map(|fault| match fault {
            HistoryEvent::Fault {
                kind,
                node,
                started_ms,
                ended_ms,
                ..
            } => Some((
                *started_ms as f64 / 1000.0,
                (*ended_ms).max(started_ms + 100) as f64 / 1000.0,
                format!("{kind} n{node}"),
            )),
            _ => None,
        })
        .collect()
}

fn shade<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    faults: &[(f64, f64, String)],
    top: f64,
    bottom: f64,
) -> Result<(), String> {
    chart
        .draw_series(
            faults.iter().map(|(from, to, _)| {
                Rectangle::new([(*from, bottom), (*to, top)], RGBAColor(255, 165, 0, 0.25).filled())
            }),
        )
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            faults.iter().map(|(from, _, name)| {
                Text::new(name.clone(), (*from, top), ("sans-serif", 11).into_font().color(&BLACK))
            }),
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// `latency.svg`: each operation's latency (log scale) at its completion.
pub fn latency(path: &Path, points: &[Point], faults: &[HistoryEvent], seconds: f64) -> Result<(), StormError> {
    let stride = points.len().div_ceil(MAX_POINTS).max(1);
    let drawn: Vec<&Point> = points.iter().step_by(stride).collect();
    let top = drawn.iter().map(|p| p.latency_ms).max().unwrap_or(1).max(10) as f64 * 2.0;
    let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Latency of each operation (faults shaded)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..seconds.max(1.0), (0.5f64..top).log_scale())
        .map_err(|e| error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("ms")
        .draw()
        .map_err(|e| error(path, e))?;
    shade(&mut chart, &intervals(faults), top, 0.5).map_err(|e| error(path, e))?;
    for (kind, name) in KINDS.iter().enumerate() {
        let colour = COLOURS[kind];
        chart
            .draw_series(drawn.iter().filter(|p| p.kind == kind).map(|p| {
                Circle::new(
                    (p.completed_ms as f64 / 1000.0, (p.latency_ms as f64).max(0.6)),
                    1,
                    colour.filled(),
                )
            }))
            .map_err(|e| error(path, e))?
            .label(*name)
            .legend(move |(x, y)| Circle::new((x, y), 3, colour.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| error(path, e))?;
    root.present().map_err(|e| error(path, e))
}

/// `throughput.svg`: operations completed each second.
pub fn throughput(path: &Path, per_second: &[u64], faults: &[HistoryEvent]) -> Result<(), StormError> {
    let top = per_second.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.15;
    let seconds = per_second.len().max(1) as f64;
    let root = SVGBackend::new(path, (1000, 350)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Operations completed each second (faults shaded)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..seconds, 0.0..top)
        .map_err(|e| error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("operations")
        .draw()
        .map_err(|e| error(path, e))?;
    shade(&mut chart, &intervals(faults), top, 0.0).map_err(|e| error(path, e))?;
    chart
        .draw_series(LineSeries::new(
            per_second
                .iter()
                .enumerate()
                .map(|(second, &count)| (second as f64 + 0.5, count as f64)),
            COLOURS[0].stroke_width(2),
        ))
        .map_err(|e| error(path, e))?;
    root.present().map_err(|e| error(path, e))
}
