//! The timeline picture of one seed (`sim --seed S --timeline FILE.html`):
//! one self-contained HTML file, inline SVG and script, no network fetch.
//!
//! # What it shows
//! - one lane per process (servers, workload clients, nemeses, the
//!   simulator), in the order they were created, plus a `network` lane for
//!   faults that concern no single process;
//! - each process's life: a bar while it runs, gaps while it is dead,
//!   kills (`✕`) and reboots (`▲`);
//! - partitions as shaded spans over every lane they cut off, from their
//!   start to their heal (or the end of chaos); clogs as shaded spans on
//!   the clogged lane;
//! - every other injected fault as a dot, connections opened (a dashed
//!   line to the server's lane) and reset (an orange dot);
//! - RPC calls as arrows from the send to the server's answer and back;
//! - assertion sites the first time they held (◆) and violations (red ◆);
//! - the failure: a red line across every lane at the time the seed
//!   stopped, and the message.
//!
//! Hover any mark for its details; the wheel zooms around the pointer,
//! dragging pans, and the buttons reset. Time runs left to right in
//! simulated seconds.
//!
//! # Bounds
//! At most [`ARROWS_MAX`] RPC arrows and [`DOTS_MAX`] fault and
//! connection marks are drawn; past that, every k-th is drawn and the
//! picture says so in its banner, as it does when the seed itself dropped
//! marks past its own bound.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use crate::kernel::TimelineEntry;
use crate::kernel::failure::SeedFailure;
use crate::runner::report::SeedReport;

/// RPC arrows drawn at most.
pub const ARROWS_MAX: usize = 2_000;
/// Fault, connection and assertion marks drawn at most.
pub const DOTS_MAX: usize = 5_000;

const LABEL_W: f64 = 190.0;
const PLOT_W: f64 = 1100.0;
const LANE_H: f64 = 30.0;
const TOP: f64 = 40.0;
/// The lane of events that concern no single process.
const NETWORK: &str = "network";

/// Escapes text for HTML and XML (element text and attribute values).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn secs(t: Duration) -> String {
    format!("{:.6}s", t.as_secs_f64())
}

/// The lane a failure belongs to, when it names one.
fn failure_lane(failure: &SeedFailure) -> Option<String> {
    match failure {
        SeedFailure::Panic { process, .. } | SeedFailure::ProcessFailed { process, .. } => {
            Some(process.clone())
        }
        SeedFailure::WorkloadFailed {
            workload,
            client_id,
            ..
        } => Some(format!("{workload}#{client_id}")),
        _ => None,
    }
}

/// Lanes and the x/y of a point.
struct Geometry {
    lanes: Vec<String>,
    index: HashMap<String, usize>,
    end: Duration,
}

impl Geometry {
    fn x(&self, t: Duration) -> f64 {
        let end = self.end.as_secs_f64().max(1e-9);
        LABEL_W + PLOT_W * (t.as_secs_f64() / end).min(1.0)
    }

    fn lane(&self, name: &str) -> usize {
        self.index
            .get(name)
            .copied()
            .unwrap_or_else(|| self.index.get(NETWORK).copied().unwrap_or(0))
    }

    fn y(&self, name: &str) -> f64 {
        TOP + LANE_H * self.lane(name) as f64 + LANE_H / 2.0
    }

    fn add(&mut self, name: &str) {
        if !self.index.contains_key(name) {
            self.index.insert(name.to_string(), self.lanes.len());
            self.lanes.push(name.to_string());
        }
    }
}

/// Every k-th of `n` items so that at most `max` are kept (k ≥ 1).
fn stride(n: usize, max: usize) -> usize {
    n.div_ceil(max.max(1)).max(1)
}

/// The picture of `report` (a seed run with marks and its timeline kept),
/// as one HTML document. `title` names the binary.
pub fn render(title: &str, report: &SeedReport) -> String {
    let entries: Vec<&TimelineEntry> = {
        let mut all: Vec<&TimelineEntry> = report.timeline.iter().chain(&report.marks).collect();
        // Stable: same-time entries keep their recording order.
        all.sort_by_key(|e| e.time);
        all
    };
    let end = entries
        .iter()
        .map(|e| e.time)
        .max()
        .unwrap_or_default()
        .max(report.sim_time);
    let mut geo = Geometry {
        lanes: Vec::new(),
        index: HashMap::new(),
        end,
    };
    geo.add(NETWORK);
    for e in entries.iter().filter(|e| e.kind == "process.start") {
        geo.add(&e.process);
    }
    for e in &entries {
        if e.process != "-" && e.process != "?" {
            geo.add(&e.process);
        }
    }
    let failure = report.outcome.failure();
    let quiesce = entries
        .iter()
        .find(|e| e.kind == "sim.quiesce")
        .map(|e| e.time);

    let mut notes: Vec<String> = Vec::new();
    if report.marks_dropped > 0 {
        notes.push(format!(
            "the seed kept its first marks only: {} later ones were dropped",
            report.marks_dropped
        ));
    }
    let mut svg = String::with_capacity(64 * 1024);
    let height = TOP + LANE_H * geo.lanes.len() as f64 + 30.0;
    let width = LABEL_W + PLOT_W + 60.0;
    let _ = write!(
        svg,
        r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}">"#
    );
    lanes(&mut svg, &geo, failure.and_then(failure_lane).as_deref());
    axis(&mut svg, &geo, height);
    lives(&mut svg, &geo, &entries);
    spans(&mut svg, &geo, &entries, quiesce);
    dots(&mut svg, &geo, &entries, &mut notes);
    arrows(&mut svg, &geo, &entries, &mut notes);
    if let Some(f) = failure {
        let x = geo.x(report.sim_time);
        let _ = write!(
            svg,
            r#"<g id="failure" class="failure" data-detail="{d}"><line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{b}"/><text x="{tx:.1}" y="{ty}">failure</text><title>{d}</title></g>"#,
            d = esc(&f.to_string()),
            t = TOP - 10.0,
            b = height - 20.0,
            tx = x - 40.0,
            ty = TOP - 14.0,
        );
    }
    svg.push_str("</svg>");

    let outcome = match failure {
        Some(f) => format!("failed at {}: {}", secs(report.sim_time), f),
        None => format!("passed ({} simulated)", secs(report.sim_time)),
    };
    let mut html = String::with_capacity(svg.len() + 8 * 1024);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{t} seed {seed:#x}</title>
<style>{STYLE}</style></head>
<body data-seed="{seed:#x}" data-lanes="{n}">
<header><h1>{t}: seed {seed:#x}</h1><p class="outcome">{o}</p>
<p class="legend">bars: processes alive · ✕ kill · ▲ reboot · shaded: partition (grey), clog (blue) · dots: faults · dashed: connection opened · orange: reset · arrows: RPC call, answer · ◆ assertion held first / violated (red) · red line: failure</p>
{banner}<div class="controls"><button id="zoom-in">+</button><button id="zoom-out">−</button><button id="zoom-reset">reset</button> wheel: zoom · drag: pan</div>
<div id="detail">hover a mark for its details</div></header>
{svg}
<script>{SCRIPT}</script>
</body></html>
"#,
        t = esc(title),
        seed = report.seed,
        n = geo.lanes.len(),
        o = esc(&outcome),
        banner = if notes.is_empty() {
            String::new()
        } else {
            format!(
                r#"<p class="banner" id="sampled">{}</p>"#,
                esc(&notes.join("; "))
            )
        },
    );
    html
}

fn lanes(svg: &mut String, geo: &Geometry, failing: Option<&str>) {
    for (i, name) in geo.lanes.iter().enumerate() {
        let y = TOP + LANE_H * i as f64;
        let class = if Some(name.as_str()) == failing {
            "lane failing"
        } else {
            "lane"
        };
        let _ = write!(
            svg,
            r#"<g class="{class}" data-lane="{n}"><rect class="lane-bg" x="0" y="{y}" width="{w}" height="{LANE_H}"/><text class="lane-label" x="6" y="{ty}">{n}</text></g>"#,
            n = esc(name),
            w = LABEL_W + PLOT_W + 60.0,
            ty = y + LANE_H / 2.0 + 4.0,
        );
    }
}

fn axis(svg: &mut String, geo: &Geometry, height: f64) {
    let ticks = 10;
    svg.push_str(r#"<g class="axis">"#);
    for i in 0..=ticks {
        let t = geo.end.mul_f64(f64::from(i) / f64::from(ticks));
        let x = geo.x(t);
        let _ = write!(
            svg,
            r#"<line x1="{x:.1}" y1="{a}" x2="{x:.1}" y2="{b}"/><text x="{x:.1}" y="{ty}">{s}</text>"#,
            a = TOP,
            b = height - 24.0,
            ty = height - 8.0,
            s = secs(t),
        );
    }
    svg.push_str("</g>");
}

/// Alive bars, kills and reboots.
fn lives(svg: &mut String, geo: &Geometry, entries: &[&TimelineEntry]) {
    let mut since: BTreeMap<&str, Duration> = BTreeMap::new();
    let mut bars: Vec<(&str, Duration, Duration)> = Vec::new();
    for e in entries {
        match e.kind {
            "process.start" | "process.reboot" => {
                since.insert(&e.process, e.time);
            }
            "process.kill" => {
                if let Some(start) = since.remove(e.process.as_str()) {
                    bars.push((&e.process, start, e.time));
                }
            }
            _ => {}
        }
    }
    for (name, start) in since {
        bars.push((name, start, geo.end));
    }
    for (name, start, stop) in bars {
        let (x1, x2) = (geo.x(start), geo.x(stop));
        let _ = write!(
            svg,
            r#"<rect class="alive" x="{x1:.1}" y="{y:.1}" width="{w:.1}" height="6"><title>{n} alive {a} .. {b}</title></rect>"#,
            y = geo.y(name) - 3.0,
            w = (x2 - x1).max(1.0),
            n = esc(name),
            a = secs(start),
            b = secs(stop),
        );
    }
    for e in entries {
        let glyph = match e.kind {
            "process.kill" => "✕",
            "process.reboot" => "▲",
            _ => continue,
        };
        let class = e.kind.replace('.', "-");
        let _ = write!(
            svg,
            r#"<text class="{class}" x="{x:.1}" y="{y:.1}" data-detail="{d}">{glyph}<title>{d}</title></text>"#,
            x = geo.x(e.time) - 5.0,
            y = geo.y(&e.process) + 5.0,
            d = esc(&format!(
                "{} {} {}: {}",
                secs(e.time),
                e.process,
                e.kind,
                e.detail
            )),
        );
    }
}

/// Partitions and clogs as shaded spans.
fn spans(svg: &mut String, geo: &Geometry, entries: &[&TimelineEntry], quiesce: Option<Duration>) {
    let chaos_end = quiesce.unwrap_or(geo.end);
    // Partition id -> (start, lanes, detail).
    let mut open: BTreeMap<u64, (Duration, Vec<String>, String)> = BTreeMap::new();
    let mut done: Vec<(Duration, Duration, Vec<String>, String)> = Vec::new();
    for e in entries {
        match (e.kind, e.pair) {
            ("net.partition", Some(id)) => {
                open.insert(id, (e.time, e.peers.clone(), e.detail.clone()));
            }
            ("net.heal", Some(id)) => {
                if let Some((start, lanes, detail)) = open.remove(&id) {
                    done.push((start, e.time, lanes, detail));
                }
            }
            // The end of chaos heals every partition at once.
            ("net.heal", None) => {
                for (_, (start, lanes, detail)) in std::mem::take(&mut open) {
                    done.push((start, e.time, lanes, detail));
                }
            }
            _ => {}
        }
    }
    for (_, (start, lanes, detail)) in open {
        done.push((start, chaos_end, lanes, detail));
    }
    for (start, stop, lanes, detail) in done {
        let d = esc(&format!("{} .. {}: {}", secs(start), secs(stop), detail));
        let (x1, x2) = (geo.x(start), geo.x(stop));
        for lane in lanes.iter().chain(std::iter::once(&NETWORK.to_string())) {
            let _ = write!(
                svg,
                r#"<rect class="span partition" x="{x1:.1}" y="{y:.1}" width="{w:.1}" height="{h}" data-detail="{d}"><title>{d}</title></rect>"#,
                y = geo.y(lane) - LANE_H / 2.0 + 2.0,
                w = (x2 - x1).max(2.0),
                h = LANE_H - 4.0,
            );
        }
    }
    for e in entries.iter().filter(|e| e.kind == "net.clog") {
        let stop = e.end.unwrap_or(chaos_end).min(chaos_end.max(e.time));
        let (x1, x2) = (geo.x(e.time), geo.x(stop));
        let d = esc(&format!("{} .. {}: {}", secs(e.time), secs(stop), e.detail));
        let _ = write!(
            svg,
            r#"<rect class="span clog" x="{x1:.1}" y="{y:.1}" width="{w:.1}" height="{h}" data-detail="{d}"><title>{d}</title></rect>"#,
            y = geo.y(&e.process) - LANE_H / 2.0 + 4.0,
            w = (x2 - x1).max(2.0),
            h = LANE_H - 8.0,
        );
    }
}

/// Faults, connections and assertions as dots.
fn dots(svg: &mut String, geo: &Geometry, entries: &[&TimelineEntry], notes: &mut Vec<String>) {
    let drawn: Vec<&&TimelineEntry> = entries
        .iter()
        .filter(|e| {
            !matches!(
                e.kind,
                "process.start"
                    | "process.kill"
                    | "process.reboot"
                    | "net.partition"
                    | "net.heal"
                    | "net.clog"
            ) && !e.kind.starts_with("rpc.")
        })
        .collect();
    let k = stride(drawn.len(), DOTS_MAX);
    if k > 1 {
        notes.push(format!(
            "{} fault, connection and assertion marks: every {k}th is drawn",
            drawn.len()
        ));
    }
    for e in drawn.iter().step_by(k) {
        let x = geo.x(e.time);
        let y = geo.y(&e.process);
        let d = esc(&format!(
            "{} {} {}: {}",
            secs(e.time),
            e.process,
            e.kind,
            e.detail
        ));
        let class = e.kind.replace('.', "-");
        match e.kind {
            "conn.open" => {
                let to = e.peers.first().map(String::as_str).unwrap_or(NETWORK);
                let _ = write!(
                    svg,
                    r#"<line class="conn-open" x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{y2:.1}" data-detail="{d}"><title>{d}</title></line>"#,
                    y2 = geo.y(to),
                );
            }
            "assert.hit" | "assert.fail" => {
                let _ = write!(
                    svg,
                    r#"<text class="{class}" x="{tx:.1}" y="{ty:.1}" data-detail="{d}">◆<title>{d}</title></text>"#,
                    tx = x - 4.0,
                    ty = y - 6.0,
                );
            }
            _ => {
                let injected = ["net.", "disk.", "process.", "buggify.", "clock."];
                let fault = if injected.iter().any(|p| e.kind.starts_with(p)) {
                    " fault"
                } else {
                    ""
                };
                let _ = write!(
                    svg,
                    r#"<circle class="{class}{fault}" cx="{x:.1}" cy="{cy:.1}" r="3" data-detail="{d}"><title>{d}</title></circle>"#,
                    cy = y + 7.0,
                );
            }
        }
    }
}

/// RPC calls: send → serve → reply, paired by their key.
fn arrows(svg: &mut String, geo: &Geometry, entries: &[&TimelineEntry], notes: &mut Vec<String>) {
    type Call<'a> = (
        Option<&'a TimelineEntry>,
        Option<&'a TimelineEntry>,
        Option<&'a TimelineEntry>,
    );
    let mut calls: Vec<Call<'_>> = Vec::new();
    let mut by_key: HashMap<u64, usize> = HashMap::new();
    for e in entries {
        let Some(key) = e.pair else { continue };
        let slot = match e.kind {
            "rpc.send" => {
                by_key.insert(key, calls.len());
                calls.push((Some(e), None, None));
                continue;
            }
            "rpc.serve" => 1,
            "rpc.reply" | "rpc.error" => 2,
            _ => continue,
        };
        if let Some(&i) = by_key.get(&key) {
            let call = &mut calls[i];
            match slot {
                1 => call.1 = call.1.or(Some(e)),
                _ => call.2 = call.2.or(Some(e)),
            }
        }
    }
    let k = stride(calls.len(), ARROWS_MAX);
    if k > 1 {
        notes.push(format!("{} RPC calls: every {k}th is drawn", calls.len()));
    }
    for (send, serve, reply) in calls.iter().step_by(k) {
        let Some(send) = send else { continue };
        let (x1, y1) = (geo.x(send.time), geo.y(&send.process));
        let answer = match reply {
            Some(r) if r.kind == "rpc.error" => "failed",
            Some(_) => "answered",
            None => "unanswered",
        };
        let d = esc(&format!(
            "RPC from {} at {}: served by {} at {}, {} at {}",
            send.process,
            secs(send.time),
            serve.map_or("-", |s| s.process.as_str()),
            serve.map_or("-".to_string(), |s| secs(s.time)),
            answer,
            reply.map_or("-".to_string(), |r| secs(r.time)),
        ));
        let _ = write!(
            svg,
            r#"<g class="rpc {answer}" data-detail="{d}"><title>{d}</title>"#
        );
        if let Some(serve) = serve {
            let (x2, y2) = (geo.x(serve.time), geo.y(&serve.process));
            let _ = write!(
                svg,
                r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" marker-end="url(#arrow)"/>"#
            );
            if let Some(reply) = reply {
                let (x3, y3) = (geo.x(reply.time), geo.y(&reply.process));
                let _ = write!(
                    svg,
                    r#"<line class="back" x1="{x2:.1}" y1="{y2:.1}" x2="{x3:.1}" y2="{y3:.1}" marker-end="url(#arrow)"/>"#
                );
            }
        } else {
            let _ = write!(svg, r#"<circle cx="{x1:.1}" cy="{y1:.1}" r="2"/>"#);
        }
        svg.push_str("</g>");
    }
    svg.push_str(r##"<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="5" markerHeight="5" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#557"/></marker></defs>"##);
}

const STYLE: &str = r#"
body{font:13px/1.4 system-ui,sans-serif;margin:12px;color:#222;background:#fff}
h1{font-size:17px;margin:0 0 4px}
.outcome{margin:0 0 4px;font-weight:600}
.legend{margin:0 0 6px;color:#555}
.banner{background:#fff3cd;border:1px solid #e0c36b;padding:4px 8px;margin:0 0 6px}
.controls button{margin-right:4px}
#detail{font-family:ui-monospace,monospace;background:#f4f4f6;padding:4px 8px;margin:6px 0;min-height:18px;white-space:pre-wrap}
svg{border:1px solid #ddd;background:#fff;cursor:grab;display:block;max-width:100%;height:auto}
.lane-bg{fill:#fff}
.lane:nth-child(even) .lane-bg{fill:#f7f7fa}
.lane.failing .lane-bg{fill:#fde8e8}
.lane-label{font:12px ui-monospace,monospace;fill:#333}
.axis line{stroke:#e2e2e8}
.axis text{font:10px ui-monospace,monospace;fill:#777;text-anchor:middle}
.alive{fill:#7fb77e}
.process-kill{fill:#c0392b;font-size:13px}
.process-reboot{fill:#2e8b57;font-size:11px}
.span.partition{fill:#888;fill-opacity:.28}
.span.clog{fill:#3b7dd8;fill-opacity:.25}
.fault{fill:#8e44ad}
.conn-reset{fill:#e67e22}
.conn-close{fill:#aaa}
.conn-open{stroke:#999;stroke-dasharray:2 2}
.sim-quiesce{fill:#2e8b57}
.assert-hit{fill:#2c7be5;font-size:10px}
.assert-fail{fill:#d0021b;font-size:13px}
.rpc line{stroke:#557;stroke-width:.8;fill:none;opacity:.6}
.rpc line.back{stroke-dasharray:3 2}
.rpc.failed line{stroke:#c0392b}
.rpc circle{fill:#557}
.failure line{stroke:#d0021b;stroke-width:2}
.failure text{fill:#d0021b;font-weight:700}
"#;

const SCRIPT: &str = r#"
(function(){
  var svg=document.getElementById('timeline');
  var detail=document.getElementById('detail');
  var full=svg.viewBox.baseVal;
  var box={x:full.x,y:full.y,w:full.width,h:full.height};
  function apply(){svg.setAttribute('viewBox',box.x+' '+box.y+' '+box.w+' '+box.h);}
  function zoom(f,cx){
    var nw=Math.min(full.width,Math.max(full.width/500,box.w*f));
    box.x=Math.max(full.x,Math.min(full.x+full.width-nw,cx-(cx-box.x)*nw/box.w));
    box.w=nw;apply();
  }
  function toSvgX(ev){var r=svg.getBoundingClientRect();return box.x+(ev.clientX-r.left)/r.width*box.w;}
  svg.addEventListener('wheel',function(ev){ev.preventDefault();zoom(ev.deltaY<0?0.8:1.25,toSvgX(ev));},{passive:false});
  var drag=null;
  svg.addEventListener('mousedown',function(ev){drag={x:ev.clientX,bx:box.x};});
  window.addEventListener('mouseup',function(){drag=null;});
  window.addEventListener('mousemove',function(ev){
    if(!drag)return;var r=svg.getBoundingClientRect();
    box.x=Math.max(full.x,Math.min(full.x+full.width-box.w,drag.bx-(ev.clientX-drag.x)/r.width*box.w));apply();
  });
  document.getElementById('zoom-in').onclick=function(){zoom(0.5,box.x+box.w/2);};
  document.getElementById('zoom-out').onclick=function(){zoom(2,box.x+box.w/2);};
  document.getElementById('zoom-reset').onclick=function(){box={x:full.x,y:full.y,w:full.width,h:full.height};apply();};
  svg.addEventListener('mouseover',function(ev){
    var el=ev.target.closest('[data-detail]');
    if(el)detail.textContent=el.getAttribute('data-detail');
  });
  document.body.setAttribute('data-script','ok');
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn strides_keep_at_most_the_bound() {
        assert_eq!(stride(10, 20), 1);
        assert_eq!(stride(4_001, 2_000), 3);
        assert!(4_001usize.div_ceil(stride(4_001, 2_000)) <= 2_000);
    }
}
