//! `holdadvisor evaluate --report DIR`: a Markdown report with pictures.
//!
//! Writes `report.md` (the data notes, the metrics tables, the model's confusion matrix and
//! reliability bins, the pictures embedded), `report.json`, and with `plotters` each picture
//! as SVG and PNG: `roc` (ROC curves with AUC), `reliability` (calibration with counts and
//! ECE) and `training` (per-epoch curves from the model directory's `metrics.jsonl`).
//!
//! PNG text is drawn with `ab_glyph` from DejaVu Sans embedded in the binary (the `dejavu`
//! crate; Bitstream Vera licence, redistribution allowed), so no fontconfig or freetype is
//! needed on the machine.

use std::error::Error;
use std::path::{Path, PathBuf};

use anyhow::Context;
use holdadvisor_models::evaluate::Report;
use holdadvisor_models::metrics::{Bin, reliability_bins};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Size in pixels of each picture (SVG and PNG alike).
pub const ROC_SIZE: (u32, u32) = (800, 640);
pub const RELIABILITY_SIZE: (u32, u32) = (800, 760);
pub const TRAINING_SIZE: (u32, u32) = (1100, 480);

/// Equal-width bins of the reliability diagram (as the ECE in the metrics).
pub const BINS: usize = 10;

const FONT: &str = "sans-serif";
/// The light grid lines of every chart.
const GRID: RGBColor = RGBColor(246, 246, 246);

type DrawResult = Result<(), Box<dyn Error>>;

/// The legend every picture draws: framed, on a nearly opaque white ground.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, font_size))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Registers the embedded font with plotters once per process.
fn register_fonts() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    anyhow::ensure!(ok, "the embedded DejaVu Sans font could not be read");
    Ok(())
}

/// ROC points (false positive rate, true positive rate) from (0, 0) to (1, 1), one per
/// distinct score, ties taken together; `None` when the labels hold a single class.
pub fn roc_points(probs: &[f32], labels: &[bool]) -> Option<Vec<(f64, f64)>> {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && probs[order[j]] == probs[order[i]] {
            if labels[order[j]] {
                tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        points.push((fp as f64 / neg as f64, tp as f64 / pos as f64));
        i = j;
    }
    Some(points)
}

/// Area under a polyline of ROC points (trapezoids).
pub fn area(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum()
}

/// True when a predictor only says 0 or 1 (a rule, not a probability).
fn is_rule(probs: &[f32]) -> bool {
    probs.iter().all(|&p| p == 0.0 || p == 1.0)
}

/// (false positive rate, true positive rate) at threshold 0.5.
fn operating_point(probs: &[f32], labels: &[bool]) -> (f64, f64) {
    let pos = labels.iter().filter(|&&l| l).count().max(1) as f64;
    let neg = labels.iter().filter(|&&l| !l).count().max(1) as f64;
    let said = |want: bool| {
        probs
            .iter()
            .zip(labels)
            .filter(|&(&p, &y)| p >= 0.5 && y == want)
            .count() as f64
    };
    (said(false) / neg, said(true) / pos)
}

/// One line of `metrics.jsonl`: the epoch, its training loss and validation metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochPoint {
    pub epoch: f64,
    pub train_loss: Option<f64>,
    /// (metric name, value) of the validation metrics present.
    pub validation: Vec<(&'static str, f64)>,
}

/// Validation metrics drawn when present (name in metrics.jsonl, label).
const VALIDATION_METRICS: [(&str, &str); 5] = [
    ("roc_auc", "validation ROC AUC"),
    ("accuracy", "validation accuracy"),
    ("brier", "validation Brier"),
    ("ece", "validation ECE"),
    ("log_loss", "validation log loss"),
];

/// Reads `metrics.jsonl` (lines that do not parse are skipped).
pub fn read_epochs(path: &Path) -> anyhow::Result<Vec<EpochPoint>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(epoch) = v.get("epoch").and_then(|e| e.as_f64()) else {
            continue;
        };
        let validation = VALIDATION_METRICS
            .iter()
            .filter_map(|(k, label)| {
                v.get("validation")
                    .and_then(|m| m.get(*k))
                    .and_then(|x| x.as_f64())
                    .filter(|x| x.is_finite())
                    .map(|x| (*label, x))
            })
            .collect();
        out.push(EpochPoint {
            epoch,
            train_loss: v
                .get("train_loss")
                .and_then(|x| x.as_f64())
                .filter(|x| x.is_finite()),
            validation,
        });
    }
    Ok(out)
}

/// Colours of the series, the model first.
fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(214, 39, 40),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

/// A picture drawn the same way on the SVG and the PNG backend.
trait Picture {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

fn write_picture(dir: &Path, stem: &str, pic: &impl Picture) -> anyhow::Result<[PathBuf; 2]> {
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    {
        let root = SVGBackend::new(&svg, pic.size()).into_drawing_area();
        pic.draw(&root)
            .and_then(|()| root.present().map_err(Into::into))
            .map_err(|e| anyhow::anyhow!("drawing {}: {e}", svg.display()))?;
    }
    {
        let root = BitMapBackend::new(&png, pic.size()).into_drawing_area();
        pic.draw(&root)
            .and_then(|()| root.present().map_err(Into::into))
            .map_err(|e| anyhow::anyhow!("drawing {}: {e}", png.display()))?;
    }
    Ok([svg, png])
}

/// A reliability diagram of `probs` against `labels` (with bin counts below it), as one SVG
/// at `path`: `feedback --plot` draws past advice with it.
pub fn reliability_svg(
    path: &Path,
    title: &str,
    name: &str,
    probs: &[f32],
    labels: &[bool],
) -> anyhow::Result<()> {
    let svg = reliability_svg_text(title, name, probs, labels)
        .map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
}

/// The same diagram as SVG text (the dashboard's feedback page).
pub fn reliability_svg_text(
    title: &str,
    name: &str,
    probs: &[f32],
    labels: &[bool],
) -> anyhow::Result<String> {
    svg_text(&Reliability {
        title: title.to_string(),
        name: name.to_string(),
        bins: reliability_bins(probs, labels, BINS),
    })
}

/// Holds a day, and of them those still open, as SVG text (the dashboard's overview): one
/// `(day, holds, open)` per day, oldest first.
pub fn holds_per_day_svg_text(title: &str, days: &[(String, i64, i64)]) -> anyhow::Result<String> {
    svg_text(&HoldsPerDay {
        title: title.to_string(),
        days: days.to_vec(),
    })
}

fn svg_text(pic: &impl Picture) -> anyhow::Result<String> {
    register_fonts()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, pic.size()).into_drawing_area();
        pic.draw(&root)
            .and_then(|()| root.present().map_err(Into::into))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(svg)
}

/// Lines of `(x, y)` points, one per named series, with a legend, as SVG text: the DAG
/// sweep's validation curves of every run.
pub fn curves_svg_text(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<String> {
    svg_text(&Curves {
        title: title.to_string(),
        x_desc: x_desc.to_string(),
        y_desc: y_desc.to_string(),
        series: series.to_vec(),
    })
}

struct Curves {
    title: String,
    x_desc: String,
    y_desc: String,
    series: Vec<(String, Vec<(f64, f64)>)>,
}

impl Picture for Curves {
    fn size(&self) -> (u32, u32) {
        (720, 400)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(&self.title, (FONT, 16).into_font().style(FontStyle::Bold))?;
        let points = || self.series.iter().flat_map(|(_, p)| p.iter().copied());
        let (x0, x1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, _)| {
            (a.min(x), b.max(x))
        });
        let (y0, y1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, y)| {
            (a.min(y), b.max(y))
        });
        let (x0, x1) = if x0.is_finite() {
            (x0, x1.max(x0 + 1.0))
        } else {
            (0.0, 1.0)
        };
        let (y0, y1) = if y0.is_finite() {
            let pad = ((y1 - y0) * 0.05).max(1e-3);
            (y0 - pad, y1 + pad)
        } else {
            (0.0, 1.0)
        };
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc.as_str())
            .y_desc(self.y_desc.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(GRID)
            .draw()?;
        for (i, (name, points)) in self.series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 12)?;
        Ok(())
    }
}

/// Bars of holds a day, the open ones darker within them.
struct HoldsPerDay {
    title: String,
    days: Vec<(String, i64, i64)>,
}

impl Picture for HoldsPerDay {
    fn size(&self) -> (u32, u32) {
        (900, 300)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(&self.title, (FONT, 16).into_font().style(FontStyle::Bold))?;
        let n = self.days.len().max(1);
        let top = self.days.iter().map(|d| d.1).max().unwrap_or(1).max(1) as f64 * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..n as f64, 0f64..top)?;
        let days = &self.days;
        let label = move |x: &f64| {
            let i = x.floor() as usize;
            days.get(i).map_or_else(String::new, |d| d.0.clone())
        };
        chart
            .configure_mesh()
            .x_labels(n.min(10))
            .x_label_formatter(&label)
            .y_desc("holds")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(GRID)
            .draw()?;
        let all = colour(0);
        chart
            .draw_series(self.days.iter().enumerate().map(|(i, d)| {
                Rectangle::new(
                    [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, d.1 as f64)],
                    all.mix(0.35).filled(),
                )
            }))?
            .label("holds that began that day")
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], all.mix(0.35).filled())
            });
        chart
            .draw_series(self.days.iter().enumerate().map(|(i, d)| {
                Rectangle::new(
                    [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, d.2 as f64)],
                    all.filled(),
                )
            }))?
            .label("of them still open")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], all.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 12)?;
        Ok(())
    }
}

/// ROC curves of every predictor that gives probabilities; a 0/1 rule is one point.
struct Roc {
    title: String,
    /// (label, points): a single point for a 0/1 rule (its operating point).
    series: Vec<(String, Vec<(f64, f64)>)>,
}

impl Picture for Roc {
    fn size(&self) -> (u32, u32) {
        ROC_SIZE
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 20).into_font().style(FontStyle::Bold))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate (removal-worthy holds released)")
            .y_desc("true positive rate")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(GRID)
            .draw()?;
        chart.draw_series(DashedLineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            6,
            4,
            RGBColor(160, 160, 160).stroke_width(1),
        ))?;
        for (i, (label, points)) in self.series.iter().enumerate() {
            let c = colour(i);
            let width = if i == 0 { 3 } else { 2 };
            if let [p] = points[..] {
                chart
                    .draw_series(std::iter::once(Circle::new(p, 6, c.filled())))?
                    .label(label.as_str())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
            } else {
                chart
                    .draw_series(LineSeries::new(
                        points.iter().copied(),
                        c.stroke_width(width),
                    ))?
                    .label(label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(width))
                    });
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 13)?;
        Ok(())
    }
}

/// The model's reliability diagram above a bar chart of the bin counts.
struct Reliability {
    title: String,
    name: String,
    bins: Vec<Bin>,
}

impl Picture for Reliability {
    fn size(&self) -> (u32, u32) {
        RELIABILITY_SIZE
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(&self.title, (FONT, 20).into_font().style(FontStyle::Bold))?;
        let (upper, lower) = root.split_vertically(RELIABILITY_SIZE.1 as i32 * 62 / 100);
        let c = colour(0);
        let mut chart = ChartBuilder::on(&upper)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("mean predicted probability of release success (per bin)")
            .y_desc("observed success rate")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(GRID)
            .draw()?;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                6,
                4,
                RGBColor(120, 120, 120).stroke_width(1),
            ))?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(120, 120, 120)));
        let filled: Vec<&Bin> = self.bins.iter().filter(|b| b.count > 0).collect();
        chart
            .draw_series(LineSeries::new(
                filled.iter().map(|b| (b.predicted, b.observed)),
                c.stroke_width(2),
            ))?
            .label(format!("{} (n per point)", self.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(
            filled
                .iter()
                .map(|b| Circle::new((b.predicted, b.observed), 5, c.filled())),
        )?;
        chart.draw_series(filled.iter().map(|b| {
            EmptyElement::at((b.predicted, b.observed))
                + Text::new(format!("n={}", b.count), (8, -16), (FONT, 12).into_font())
        }))?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 13)?;

        let max = self.bins.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
        let mut counts = ChartBuilder::on(&lower)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..1f64, 0f64..max * 1.1)?;
        counts
            .configure_mesh()
            .x_desc("predicted probability (bin)")
            .y_desc("episodes")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(GRID)
            .draw()?;
        counts.draw_series(self.bins.iter().map(|b| {
            Rectangle::new(
                [(b.lo + 0.005, 0.0), (b.hi - 0.005, b.count as f64)],
                c.mix(0.6).filled(),
            )
        }))?;
        Ok(())
    }
}

/// Training loss and validation metrics per epoch, two panels.
struct Training {
    title: String,
    epochs: Vec<EpochPoint>,
    best_epoch: Option<f64>,
}

impl Picture for Training {
    fn size(&self) -> (u32, u32) {
        TRAINING_SIZE
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(&self.title, (FONT, 20).into_font().style(FontStyle::Bold))?;
        let panels = root.split_evenly((1, 2));
        let first = self.epochs.first().map_or(1.0, |e| e.epoch);
        let last = self.epochs.last().map_or(1.0, |e| e.epoch).max(first + 1.0);
        let xs = first..last;

        // Losses: training loss and validation log loss, on one scale.
        let mut losses: Vec<(String, Vec<(f64, f64)>)> = vec![(
            "training loss".into(),
            self.epochs
                .iter()
                .filter_map(|e| e.train_loss.map(|l| (e.epoch, l)))
                .collect(),
        )];
        losses.push((
            "validation log loss".into(),
            self.series("validation log loss"),
        ));
        losses.retain(|(_, p)| !p.is_empty());
        let top = losses
            .iter()
            .flat_map(|(_, p)| p.iter().map(|x| x.1))
            .fold(0.0f64, f64::max)
            .max(0.1)
            * 1.1;
        let mut chart = ChartBuilder::on(&panels[0])
            .caption("loss", (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(xs.clone(), 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels(12)
            .x_label_formatter(&epoch_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(GRID)
            .draw()?;
        self.best_line(&mut chart, top)?;
        for (i, (label, points)) in losses.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerLeft, 13)?;

        // Validation metrics in [0, 1].
        let mut chart = ChartBuilder::on(&panels[1])
            .caption("validation metrics", (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(xs, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels(12)
            .x_label_formatter(&epoch_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(GRID)
            .draw()?;
        self.best_line(&mut chart, 1.0)?;
        for (i, (_, label)) in VALIDATION_METRICS[..4].iter().enumerate() {
            let points = self.series(label);
            if points.is_empty() {
                continue;
            }
            let c = colour(i + 2);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
                .label(*label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        legend(&mut chart, SeriesLabelPosition::MiddleRight, 13)?;
        Ok(())
    }
}

/// Whole epochs only on the x axis.
fn epoch_label(x: &f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

impl Training {
    fn series(&self, label: &str) -> Vec<(f64, f64)> {
        self.epochs
            .iter()
            .filter_map(|e| {
                e.validation
                    .iter()
                    .find(|(l, _)| *l == label)
                    .map(|&(_, v)| (e.epoch, v))
            })
            .collect()
    }

    fn best_line<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<
            '_,
            DB,
            Cartesian2d<
                plotters::coord::types::RangedCoordf64,
                plotters::coord::types::RangedCoordf64,
            >,
        >,
        top: f64,
    ) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        if let Some(b) = self.best_epoch {
            let grey = RGBColor(120, 120, 120);
            chart
                .draw_series(DashedLineSeries::new(
                    [(b, 0.0), (b, top)],
                    5,
                    4,
                    grey.stroke_width(1),
                ))?
                .label(format!("best epoch {b}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        }
        Ok(())
    }
}

/// What the model directory says about itself (`manifest.json`), when readable.
struct ManifestNote {
    data_note: Option<String>,
    best_epoch: Option<f64>,
}

fn read_manifest(model_dir: &Path) -> ManifestNote {
    let v: Option<serde_json::Value> = std::fs::read_to_string(model_dir.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    ManifestNote {
        data_note: v
            .as_ref()
            .and_then(|v| v.get("data_note")?.as_str().map(str::to_string)),
        best_epoch: v
            .as_ref()
            .and_then(|v| v.get("best_epoch")?.as_f64())
            .filter(|&b| b > 0.0),
    }
}

fn simulated(note: &str) -> bool {
    note.to_lowercase().contains("simulat")
}

/// Writes the report into `dir` (created): report.md, report.json, and roc, reliability and
/// (when `model_dir/metrics.jsonl` exists) training as .svg and .png. Returns the files written.
pub fn write_report(dir: &Path, model_dir: &Path, report: &Report) -> anyhow::Result<Vec<PathBuf>> {
    register_fonts()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let manifest = read_manifest(model_dir);
    let mut written = Vec::new();
    let mut md = format!("# Evaluation of {}\n\n", report.model_dir);

    // The data notes first: a reader must see at once when the figures are from simulation.
    let trained_on = manifest
        .data_note
        .clone()
        .unwrap_or_else(|| "(no data note in manifest.json)".into());
    let sim_training = simulated(&trained_on);
    let sim_eval = simulated(&report.data_note) || report.truth.is_some();
    if sim_training || sim_eval {
        let which = match (sim_training, sim_eval) {
            (true, true) => "trained and evaluated on SIMULATED data",
            (true, false) => "trained on SIMULATED data",
            _ => "evaluated on SIMULATED data",
        };
        md.push_str(&format!(
            "> **SIMULATED DATA.** This model was {which} (`holdadvisor simulate`). \
             No figure below is real-world accuracy.\n\n"
        ));
    }
    md.push_str(&format!(
        "- Trained on (manifest.json): {trained_on}\n- Evaluated on: {}\n- Scored: the {} split ({} labelled episodes). Metrics at threshold 0.5; ECE with {BINS} bins.\n\n",
        report.data_note, report.split, report.model.metrics.n
    ));

    md.push_str("## Metrics\n\n");
    md.push_str(&report.table());

    let c = report.model.metrics.confusion;
    md.push_str(&format!(
        "\n## Confusion matrix of {} (threshold 0.5)\n\n\
         | | release succeeded | release failed |\n|---|---|---|\n\
         | predicted release | {} (TP) | {} (FP) |\n\
         | predicted remove | {} (FN) | {} (TN) |\n",
        report.model.name, c.true_positive, c.false_positive, c.false_negative, c.true_negative
    ));

    // ROC curves.
    let labels = &report.scores.labels;
    let mut series = Vec::new();
    let mut rules = Vec::new();
    for (name, probs) in &report.scores.predictors {
        let Some(points) = roc_points(probs, labels) else {
            continue;
        };
        let auc = area(&points);
        if is_rule(probs) {
            let (fpr, tpr) = operating_point(probs, labels);
            rules.push(name.clone());
            series.push((
                format!("{name} (0/1 rule: FPR {fpr:.2}, TPR {tpr:.2})"),
                vec![(fpr, tpr)],
            ));
        } else {
            series.push((format!("{name}, AUC {auc:.3}"), points));
        }
    }
    md.push_str("\n## ROC curves\n\n");
    if series.is_empty() {
        md.push_str("No ROC curve: the scored split holds a single class.\n");
    } else {
        let roc = Roc {
            title: format!("ROC, {} split ({} episodes)", report.split, labels.len()),
            series,
        };
        written.extend(write_picture(dir, "roc", &roc)?);
        md.push_str("![ROC curves](roc.svg)\n\nAlso as PNG: [roc.png](roc.png).");
        if !rules.is_empty() {
            md.push_str(&format!(
                " {} only say{} 0 or 1: drawn as one point (its operating point), not a curve.",
                rules.join(", "),
                if rules.len() == 1 { "s" } else { "" }
            ));
        }
        md.push('\n');
    }

    // Reliability of the model.
    md.push_str("\n## Reliability diagram\n\n");
    if let Some((name, probs)) = report.scores.predictors.first() {
        let bins = reliability_bins(probs, labels, BINS);
        let rel = Reliability {
            title: format!(
                "Reliability of {name}: ECE {:.4} ({BINS} bins)",
                report.model.metrics.ece
            ),
            name: name.clone(),
            bins: bins.clone(),
        };
        written.extend(write_picture(dir, "reliability", &rel)?);
        md.push_str("![Reliability diagram](reliability.svg)\n\nAlso as PNG: [reliability.png](reliability.png).\n\n");
        md.push_str("| bin | episodes | mean predicted | observed rate |\n|---|---|---|---|\n");
        for b in &bins {
            let f = |x: f64| {
                if x.is_finite() {
                    format!("{x:.3}")
                } else {
                    "-".into()
                }
            };
            md.push_str(&format!(
                "| [{:.1}, {:.1}{} | {} | {} | {} |\n",
                b.lo,
                b.hi,
                if b.hi >= 1.0 { "]" } else { ")" },
                b.count,
                f(b.predicted),
                f(b.observed)
            ));
        }
    }

    // Training curves.
    md.push_str("\n## Training curves\n\n");
    let metrics_path = model_dir.join("metrics.jsonl");
    let epochs = if metrics_path.is_file() {
        read_epochs(&metrics_path)?
    } else {
        Vec::new()
    };
    if epochs.is_empty() {
        md.push_str(&format!(
            "Skipped: no per-epoch metrics ({} is absent or empty).\n",
            metrics_path.display()
        ));
    } else {
        let tr = Training {
            title: format!("Training of {} ({} epochs)", report.model_dir, epochs.len()),
            epochs,
            best_epoch: manifest.best_epoch,
        };
        written.extend(write_picture(dir, "training", &tr)?);
        md.push_str("![Training curves](training.svg)\n\nAlso as PNG: [training.png](training.png). From the model directory's metrics.jsonl: the training loss and the validation split's metrics per epoch");
        if let Some(b) = manifest.best_epoch {
            md.push_str(&format!("; the weights kept are those of epoch {b}"));
        }
        md.push_str(".\n");
    }
    let md_path = dir.join("report.md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    written.push(md_path);
    let json_path = dir.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    written.push(json_path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdadvisor_models::metrics::roc_auc;

    #[test]
    fn roc_area_is_the_rank_auc() {
        let probs = [0.9, 0.8, 0.8, 0.35, 0.3, 0.4, 0.1, 0.8];
        let labels = [true, true, false, true, false, false, false, true];
        let pts = roc_points(&probs, &labels).unwrap();
        assert_eq!(pts.first(), Some(&(0.0, 0.0)));
        assert_eq!(pts.last(), Some(&(1.0, 1.0)));
        // 0.8 is one threshold: one point for the three tied scores
        assert_eq!(pts.len(), 1 + 6);
        let auc = roc_auc(&probs, &labels).unwrap();
        assert!((area(&pts) - auc).abs() < 1e-12, "{} vs {auc}", area(&pts));
        assert!(roc_points(&[0.2, 0.3], &[true, true]).is_none());
    }

    #[test]
    fn bins_match_the_ece() {
        // 0.9f32 is just under 0.9: bin 8, as in the ECE
        let probs = [0.2, 0.2, 0.95, 1.0, 0.05, 0.9];
        let labels = [false, true, true, true, false, false];
        let bins = reliability_bins(&probs, &labels, 10);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins[2].count, 2);
        assert!((bins[2].observed - 0.5).abs() < 1e-12);
        assert_eq!(bins[9].count, 2);
        assert!((bins[9].predicted - 0.975).abs() < 1e-6);
        assert_eq!(bins[8].count, 1);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 6);
        let ece: f64 = bins
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| b.count as f64 / 6.0 * (b.predicted - b.observed).abs())
            .sum();
        let want = holdadvisor_models::metrics::ece(&probs, &labels, 10);
        assert!((ece - want).abs() < 1e-9);
        assert!(is_rule(&[0.0, 1.0, 1.0]) && !is_rule(&[0.0, 0.5]));
    }
}
