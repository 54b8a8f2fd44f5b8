//! Drawing a counterexample: a text timeline and an SVG picture.
//!
//! Both use the same layout: one row per thread (a loom-shaped thread whose
//! operations overlap gets one row per operation), time running left to
//! right with every distinct time given a column just wide enough for the
//! labels, so the picture shows order, not duration.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Counterexample;
use crate::history::Operation;

struct Layout {
    /// Per operation: (row, x of call, x of return), in character columns.
    spans: Vec<(usize, usize, usize)>,
    /// Row labels.
    rows: Vec<String>,
    labels: Vec<String>,
    width: usize,
    /// Every call and return time drawn, ascending, with its column.
    ticks: Vec<(u64, usize)>,
}

fn label(cx: &Counterexample, i: usize) -> String {
    let o = &cx.ops[i];
    let mut s = String::new();
    // A culprit is marked `!` only: "linearized n-th" and "no
    // linearization survives its return" next to each other read as a
    // contradiction (the order is a partial one that got stuck).
    if cx.culprits.contains(&i) {
        s.push_str("! ");
    } else if let Some(pos) = cx.longest_prefix.iter().position(|&j| j == i) {
        let _ = write!(s, "#{} ", pos + 1);
    }
    if cx.optional.contains(&i) {
        s.push_str("~ ");
    }
    match o.result() {
        Some(r) => {
            let _ = write!(s, "{} -> {r}", o.op);
        }
        None => {
            let _ = write!(s, "{} -> ? (pending)", o.op);
        }
    }
    s
}

/// At most this many operations are drawn: those whose calls are nearest
/// the culprit's.
const MAX_DRAWN: usize = 80;

/// The operations to draw (indices into `cx.ops`).
fn drawn(cx: &Counterexample) -> Vec<usize> {
    if cx.ops.len() <= MAX_DRAWN {
        return (0..cx.ops.len()).collect();
    }
    let center = cx.culprits.first().map_or(0, |&i| cx.ops[i].call);
    let mut idx: Vec<usize> = (0..cx.ops.len()).collect();
    idx.sort_by_key(|&i| (cx.ops[i].call.abs_diff(center), i));
    idx.truncate(MAX_DRAWN);
    idx.sort_unstable();
    idx
}

fn layout(cx: &Counterexample, shown: &[usize]) -> Layout {
    let labels: Vec<String> = shown.iter().map(|&i| label(cx, i)).collect();
    let ops: Vec<&Operation> = shown.iter().map(|&i| &cx.ops[i]).collect();
    let mut times: Vec<u64> = ops
        .iter()
        .flat_map(|o| [Some(o.call), o.ret()])
        .flatten()
        .collect();
    times.sort_unstable();
    times.dedup();
    let col = |t: u64| times.binary_search(&t).unwrap_or(0);
    // x of each time: wide enough for every label that ends there.
    let mut x = vec![0usize; times.len() + 1];
    let mut ending: Vec<Vec<usize>> = vec![Vec::new(); times.len() + 1];
    for (i, o) in ops.iter().enumerate() {
        let end = o.ret().map_or(times.len(), col);
        ending[end].push(i);
    }
    for j in 0..=times.len() {
        let mut v = if j == 0 { 0 } else { x[j - 1] + 2 };
        for &i in &ending[j] {
            let start = x[col(ops[i].call)];
            v = v.max(start + labels[i].chars().count() + 3);
        }
        x[j] = v;
    }
    // Rows: per thread, packed greedily if its operations overlap.
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].thread, ops[i].call));
    let mut thread_rows: BTreeMap<u64, Vec<(usize, usize)>> = BTreeMap::new(); // (row slot, last end x)
    let mut placed: Vec<(u64, usize, usize, usize)> = vec![(0, 0, 0, 0); ops.len()];
    for &i in &order {
        let o: &Operation = ops[i];
        let (a, b) = (x[col(o.call)], x[o.ret().map_or(times.len(), col)]);
        let slots = thread_rows.entry(o.thread).or_default();
        let slot = match slots.iter().position(|&(_, end)| end < a) {
            Some(s) => s,
            None => {
                slots.push((slots.len(), 0));
                slots.len() - 1
            }
        };
        slots[slot].1 = b;
        placed[i] = (o.thread, slot, a, b);
    }
    let mut row_of: BTreeMap<(u64, usize), usize> = BTreeMap::new();
    let mut rows = Vec::new();
    for (t, slots) in &thread_rows {
        for s in 0..slots.len() {
            row_of.insert((*t, s), rows.len());
            rows.push(if slots.len() == 1 {
                format!("t{t}")
            } else {
                format!("t{t}.{s}")
            });
        }
    }
    let spans = placed
        .iter()
        .map(|&(t, s, a, b)| (row_of[&(t, s)], a, b))
        .collect();
    Layout {
        spans,
        rows,
        labels,
        width: x[times.len()] + 1,
        ticks: times.iter().enumerate().map(|(j, &t)| (t, x[j])).collect(),
    }
}

fn header(cx: &Counterexample, drawn: usize) -> String {
    let start = if cx.any_initial {
        "the operations before these were cut away: these fail whatever the key held"
    } else {
        "the key starts absent"
    };
    let mut s = format!(
        "key {}: not linearizable (a failing sub-history of {} of its {} operations; {start})",
        cx.key,
        cx.ops.len(),
        cx.key_operations
    );
    if let Some(note) = &cx.note {
        s.push_str(&format!("; {note}"));
    }
    if drawn < cx.ops.len() {
        s.push_str(&format!(
            "; drawn: the {drawn} called nearest the culprit (!)"
        ));
    }
    s
}

/// The text timeline.
pub(super) fn timeline(cx: &Counterexample) -> String {
    let shown = drawn(cx);
    let l = layout(cx, &shown);
    let name_w = l.rows.iter().map(|r| r.len()).max().unwrap_or(2);
    let mut grid: Vec<Vec<char>> = vec![vec![' '; l.width + 1]; l.rows.len()];
    for (i, &(row, a, b)) in l.spans.iter().enumerate() {
        let pending = cx.ops[shown[i]].ret().is_none();
        let line = &mut grid[row];
        line[a] = '[';
        for (k, ch) in l.labels[i].chars().enumerate() {
            line[a + 1 + k] = ch;
        }
        for cell in line
            .iter_mut()
            .take(b)
            .skip(a + 1 + l.labels[i].chars().count())
        {
            *cell = '-';
        }
        line[b] = if pending { '>' } else { ']' };
    }
    let mut s = header(cx, shown.len());
    s.push('\n');
    for (name, line) in l.rows.iter().zip(grid) {
        let text: String = line.into_iter().collect();
        let _ = writeln!(s, "  {name:<name_w$} |{}", text.trim_end());
    }
    s.push_str(
        "  (#n: n-th in the longest order the search could linearize; \
         !: no linearization survives its return; ~: was running when the window \
         starts, so it may have taken effect before it)\n",
    );
    for o in shown.iter().map(|&i| &cx.ops[i]) {
        let ret = o
            .ret()
            .map_or("pending".to_string(), |r| format!("ret {r}"));
        let result = o.result().map_or("?".to_string(), |r| r.to_string());
        let _ = writeln!(
            s,
            "  thread {:<4} call {:<8} {:<12} {} -> {}",
            o.thread, o.call, ret, o.op, result
        );
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The legend under the SVG picture.
const LEGEND: &str = "green: linearized in the longest order found (#n); red (!): no \
linearization survives its return; dashed: pending; ~: may have taken effect before the window";

/// Geometry of the SVG picture, in px. Text is monospace at 12 px, whose
/// advance is at most 0.6 em = 7.2 px in the common monospace fonts; a
/// column is 8 px so that a label always fits its box.
pub(super) mod geometry {
    /// Width of one character column.
    pub const CW: usize = 8;
    /// Height of one thread row.
    pub const RH: usize = 34;
    /// Left margin (thread names).
    pub const LEFT: usize = 60;
    /// Top margin (the header).
    pub const TOP: usize = 40;
    /// Margin on the right and around text.
    pub const PAD: usize = 12;
}

/// The SVG picture: sized to hold its widest text (header, legend, the
/// boxes), with every call and return time written on an axis under the
/// rows (a tick per time, the time written downwards).
pub(super) fn svg(cx: &Counterexample) -> String {
    use geometry::{CW, LEFT, PAD, RH, TOP};
    let shown = drawn(cx);
    let l = layout(cx, &shown);
    let head = header(cx, shown.len());
    let text_w = |t: &str| t.chars().count() * CW;
    let w = (LEFT + l.width * CW + PAD)
        .max(8 + text_w(&head) + PAD)
        .max(8 + text_w(LEGEND) + PAD);
    let axis_y = TOP + l.rows.len() * RH + 6;
    let longest_tick = l
        .ticks
        .iter()
        .map(|(t, _)| t.to_string().len())
        .max()
        .unwrap_or(1);
    let legend_y = axis_y + 10 + longest_tick * CW + 24;
    let h = legend_y + PAD;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="monospace" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="8" y="20" font-weight="bold">{}</text>"#,
        escape(&head)
    );
    for (r, name) in l.rows.iter().enumerate() {
        let y = TOP + r * RH;
        let _ = writeln!(
            s,
            r##"<text x="8" y="{}" fill="#555">{}</text><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>"##,
            y + 20,
            escape(name),
            y + RH - 2,
            w - PAD,
            y + RH - 2
        );
    }
    for (k, &(row, a, b)) in l.spans.iter().enumerate() {
        let i = shown[k];
        let o = &cx.ops[i];
        let (x0, x1) = (LEFT + a * CW, LEFT + b * CW);
        let y = TOP + row * RH + 4;
        let fill = if cx.culprits.contains(&i) {
            "#f8c8c8"
        } else if cx.longest_prefix.contains(&i) {
            "#cde8cd"
        } else {
            "#e4e4e4"
        };
        let dash = if o.ret().is_none() {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{y}" width="{}" height="24" rx="3" fill="{fill}" stroke="#333"{dash}><title>thread {} call {} {}</title></rect><text x="{}" y="{}">{}</text>"##,
            x1 - x0,
            o.thread,
            o.call,
            o.ret().map_or("pending".into(), |r| format!("ret {r}")),
            x0 + 4,
            y + 16,
            escape(&l.labels[k])
        );
    }
    // The time axis: one tick per call or return time, at its column.
    let _ = writeln!(
        s,
        r##"<line class="axis" x1="{LEFT}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#333"/>"##,
        LEFT + l.width * CW
    );
    for &(t, col) in &l.ticks {
        let x = LEFT + col * CW;
        let _ = writeln!(
            s,
            r##"<line class="tick" x1="{x}" y1="{axis_y}" x2="{x}" y2="{}" stroke="#333"/><text class="time" x="{x}" y="{}" transform="rotate(90 {x} {})" fill="#333" dominant-baseline="middle">{t}</text>"##,
            axis_y + 5,
            axis_y + 10,
            axis_y + 10
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="8" y="{}" fill="#555">{}</text>"##,
        legend_y - 4,
        escape(LEGEND)
    );
    s.push_str("</svg>\n");
    s
}
