//! The pages as HTML: plain server-rendered pages around the data of [`super::data`], one
//! stylesheet compiled in, no scripts and nothing fetched from elsewhere (it works offline).

use std::fmt::Write as _;

use super::data::{Count, FeedbackPage, JobPage, LISTED_JOBS, Overview};

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// A path segment as a URL carries it (owner names are ASCII on HTCondor, but need not be).
pub fn url_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
}

fn figure(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.3}{unit}"))
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// The page around `body`: title, navigation, a note that it reloads itself.
pub fn page(title: &str, body: &str, refresh_seconds: u32) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh_seconds}">
<title>{t} · holdadvisor</title>
<link rel="stylesheet" href="/static/style.css">
</head><body>
<nav><a href="/" id="nav-overview">Held jobs</a> <a href="/feedback" id="nav-feedback">Feedback</a> <a href="/model" id="nav-model">Model</a>
<span class="note">read-only view of the cache; reloads every {refresh_seconds} s</span></nav>
<main><h1>{t}</h1>
{body}
</main></body></html>
"#,
        t = esc(title)
    )
}

fn count_table(id: &str, title: &str, column: &str, rows: &[Count], link: Option<&str>) -> String {
    let mut s = format!(
        "<section id=\"{id}\"><h2>{}</h2><table><tr><th>{}</th><th>jobs</th></tr>",
        esc(title),
        esc(column)
    );
    for c in rows.iter().take(30) {
        let name = match link {
            Some(prefix) => format!(
                "<a href=\"{prefix}{}\">{}</a>",
                url_segment(&c.name),
                esc(&c.name)
            ),
            None => esc(&c.name),
        };
        let _ = write!(s, "<tr><td>{name}</td><td class=\"n\">{}</td></tr>", c.jobs);
    }
    if rows.len() > 30 {
        let _ = write!(
            s,
            "<tr><td colspan=\"2\">… {} more</td></tr>",
            rows.len() - 30
        );
    }
    s.push_str("</table></section>");
    s
}

pub fn overview(o: &Overview, owner: Option<&str>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<p class=\"summary\"><b id=\"open-holds\">{}</b> open holds ({}), {} with advice. Cache: <code>{}</code>.</p>",
        o.open_holds,
        esc(o.open_holds_means),
        o.advised,
        esc(&o.cache)
    );
    s.push_str("<section id=\"advice-mix\"><h2>Advice</h2><p>");
    for c in &o.advice_mix {
        let _ = write!(
            s,
            "<span class=\"chip advice-{}\">{} <b>{}</b></span> ",
            esc(&c.name.replace(' ', "-")),
            esc(&c.name),
            c.jobs
        );
    }
    s.push_str("</p></section>");
    if owner.is_none() {
        s.push_str(
            "<section id=\"holds-per-day\"><h2>Holds over time</h2><img src=\"/plot/holds-per-day.svg\" alt=\"holds a day\"></section>",
        );
    }
    s.push_str("<section id=\"groups\"><h2>By cause and advice</h2><p class=\"note\">Each group's advice is unanimous; its commands select exactly its jobs. Shown, never run: copy them to act.</p><table><tr><th>cause</th><th>advice</th><th>jobs</th><th>P</th><th>CONF</th><th>commands</th></tr>");
    for g in &o.groups {
        let ids: Vec<String> = g
            .job_ids
            .iter()
            .map(|id| format!("<a href=\"/job/{0}\">{0}</a>", esc(id)))
            .collect();
        let more = if g.jobs > g.job_ids.len() {
            format!(" … {} more", g.jobs - g.job_ids.len())
        } else {
            String::new()
        };
        let _ = write!(
            s,
            "<tr class=\"group\"><td>{}<div class=\"ids\">{}{more}</div></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td><td><pre>{}</pre></td></tr>",
            esc(&g.cause),
            ids.join(" "),
            esc(&g.advice),
            g.jobs,
            g.mean_probability,
            g.mean_confidence,
            esc(&g.commands.join("\n"))
        );
    }
    s.push_str("</table></section><div class=\"row\">");
    if owner.is_none() {
        s.push_str(&count_table(
            "owners",
            "By owner",
            "owner",
            &o.owners,
            Some("/owner/"),
        ));
    }
    s.push_str(&count_table("codes", "By code", "code", &o.codes, None));
    s.push_str(&count_table("sites", "By site", "site", &o.sites, None));
    let _ = write!(
        s,
        "</div><section id=\"jobs\"><h2>Open holds, newest first{}</h2><table><tr><th>ID</th><th>OWNER</th><th>HELD_SINCE</th><th>CODE/SUB</th><th>HOLD_REASON</th><th>ADVICE</th><th>P</th><th>CONF</th></tr>",
        if o.open_holds > LISTED_JOBS {
            format!(" (the first {LISTED_JOBS} of {})", o.open_holds)
        } else {
            String::new()
        }
    );
    for j in &o.jobs {
        let id = format!("{}.{}", j.cluster, j.proc);
        let owner_cell = j.owner.as_deref().map_or_else(
            || "-".into(),
            |w| format!("<a href=\"/owner/{}\">{}</a>", url_segment(w), esc(w)),
        );
        let _ = write!(
            s,
            "<tr class=\"job\" data-id=\"{id}\"><td><a href=\"/job/{id}\">{id}</a></td><td>{owner_cell}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            time(j.hold_time),
            j.code,
            j.subcode,
            esc(&crate::advice::short_reason(
                j.reason.as_deref().unwrap_or(""),
                90
            )),
            esc(j.advice.as_deref().unwrap_or("not advised yet")),
            num(j.probability),
            num(j.confidence)
        );
    }
    s.push_str("</table></section>");
    s
}

pub fn job(j: &JobPage) -> String {
    let mut s = String::new();
    if let Some(row) = &j.job {
        let _ = write!(
            s,
            "<p>Owner: {}. UserLog: <code>{}</code>. First seen {}.</p>",
            row.owner.as_deref().map_or_else(
                || "-".into(),
                |w| format!("<a href=\"/owner/{}\">{}</a>", url_segment(w), esc(w))
            ),
            esc(row.user_log.as_deref().unwrap_or("-")),
            time(row.first_seen)
        );
    } else {
        s.push_str("<p>The cache has not seen this job.</p>");
    }
    s.push_str("<section id=\"holds\"><h2>Hold episodes and advice</h2>");
    if j.holds.is_empty() {
        s.push_str("<p>No holds recorded.</p>");
    }
    for h in &j.holds {
        let _ = write!(
            s,
            "<div class=\"episode\"><h3>Hold {} at {}: {}/{}</h3><p class=\"reason\">{}</p><p>Outcome: <b>{}</b>{}</p>",
            h.episode + 1,
            time(h.hold_time),
            h.code,
            h.subcode,
            esc(h.reason.as_deref().unwrap_or("")),
            esc(h.outcome.as_deref().unwrap_or("not known yet")),
            h.outcome_observed
                .map(|t| format!(" (seen {})", time(t)))
                .unwrap_or_default()
        );
        match &h.advice {
            Some(a) => {
                let _ = write!(
                    s,
                    "<p class=\"advice\">Advice: <b id=\"advice-{}\">{}</b>, P(release succeeds) {}, CONF {} (model {}, {})</p><p class=\"why\">WHY: {}</p><pre class=\"commands\">{}</pre>",
                    h.episode,
                    esc(a),
                    num(h.probability),
                    num(h.confidence),
                    esc(h.model_id.as_deref().unwrap_or("-")),
                    h.predicted.map(time).unwrap_or_default(),
                    esc(h.explanation.as_deref().unwrap_or("")),
                    esc(h.commands.as_deref().unwrap_or(""))
                );
            }
            None => s.push_str("<p>No advice stored for this hold.</p>"),
        }
        s.push_str("</div>");
    }
    s.push_str("</section><section id=\"timeline\"><h2>Events</h2>");
    match &j.timeline_note {
        Some(note) => {
            let _ = write!(s, "<p class=\"note\">No timeline: {}.</p>", esc(note));
        }
        None => {
            s.push_str("<ol class=\"timeline\">");
            for e in &j.timeline {
                let _ = write!(
                    s,
                    "<li class=\"ev ev-{:03}\"><time>{}</time> <b>{:03} {}</b> {}</li>",
                    e.number,
                    time(e.time),
                    e.number,
                    esc(&e.name),
                    esc(&e.detail)
                );
            }
            s.push_str("</ol>");
        }
    }
    s.push_str("</section>");
    s
}

pub fn feedback(f: &FeedbackPage) -> String {
    let r = &f.report;
    let mut s = format!(
        "<p><b>{}</b> past predictions scored; <b>{}</b> censored (removed while held: whether a release would have worked is unknown, so not scored){}.</p>",
        r.all.predictions,
        r.all.censored,
        if f.after_the_fact > 0 {
            format!(
                "; {} made after their hold's outcome was recorded are not judged",
                f.after_the_fact
            )
        } else {
            String::new()
        }
    );
    if r.all.predictions == 0 {
        s.push_str("<p id=\"nothing-yet\">Nothing to score yet: no advised hold has been released and then recovered or failed.</p>");
    }
    s.push_str("<section id=\"reliability\"><h2>Reliability</h2><img id=\"reliability-plot\" src=\"/plot/reliability.svg\" alt=\"reliability diagram of past advice\"></section>");
    s.push_str("<section id=\"cost\"><h2>Cost against the rule policies</h2><p class=\"note\">Regret in hours over the scored holds under the default cost model (a failed release 2 h and a 0.25 h look; a needless removal 6 h and a look). The remove-after timers are left out: the cache does not keep when a hold was released.</p><table><tr><th>policy</th><th>regret, hours</th></tr>");
    for (name, hours) in &r.regret_hours {
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"n\">{hours:.1}</td></tr>",
            esc(name)
        );
    }
    s.push_str("</table></section>");
    for (id, title, rows) in [
        ("by-week", "By week", &r.by_week),
        ("by-code", "By hold code", &r.by_code),
    ] {
        let _ = write!(
            s,
            "<section id=\"{id}\"><h2>{title}</h2><table><tr><th></th><th>scored</th><th>censored</th><th>accuracy</th><th>Brier</th><th>ECE</th></tr>"
        );
        for sc in rows.iter() {
            let _ = write!(
                s,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&sc.group),
                sc.predictions,
                sc.censored,
                figure(sc.accuracy.map(|a| a * 100.0), "%"),
                figure(sc.brier, ""),
                figure(sc.ece, "")
            );
        }
        s.push_str("</table></section>");
    }
    s
}

pub fn model(manifest: &serde_json::Value, dir: &str) -> String {
    let get = |k: &str| {
        manifest
            .get(k)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_else(|| "-".into())
    };
    let note = get("data_note");
    let simulated = note.to_ascii_lowercase().contains("simulat")
        || note.to_ascii_lowercase().contains("synthetic");
    let mut s = format!(
        "<p>Model <code>{}</code> from <code>{}</code>, holdadvisor-models {}, backend {}.</p>",
        esc(&get("weights_hash")),
        esc(dir),
        esc(&get("version")),
        esc(&get("backend"))
    );
    let _ = write!(
        s,
        "<section id=\"data-note\"><h2>Training data</h2>{}<p>{}</p></section>",
        if simulated {
            "<p class=\"warn\" id=\"simulated\">SIMULATED: trained on synthetic event logs. Its figures are on simulated pools, not real-world accuracy.</p>"
        } else {
            ""
        },
        esc(&note)
    );
    s.push_str("<section id=\"metrics\"><h2>Metrics</h2><table><tr><th>split</th><th>ROC AUC</th><th>Brier</th><th>ECE</th><th>accuracy</th></tr>");
    for split in ["validation", "test"] {
        if let Some(m) = manifest.get(split).filter(|m| !m.is_null()) {
            let f = |k: &str| m.get(k).and_then(|v| v.as_f64());
            let _ = write!(
                s,
                "<tr><td>{split}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                num(f("roc_auc")),
                num(f("brier")),
                num(f("ece")),
                num(f("accuracy"))
            );
        }
    }
    let _ = write!(
        s,
        "</table></section><section id=\"manifest\"><h2>Manifest</h2><pre>{}</pre></section>",
        esc(&serde_json::to_string_pretty(manifest).unwrap_or_default())
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_segments_encoded() {
        assert_eq!(
            esc(r#"<a href="x">O'Neil & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
        assert_eq!(url_segment("alice"), "alice");
        assert_eq!(url_segment("a b/c?"), "a%20b%2Fc%3F");
    }
}
