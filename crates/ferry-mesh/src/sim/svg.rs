//! A hand-written SVG line plot of delivery ratio over time, one line per report.

use std::fmt::Write as _;

use super::Report;

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// Plots `delivered / created` (payments made so far) against simulated hours for each report.
pub fn delivery_plot(reports: &[(&str, &Report)]) -> String {
    let (w, h, ml, mr, mt, mb) = (720.0, 420.0, 60.0, 160.0, 30.0, 50.0);
    let pw = w - ml - mr;
    let ph = h - mt - mb;
    let t_max = reports
        .iter()
        .map(|(_, r)| r.duration_secs)
        .fold(1.0, f64::max);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle">Delivered / created over time</text>"#,
        ml + pw / 2.0
    );
    for i in 0..=10 {
        let y = mt + ph - ph * f64::from(i) / 10.0;
        let _ = write!(
            s,
            r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}%</text>"##,
            ml + pw,
            ml - 6.0,
            y + 4.0,
            i * 10
        );
    }
    let hours = (t_max / 3600.0).ceil() as u32;
    let step = (hours / 12).max(1);
    for hr in (0..=hours).step_by(step as usize) {
        let x = ml + pw * f64::from(hr) * 3600.0 / t_max;
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{hr} h</text>"##,
            mt + ph,
            mt + ph + 18.0
        );
    }
    let _ = write!(
        s,
        r#"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    for (k, (label, r)) in reports.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let pts: Vec<String> = r
            .series
            .iter()
            .filter(|p| p.created > 0)
            .map(|p| {
                let x = ml + pw * p.t_secs / t_max;
                let y = mt + ph - ph * p.delivered as f64 / p.created as f64;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let ly = mt + 20.0 * k as f64 + 10.0;
        let _ = write!(
            s,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ml + pw + 10.0,
            ml + pw + 30.0,
            ml + pw + 35.0,
            ly + 4.0,
            escape(label)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
