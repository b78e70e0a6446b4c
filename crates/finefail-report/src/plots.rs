//! The report's plots, drawn with plotters into SVG (text as `<text>` elements) and PNG (the
//! in-memory bitmap backend, encoded with the `png` crate). Text is laid out and rasterised with
//! ab_glyph from a DejaVu Sans subset shipped in `assets/`, so no system font is needed anywhere.
//! The subset covers Latin, Greek and Cyrillic; in the PNG, a character it lacks (CJK, say) is
//! drawn as U+FFFD `�` rather than an empty box, and the figure's caption says so
//! ([`missing_glyphs`]); the SVG keeps the text, and a browser draws it with its own fonts.
//!
//! Three kinds: metric vs N with a CI band, one line per model ([`CurvePlot`]); per-question
//! base vs fine-tuned scores with the diagonal ([`ScatterPlot`]); and every primary comparison's
//! difference with its CI, one row each, coloured by verdict ([`ForestPlot`], the report's first
//! figure).

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::ReportError;

/// DejaVu Sans, subset to Latin, Greek, Cyrillic and the signs the plots use (see
/// `assets/make_font.py`).
const FONT: &[u8] = include_bytes!("../assets/report-sans.ttf");
/// The font family name plots ask for.
const FAMILY: &str = "sans-serif";
/// Plot size in pixels (PNG) and user units (SVG).
const SIZE: (u32, u32) = (720, 450);
/// Scatter plots are square.
const SCATTER_SIZE: (u32, u32) = (520, 520);

/// Registers the shipped font with plotters once per process.
fn font_ready() -> Result<(), ReportError> {
    static READY: OnceLock<bool> = OnceLock::new();
    let ok = *READY
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::plot(
            "font",
            "the shipped font could not be parsed",
        ))
    }
}

/// What the PNG draws in place of a character the font lacks.
pub(crate) const REPLACEMENT: char = '\u{FFFD}';

/// The shipped font, parsed once, for coverage checks.
fn coverage() -> Option<&'static FontRef<'static>> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| FontRef::try_from_slice(FONT).ok())
        .as_ref()
}

/// Whether the shipped font can draw `c` (whitespace and control characters need no glyph).
fn drawable_char(c: char) -> bool {
    c.is_whitespace() || c.is_control() || coverage().is_some_and(|f| f.glyph_id(c).0 != 0)
}

/// The characters of `texts` the shipped font has no glyph for, each once, in order of appearance:
/// a figure's caption names them (the PNG draws them as [`REPLACEMENT`]).
pub(crate) fn missing_glyphs<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<char> {
    let mut out = Vec::new();
    for c in texts.into_iter().flat_map(str::chars) {
        if !drawable_char(c) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// `text` with every character the font lacks replaced by [`REPLACEMENT`].
fn drawable(text: &str) -> String {
    text.chars()
        .map(|c| if drawable_char(c) { c } else { REPLACEMENT })
        .collect()
}

/// One point of a curve: the mean at N and the band around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CurvePoint {
    pub n: f64,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// One model's line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CurveLine {
    pub label: String,
    pub points: Vec<CurvePoint>,
}

/// A constant to compare the curves with (the majority-label baseline of a label dataset), drawn
/// as a dashed horizontal line with its own legend entry, so a curve below it reads as worse than
/// a constant answer at a glance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReferenceLine {
    /// The legend's text (e.g. "majority label (yes)").
    pub label: String,
    /// The constant's value on the y axis.
    pub value: f64,
}

/// A model's in-context arm (`icl{K}`: the base model shown K demonstrations) on a curve: a dotted
/// horizontal line in the colour of that model's curve, so the fine-tuned curve reads against the
/// cheaper alternative at every N.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InContextLine {
    /// The legend's text (e.g. "smollm2 · icl8").
    pub label: String,
    /// The in-context arm's mean.
    pub value: f64,
    /// Index into [`CurvePlot::lines`] of the curve whose colour it takes.
    pub line: usize,
}

/// Metric vs training size N, one line per model, the band drawn from `low` to `high`, an
/// optional dashed reference line and a dotted line per model's in-context arm.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CurvePlot {
    pub title: String,
    pub y_label: String,
    pub lines: Vec<CurveLine>,
    pub reference: Option<ReferenceLine>,
    pub in_context: Vec<InContextLine>,
}

/// Per-question base score (x) against fine-tuned score (y).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScatterPlot {
    pub title: String,
    pub axis: String,
    pub points: Vec<(f64, f64)>,
    /// Jitter amplitude as a share of the axis range (larger for 0/1 metrics, whose points pile
    /// up in the corners).
    pub jitter: f64,
}

/// How a forest-plot row is coloured: by its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowVerdict {
    /// `helps` (or `helps (one adapter)`).
    Helps,
    /// `hurts` (or `hurts (one adapter)`).
    Hurts,
    /// Neither, or no verdict.
    Inconclusive,
}

/// One comparison of the forest plot: the difference and its CI.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForestRow {
    pub label: String,
    pub diff: f64,
    pub low: f64,
    pub high: f64,
    pub verdict: RowVerdict,
    /// A size against the previous size (drawn hollow), not against N = 0.
    pub vs_previous: bool,
}

/// Every primary comparison at a glance: difference ± CI per row, a line at 0.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForestPlot {
    pub title: String,
    pub rows: Vec<ForestRow>,
}

impl ForestPlot {
    /// Every text the plot draws (title, row labels).
    pub(crate) fn texts(&self) -> Vec<&str> {
        let mut t = vec![self.title.as_str()];
        t.extend(self.rows.iter().map(|r| r.label.as_str()));
        t
    }

    /// The plot with its texts made drawable by the shipped font (for the PNG).
    fn drawable(&self) -> Self {
        Self {
            title: drawable(&self.title),
            rows: self
                .rows
                .iter()
                .map(|r| ForestRow {
                    label: drawable(&r.label),
                    ..r.clone()
                })
                .collect(),
        }
    }

    /// Pixel size: a fixed width, 26 pixels per row plus room for title and axis, and at least
    /// the height of the other plots.
    fn size(&self) -> (u32, u32) {
        let rows = self.rows.len().max(1) as u32;
        (SIZE.0 + 140, (110 + 26 * rows).max(SIZE.1))
    }
}

impl CurvePlot {
    /// Every text the plot draws (title, axis label, legend).
    pub(crate) fn texts(&self) -> Vec<&str> {
        let mut t = vec![self.title.as_str(), self.y_label.as_str()];
        t.extend(self.lines.iter().map(|l| l.label.as_str()));
        t.extend(self.reference.iter().map(|r| r.label.as_str()));
        t.extend(self.in_context.iter().map(|r| r.label.as_str()));
        t
    }

    /// The plot with its texts made drawable by the shipped font (for the PNG).
    fn drawable(&self) -> Self {
        Self {
            title: drawable(&self.title),
            y_label: drawable(&self.y_label),
            lines: self
                .lines
                .iter()
                .map(|l| CurveLine {
                    label: drawable(&l.label),
                    points: l.points.clone(),
                })
                .collect(),
            reference: self.reference.as_ref().map(|r| ReferenceLine {
                label: drawable(&r.label),
                value: r.value,
            }),
            in_context: self
                .in_context
                .iter()
                .map(|r| InContextLine {
                    label: drawable(&r.label),
                    ..r.clone()
                })
                .collect(),
        }
    }
}

impl ScatterPlot {
    /// Every text the plot draws (title, axis labels).
    pub(crate) fn texts(&self) -> Vec<&str> {
        vec![self.title.as_str(), self.axis.as_str()]
    }

    /// The plot with its texts made drawable by the shipped font (for the PNG).
    fn drawable(&self) -> Self {
        Self {
            title: drawable(&self.title),
            axis: drawable(&self.axis),
            ..self.clone()
        }
    }
}

/// A plot rendered both ways.
pub(crate) struct Rendered {
    pub svg: String,
    pub png: Vec<u8>,
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.06 * (hi - lo);
    (lo - pad, hi + pad)
}

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
    ];
    COLORS[i % COLORS.len()]
}

fn draw_curve<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &CurvePlot) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let all = p.lines.iter().flat_map(|l| &l.points);
    let (mut y0, mut y1, mut x1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for pt in all {
        y0 = y0.min(pt.low).min(pt.mean);
        y1 = y1.max(pt.high).max(pt.mean);
        x1 = x1.max(pt.n);
    }
    let levels = p.reference.iter().map(|r| r.value);
    for v in levels.chain(p.in_context.iter().map(|r| r.value)) {
        y0 = y0.min(v);
        y1 = y1.max(v);
    }
    let (y0, y1) = padded(y0, y1);
    let x1 = if x1 > 0.0 { x1 } else { 1.0 };
    let mut chart = ChartBuilder::on(root)
        .caption(&p.title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(58)
        .build_cartesian_2d(-0.03 * x1..1.04 * x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("training examples N (0 = base model)")
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 15))
        // A grid at the labels only: the minor grid made the plots look like graph paper.
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(228, 228, 228))
        .draw()?;
    for (i, line) in p.lines.iter().enumerate() {
        let c = color(i);
        let mut band: Vec<(f64, f64)> = line.points.iter().map(|q| (q.n, q.high)).collect();
        band.extend(line.points.iter().rev().map(|q| (q.n, q.low)));
        chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))?;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().map(|q| (q.n, q.mean)),
                c.stroke_width(2),
            ))?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart.draw_series(
            line.points
                .iter()
                .map(|q| Circle::new((q.n, q.mean), 4, c.filled())),
        )?;
    }
    let span = (-0.03 * x1, 1.04 * x1);
    if let Some(r) = &p.reference {
        let grey = RGBColor(90, 90, 90);
        horizontal_line(&mut chart, span, r.value, &r.label, grey, (7, 5))?;
    }
    for r in &p.in_context {
        // Dots: short dashes with gaps as long.
        horizontal_line(&mut chart, span, r.value, &r.label, color(r.line), (2, 4))?;
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()
}

/// A horizontal line at `value` across `span` of the x axis, dashed (`dash` = on, off pixels), in
/// `colour`, with its legend entry: the majority-label baseline and the in-context arms.
fn horizontal_line<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    span: (f64, f64),
    value: f64,
    label: &str,
    colour: RGBColor,
    dash: (u32, u32),
) -> DrawResult<DB> {
    let legend_dash = (dash.0.min(5), 3);
    chart
        .draw_series(DashedLineSeries::new(
            [(span.0, value), (span.1, value)],
            dash.0,
            dash.1,
            colour.stroke_width(2),
        ))?
        .label(label)
        .legend(move |(x, y)| {
            DashedPathElement::new(
                vec![(x, y), (x + 18, y)],
                legend_dash.0,
                legend_dash.1,
                colour.stroke_width(2),
            )
        });
    Ok(())
}

/// Deterministic jitter in [-1, 1] for point `i` (so tied discrete scores stay visible).
fn jitter(i: usize, salt: u64) -> f64 {
    let mut z = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt);
    z ^= z >> 31;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 29;
    (z % 2001) as f64 / 1000.0 - 1.0
}

fn draw_scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: &ScatterPlot,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in &p.points {
        lo = lo.min(*x).min(*y);
        hi = hi.max(*x).max(*y);
    }
    let (lo, hi) = padded(lo, hi);
    let amp = p.jitter * (hi - lo);
    let mut chart = ChartBuilder::on(root)
        .caption(&p.title, (FAMILY, 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d(lo..hi, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc(format!("base (N = 0) {}", p.axis))
        .y_desc(format!("fine-tuned {}", p.axis))
        .x_label_formatter(&|x| format!("{x:.2}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 15))
        // A grid at the labels only: the minor grid made the plots look like graph paper.
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(228, 228, 228))
        .draw()?;
    chart.draw_series(LineSeries::new(
        vec![(lo, lo), (hi, hi)],
        RGBColor(120, 120, 120).stroke_width(1),
    ))?;
    chart.draw_series(p.points.iter().enumerate().map(|(i, (x, y))| {
        let c = if y > x {
            RGBColor(26, 127, 55)
        } else if y < x {
            RGBColor(198, 40, 40)
        } else {
            RGBColor(90, 90, 90)
        };
        let at = (x + amp * jitter(i, 1), y + amp * jitter(i, 2));
        Circle::new(at, 3, c.mix(0.6).filled())
    }))?;
    root.present()
}

fn draw_forest<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: &ForestPlot,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for r in &p.rows {
        lo = lo.min(r.low).min(r.diff);
        hi = hi.max(r.high).max(r.diff);
    }
    let (lo, hi) = padded(lo, hi);
    let n = p.rows.len() as u32;
    // Row i is drawn at the centre of segment i, the first row at the top.
    let at = |i: usize| SegmentValue::CenterOf(n.saturating_sub(1) - i as u32);
    let mut chart = ChartBuilder::on(root)
        .caption(&p.title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(300)
        .build_cartesian_2d(lo..hi, (0u32..n).into_segmented())?;
    let labels: Vec<&str> = p.rows.iter().rev().map(|r| r.label.as_str()).collect();
    chart
        .configure_mesh()
        .x_desc("difference against the reference size, with its 95 % CI")
        .x_label_formatter(&|x| format!("{x:+.2}"))
        .y_labels(p.rows.len().max(1))
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).copied().unwrap_or("").to_owned(),
            _ => String::new(),
        })
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(236, 236, 236))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, SegmentValue::Exact(0)), (0.0, SegmentValue::Last)],
        RGBColor(120, 120, 120).stroke_width(1),
    )))?;
    for (i, r) in p.rows.iter().enumerate() {
        let c = match r.verdict {
            RowVerdict::Helps => RGBColor(26, 127, 55),
            RowVerdict::Hurts => RGBColor(198, 40, 40),
            RowVerdict::Inconclusive => RGBColor(90, 90, 90),
        };
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(r.low, at(i)), (r.high, at(i))],
            c.stroke_width(2),
        )))?;
        let style = if r.vs_previous {
            c.stroke_width(2)
        } else {
            c.filled()
        };
        chart.draw_series(std::iter::once(Circle::new((r.diff, at(i)), 5, style)))?;
    }
    root.present()
}

fn render(
    name: &str,
    size: (u32, u32),
    draw_svg: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
    draw_png: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<Rendered, ReportError> {
    font_ready()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_svg(&root).map_err(|e| ReportError::plot(name, e))?;
    }
    let (w, h) = size;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let backend = BitMapBackend::with_buffer_and_format(&mut rgb, size)
            .map_err(|e| ReportError::plot(name, e))?;
        let root = backend.into_drawing_area();
        draw_png(&root).map_err(|e| ReportError::plot(name, e))?;
    }
    let png = encode_png(&rgb, size).map_err(|e| ReportError::plot(name, e))?;
    Ok(Rendered { svg, png })
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

/// Renders a metric-vs-N plot (the PNG with [`REPLACEMENT`] for what the font lacks).
pub(crate) fn curve(name: &str, p: &CurvePlot) -> Result<Rendered, ReportError> {
    let png = p.drawable();
    render(
        name,
        SIZE,
        |a| draw_curve(a, p).map_err(|e| e.to_string()),
        |a| draw_curve(a, &png).map_err(|e| e.to_string()),
    )
}

/// Renders a base-vs-fine-tuned scatter plot (the PNG with [`REPLACEMENT`] for what the font
/// lacks).
pub(crate) fn scatter(name: &str, p: &ScatterPlot) -> Result<Rendered, ReportError> {
    let png = p.drawable();
    render(
        name,
        SCATTER_SIZE,
        |a| draw_scatter(a, p).map_err(|e| e.to_string()),
        |a| draw_scatter(a, &png).map_err(|e| e.to_string()),
    )
}

/// Renders the forest plot of the primary comparisons (the PNG with [`REPLACEMENT`] for what the
/// font lacks).
pub(crate) fn forest(name: &str, p: &ForestPlot) -> Result<Rendered, ReportError> {
    let png = p.drawable();
    render(
        name,
        p.size(),
        |a| draw_forest(a, p).map_err(|e| e.to_string()),
        |a| draw_forest(a, &png).map_err(|e| e.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A curve point at `mean` with a band of ± `half_band`.
    fn point(n: f64, mean: f64, half_band: f64) -> CurvePoint {
        CurvePoint {
            n,
            mean,
            low: mean - half_band,
            high: mean + half_band,
        }
    }

    #[test]
    fn renders_valid_svg_and_png() -> Result<(), ReportError> {
        let pt = |n, mean| point(n, mean, 0.05);
        let p = CurvePlot {
            title: "ds: token_f1 vs N".into(),
            y_label: "token_f1".into(),
            lines: vec![CurveLine {
                label: "m".into(),
                points: vec![pt(0.0, 0.4), pt(50.0, 0.45), pt(100.0, 0.38)],
            }],
            reference: None,
            in_context: vec![],
        };
        let r = curve("c", &p)?;
        assert!(r.svg.contains("<svg") && r.svg.contains("</svg>"));
        assert!(r.svg.contains("token_f1 vs N"));
        assert_eq!(&r.png[..8], b"\x89PNG\r\n\x1a\n");
        let s = scatter(
            "s",
            &ScatterPlot {
                title: "t".into(),
                axis: "token_f1".into(),
                points: vec![(0.0, 1.0), (0.5, 0.25), (1.0, 1.0)],
                jitter: 0.012,
            },
        )?;
        assert!(s.svg.contains("<circle"));
        assert_eq!(&s.png[..8], b"\x89PNG\r\n\x1a\n");
        Ok(())
    }

    /// A reference line (the majority-label baseline) is drawn dashed across the plot, with its
    /// legend entry, even when it lies outside the curves' range; without one nothing is dashed.
    #[test]
    fn a_reference_line_is_dashed_and_in_the_legend() -> Result<(), ReportError> {
        let pt = |n, mean| point(n, mean, 0.05);
        let mut p = CurvePlot {
            title: "pqa: label_accuracy vs N".into(),
            y_label: "label_accuracy".into(),
            lines: vec![CurveLine {
                label: "m1".into(),
                points: vec![pt(0.0, 0.2), pt(50.0, 0.3)],
            }],
            reference: None,
            in_context: vec![],
        };
        let plain = curve("plain", &p)?;
        assert!(!plain.svg.contains("majority label"));
        p.reference = Some(ReferenceLine {
            label: "majority label (yes)".into(),
            value: 0.68,
        });
        assert!(p.texts().contains(&"majority label (yes)"));
        let r = curve("ref", &p)?;
        assert!(r.svg.contains("majority label (yes)"), "{}", r.svg);
        // Dashes: many short segments where the plain plot has none beyond the curve's.
        let segments = |svg: &str| svg.matches("<polyline").count() + svg.matches("<line").count();
        assert!(
            segments(&r.svg) > segments(&plain.svg) + 20,
            "{} vs {}",
            segments(&r.svg),
            segments(&plain.svg)
        );
        // The y axis reaches the line (0.68 is above every band): a tick at 0.70 only then.
        let tick = "\n0.70\n";
        assert!(
            r.svg.contains(tick) && !plain.svg.contains(tick),
            "{}",
            r.svg
        );
        assert_ne!(r.png, plain.png);
        Ok(())
    }

    /// A model's in-context arm is a dotted line in its curve's colour, in the legend, and the y
    /// axis reaches it; without one the plot is as before.
    #[test]
    fn an_in_context_arm_is_a_dotted_line_in_its_model_s_colour() -> Result<(), ReportError> {
        let pt = |n, mean| point(n, mean, 0.05);
        let mut p = CurvePlot {
            title: "pqa: label_accuracy vs N".into(),
            y_label: "label_accuracy".into(),
            lines: vec![
                CurveLine {
                    label: "m1".into(),
                    points: vec![pt(0.0, 0.2), pt(50.0, 0.3)],
                },
                CurveLine {
                    label: "m2".into(),
                    points: vec![pt(0.0, 0.25), pt(50.0, 0.35)],
                },
            ],
            reference: None,
            in_context: vec![],
        };
        let plain = curve("plain", &p)?;
        p.in_context.push(InContextLine {
            label: "m2 · icl8".into(),
            value: 0.72,
            line: 1,
        });
        assert!(p.texts().contains(&"m2 · icl8"));
        let r = curve("icl", &p)?;
        assert!(r.svg.contains("m2 · icl8"), "{}", r.svg);
        // Dotted in m2's colour: many short segments of it beyond the plain plot's.
        let m2 = color(1);
        let stroke = format!("stroke=\"#{:02X}{:02X}{:02X}\"", m2.0, m2.1, m2.2);
        assert!(
            r.svg.matches(&stroke).count() > plain.svg.matches(&stroke).count() + 20,
            "{} vs {}",
            r.svg.matches(&stroke).count(),
            plain.svg.matches(&stroke).count()
        );
        assert!(r.svg.contains("\n0.70\n") && !plain.svg.contains("\n0.70\n"));
        assert_ne!(r.png, plain.png);
        Ok(())
    }

    #[test]
    fn the_forest_plot_draws_one_labelled_row_per_comparison() -> Result<(), ReportError> {
        let row = |label: &str, diff: f64, verdict, vs_previous| ForestRow {
            label: label.into(),
            diff,
            low: diff - 0.1,
            high: diff + 0.1,
            verdict,
            vs_previous,
        };
        let p = ForestPlot {
            title: "every primary comparison".into(),
            rows: vec![
                row(
                    "pubmedqa label_accuracy N=100 vs 0",
                    0.46,
                    RowVerdict::Helps,
                    false,
                ),
                row(
                    "pubmedqa label_accuracy N=100 vs 50",
                    0.24,
                    RowVerdict::Inconclusive,
                    true,
                ),
                row("disflqa token_f1 N=50 vs 0", -0.3, RowVerdict::Hurts, false),
            ],
        };
        let r = forest("forest", &p)?;
        for label in ["N=100 vs 0", "N=100 vs 50", "N=50 vs 0"] {
            assert!(r.svg.contains(label), "{label}");
        }
        assert_eq!(r.svg.matches("<circle").count(), 3);
        assert_eq!(&r.png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(p.size().1, SIZE.1);
        let tall = ForestPlot {
            rows: (0..20).map(|_| p.rows[0].clone()).collect(),
            ..p.clone()
        };
        assert_eq!(tall.size().1, 110 + 20 * 26);
        Ok(())
    }

    /// Latin, Greek and Cyrillic are in the shipped font; CJK is not and is reported (once per
    /// character) so the caption can say what the PNG replaced.
    #[test]
    fn the_font_covers_european_scripts_and_names_what_it_lacks() {
        assert_eq!(
            missing_glyphs(["modèle-β Übung ąę Привет ≤ ± — “q”", "naïve ñ"]),
            Vec::<char>::new()
        );
        assert_eq!(missing_glyphs(["数据 / 数", "ok"]), vec!['数', '据']);
        assert_eq!(drawable("数据-β"), "\u{FFFD}\u{FFFD}-β");
    }

    /// Non-ASCII names are drawn: the PNG has ink where the title is, the SVG keeps the text, and
    /// a name the font lacks is drawn as U+FFFD, not as an empty box.
    #[test]
    fn non_ascii_names_render() -> Result<(), ReportError> {
        let pt = |n, mean| point(n, mean, 0.0);
        let plot = |label: &str| CurvePlot {
            title: format!("{label}: token_f1 vs N"),
            y_label: "token_f1".into(),
            lines: vec![CurveLine {
                label: label.into(),
                points: vec![pt(0.0, 0.4), pt(50.0, 0.5)],
            }],
            reference: None,
            in_context: vec![],
        };
        let greek = curve("g", &plot("modèle-β"))?;
        assert!(greek.svg.contains("modèle-β"));
        let cjk = curve("c", &plot("数据"))?;
        assert!(cjk.svg.contains("数据"), "the SVG keeps the text");
        // The PNG of "数据" equals the PNG of "��": drawn as replacement characters.
        let replaced = curve("r", &plot("\u{FFFD}\u{FFFD}"))?;
        assert_eq!(cjk.png, replaced.png);
        // ... which differ from empty boxes (the font's .notdef): another glyph than U+FFFD.
        let ascii = curve("a", &plot("xx"))?;
        assert_ne!(replaced.png, ascii.png);
        Ok(())
    }
}
