//! The report as a page: text from the data reads literally in report.md and report.html, and
//! report.html, opened in a real browser (headless Chromium), shows every figure, loads no broken
//! image and logs nothing to the console. The browser part is skipped, with a message, when no
//! Chromium is installed (`apt-get install chromium`; `.ci/run` installs it); its screenshot is
//! left at `$CARGO_TARGET_TMPDIR/report-screenshot.png` for a person to look at.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use finefail_report::{write_report, ReportInput, ReportSummary};

/// A question that is Markdown, HTML and a table pipe at once (short enough not to be shortened).
const MARKUP_QUESTION: &str = "Is **bold** `code` a|b <script>alert(1)</script> & _x_?";

/// The synthetic run, with question q3 (listed among the largest regressions) made of markup.
fn page_input() -> ReportInput {
    let mut input = common::input();
    for d in &mut input.datasets {
        for q in &mut d.questions {
            if q.id == "q3" {
                q.question = MARKUP_QUESTION.into();
            }
        }
    }
    input
}

fn written(dir: &Path) -> ReportSummary {
    write_report(&page_input(), dir).unwrap_or_else(|e| panic!("write_report: {e}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn question_text_reads_literally_in_markdown_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let summary = written(dir.path());
    let md = read(&summary.markdown);
    let row = r"| 50 | q3 | Is \*\*bold\*\* \`code\` a\|b \<script\>alert(1)\</script\> \& \_x\_? | 1.000 | 0.500 | -0.500 |";
    assert!(md.contains(row), "report.md lacks\n{row}\n---\n{md}");
    let html = read(&summary.html);
    let cell = "<td>Is **bold** `code` a|b &lt;script&gt;alert(1)&lt;/script&gt; &amp; _x_?</td>";
    assert!(html.contains(cell), "report.html lacks\n{cell}");
    assert!(!html.contains("<script") && !html.contains("<strong>bold"));
}

/// The first Chromium on PATH (or `$FINEFAIL_CHROMIUM`).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FINEFAIL_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

/// What a headless run printed.
struct Printed {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on `page` with `args`, killed after a minute. Output goes to files (a
/// DOM dump is larger than a pipe's buffer, and nobody reads the pipe while waiting).
fn headless(browser: &Path, args: &[&str], page: &Path) -> Printed {
    let scratch = tempfile::tempdir().unwrap();
    let (out, err) = (scratch.path().join("out"), scratch.path().join("err"));
    let file = |p: &Path| Stdio::from(std::fs::File::create(p).unwrap());
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.path().join("profile").display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(file(&out))
        .stderr(file(&err))
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", browser.display()));
    let started = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.wait();
    let text =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Printed {
        stdout: text(&out),
        stderr: text(&err),
    }
}

/// Appended to a copy of report.html: after load, lists broken images, figures drawn with no
/// size, and errors the page raised, in `<pre id="finefail-check">` for `--dump-dom` to show.
const CHECKER: &str = r#"<script>
const errors = [];
window.addEventListener('error', e => errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || e.type)), true);
window.addEventListener('load', () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));
  const figures = [...document.querySelectorAll('figure svg')];
  const empty = figures.filter(s => { const r = s.getBoundingClientRect(); return r.width < 100 || r.height < 100; }).length;
  const out = document.createElement('pre');
  out.id = 'finefail-check';
  out.textContent = JSON.stringify({broken, errors, figures: figures.length, empty, width: document.documentElement.scrollWidth});
  document.body.appendChild(out);
});
</script>"#;

#[test]
fn report_html_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "skipped: no Chromium found (install Debian's `chromium`, or set FINEFAIL_CHROMIUM)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let summary = written(dir.path());
    let html = read(&summary.html);

    // 1. The page as it is: a screenshot, and nothing on the console (the report has no script,
    //    so any console line is a problem: a failed load, a CSP or parse complaint).
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let o = headless(
        &browser,
        &[
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,4000",
            &format!("--screenshot={}", shot.display()),
        ],
        &summary.html,
    );
    let log = &o.stderr;
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console output: {console:#?}");
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {log}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    eprintln!("screenshot: {}", shot.display());

    // 2. A copy with the checker: every figure drawn at a real size, no broken image, no error,
    //    nothing wider than the window (a table that overflows the page reads badly).
    let checked = summary.report_dir.join("report-check.html");
    let with_checker = html.replace("</body>", &format!("{CHECKER}\n</body>"));
    std::fs::write(&checked, with_checker).unwrap();
    let o = headless(
        &browser,
        &[
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ],
        &checked,
    );
    let dom = &o.stdout;
    let report = dom
        .split("<pre id=\"finefail-check\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("the checker did not run: {}", o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&report.replace("&quot;", "\"").replace("&amp;", "&"))
            .unwrap_or_else(|e| panic!("{e}: {report}"));
    assert_eq!(report["broken"], serde_json::json!([]), "{report}");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["figures"], summary.plots, "{report}");
    assert_eq!(report["empty"], 0, "{report}");
    assert!(
        report["width"].as_u64().unwrap_or(u64::MAX) <= 1280,
        "the page is wider than the window: {report}"
    );
}
