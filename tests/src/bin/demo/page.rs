//! What the demo shows, told on the terminal as it happens and kept for
//! `build/demo/index.html`: each step's lines, its diagram (Mermaid), where to look, and
//! the outcome it checked.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

/// One narrated step.
#[derive(Debug, Default, Serialize)]
pub struct Step {
    /// The catalogue id of the pattern it shows.
    pub pattern: String,
    /// What it does.
    pub title: String,
    /// What happened, line by line.
    pub lines: Vec<String>,
    /// Mermaid sources: the conversation, a saga's path.
    pub diagrams: Vec<String>,
    /// Where to look for more (a table, a queue, a command).
    pub look: Vec<String>,
    /// What the step checked, and whether it held.
    pub outcome: Option<(String, bool)>,
    /// Seconds it took.
    pub seconds: f64,
}

/// The steps so far.
#[derive(Debug, Default)]
pub struct Page {
    steps: Vec<Step>,
    started: Option<Instant>,
}

impl Page {
    /// Starts a step (printing its number and title).
    pub fn step(&mut self, pattern: &str, title: &str) {
        self.close();
        self.started = Some(Instant::now());
        println!("\n\x1b[1m{}. {title}\x1b[0m", self.steps.len() + 1);
        self.steps.push(Step {
            pattern: pattern.to_owned(),
            title: title.to_owned(),
            ..Step::default()
        });
    }

    fn current(&mut self) -> &mut Step {
        if self.steps.is_empty() {
            self.steps.push(Step::default());
        }
        self.steps.last_mut().expect("a step")
    }

    /// A line of what happened.
    pub fn line(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("  {text}");
        self.current().lines.push(text);
    }

    /// A diagram of the step (Mermaid source; on the page, not the terminal).
    pub fn diagram(&mut self, mermaid: impl Into<String>) {
        self.current().diagrams.push(mermaid.into());
    }

    /// Where to look for more.
    pub fn look(&mut self, place: impl Into<String>) {
        let place = place.into();
        println!("  \x1b[2mlook: {place}\x1b[0m");
        self.current().look.push(place);
    }

    /// The outcome the step checked.
    pub fn outcome(&mut self, what: &str, held: bool) {
        let mark = if held { "ok" } else { "NOT MET" };
        println!("  \x1b[1m{what}: {mark}\x1b[0m");
        self.current().outcome = Some((what.to_owned(), held));
    }

    fn close(&mut self) {
        if let (Some(started), Some(step)) = (self.started.take(), self.steps.last_mut()) {
            step.seconds = started.elapsed().as_secs_f64();
        }
    }

    /// The steps, the last one closed.
    pub fn finish(mut self) -> Vec<Step> {
        self.close();
        self.steps
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page: every step with its lines, diagrams and outcome; Mermaid loaded from
/// `mermaid.min.js` beside it, so it opens offline.
pub fn html(steps: &[Step], total_seconds: f64) -> String {
    let mut body = String::new();
    for (n, s) in steps.iter().enumerate() {
        let _ = write!(
            body,
            "<section id=\"{id}\"><h2>{n}. {title} <small>{pattern} · {secs:.1} s</small></h2>",
            id = escape(&s.pattern),
            n = n + 1,
            title = escape(&s.title),
            pattern = escape(&s.pattern),
            secs = s.seconds
        );
        if let Some((what, held)) = &s.outcome {
            let class = if *held { "ok" } else { "bad" };
            let mark = if *held { "ok" } else { "not met" };
            let _ = write!(body, "<p class=\"{class}\">{}: {mark}</p>", escape(what));
        }
        for (i, d) in s.diagrams.iter().enumerate() {
            let _ = write!(
                body,
                "<pre class=\"mermaid\" id=\"{}-{i}\">{}</pre>",
                escape(&s.pattern),
                escape(d)
            );
        }
        let _ = write!(
            body,
            "<pre class=\"lines\">{}</pre>",
            escape(&s.lines.join("\n"))
        );
        for place in &s.look {
            let _ = write!(
                body,
                "<p class=\"look\">look: <code>{}</code></p>",
                escape(place)
            );
        }
        body.push_str("</section>\n");
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>eventkit demo</title>\n\
         <style>body{{font-family:sans-serif;max-width:72em;margin:auto;padding:1em}}\
         pre.lines{{background:#f6f6f6;padding:.5em;overflow-x:auto}}\
         .ok{{color:#126b12}}.bad{{color:#b00020;font-weight:bold}}small{{color:#777}}</style>\n\
         </head><body><h1>eventkit demo</h1><p>{count} steps in {total_seconds:.0} s on the \
         deployed stack.</p>\n{body}<script src=\"mermaid.min.js\"></script>\n\
         <script>mermaid.initialize({{startOnLoad:true,securityLevel:'strict'}});</script>\n\
         </body></html>\n",
        count = steps.len()
    )
}

/// Writes `index.html`, `steps.json` (the outcomes, for the demo's test) and a copy of
/// Mermaid into `dir`; without `mermaid_js` the page is written and says nothing renders.
pub fn write(
    dir: &Path,
    steps: &[Step],
    total_seconds: f64,
    mermaid_js: &Path,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("index.html"), html(steps, total_seconds))?;
    std::fs::write(
        dir.join("steps.json"),
        serde_json::to_string_pretty(steps).map_err(std::io::Error::other)?,
    )?;
    if mermaid_js.exists() {
        std::fs::copy(mermaid_js, dir.join("mermaid.min.js"))?;
    }
    Ok(())
}
