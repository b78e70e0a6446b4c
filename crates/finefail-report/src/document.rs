//! A tiny document model — headings, paragraphs, lists, tables, figures — rendered both to Markdown
//! and to self-contained HTML, so `report.md` and `report.html` always carry the same content.
//!
//! Block text is a small Markdown subset: `**bold**`, `` `code` `` and backslash escapes. Text that
//! comes from the data (questions, ids) goes through [`literal`] first, so a question containing
//! `**`, a backtick, `|` or `<script>` reads literally in both files instead of being formatted, or
//! run.

use std::collections::HashMap;

/// One block of the report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    /// A heading of level 1–4.
    Heading(u8, String),
    /// A paragraph of plain text (`**bold**` and `` `code` `` spans are kept in Markdown and
    /// converted in HTML).
    Para(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table: header cells, then rows.
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A plot: `plots/{stem}.svg` and `.png`, with a caption.
    Figure { stem: String, caption: String },
}

/// Markdown: tables as pipe tables, figures as image links to the SVG (and a link to the PNG).
pub(crate) fn to_markdown(blocks: &[Block]) -> String {
    let mut out = String::new();
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                out.push_str(&"#".repeat(usize::from((*level).clamp(1, 6))));
                out.push(' ');
                out.push_str(text);
                out.push_str("\n\n");
            }
            Block::Para(text) => {
                out.push_str(text);
                out.push_str("\n\n");
            }
            Block::List(items) => {
                for i in items {
                    out.push_str("- ");
                    out.push_str(i);
                    out.push('\n');
                }
                out.push('\n');
            }
            Block::Table { header, rows } => {
                let row = |cells: &[String]| {
                    let cells: Vec<String> = cells.iter().map(|c| md_cell(c)).collect();
                    format!("| {} |\n", cells.join(" | "))
                };
                out.push_str(&row(header));
                out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
                for r in rows {
                    out.push_str(&row(r));
                }
                out.push('\n');
            }
            Block::Figure { stem, caption } => {
                out.push_str(&format!(
                    "![{stem}](plots/{stem}.svg)\n\n*{caption}* ([PNG](plots/{stem}.png))\n\n"
                ));
            }
        }
    }
    out
}

/// Escapes data text for block text: every character the Markdown subset (or a Markdown viewer of
/// `report.md`: emphasis, links, raw HTML, table pipes) would read as syntax gets a backslash, and
/// line breaks become spaces. [`to_html`] undoes the backslashes.
pub(crate) fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A table cell: pipes that are not escaped yet get a backslash (a pipe ends a cell in a pipe
/// table), line breaks become spaces.
fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(&next) = chars.peek().filter(|n| n.is_ascii_punctuation()) {
                    out.push(next);
                    chars.next();
                }
            }
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A piece of block text, as [`inline_html`] reads it.
enum Inline {
    /// A character shown as it is (escaped for HTML when written).
    Char(char),
    /// A `` `code` `` span's content (no escapes inside, as in CommonMark).
    Code(String),
    /// A `**` delimiter.
    Strong,
    /// A single `*` delimiter.
    Em,
}

fn tokens(s: &str) -> Vec<Inline> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1).is_some_and(char::is_ascii_punctuation) => {
                out.push(Inline::Char(chars[i + 1]));
                i += 2;
            }
            '`' => match chars[i + 1..].iter().position(|&d| d == '`') {
                Some(len) => {
                    out.push(Inline::Code(chars[i + 1..i + 1 + len].iter().collect()));
                    i += len + 2;
                }
                None => {
                    out.push(Inline::Char(c));
                    i += 1;
                }
            },
            '*' if chars.get(i + 1) == Some(&'*') => {
                out.push(Inline::Strong);
                i += 2;
            }
            '*' => {
                out.push(Inline::Em);
                i += 1;
            }
            _ => {
                out.push(Inline::Char(c));
                i += 1;
            }
        }
    }
    out
}

/// Pairs of one kind of delimiter: opens and closes alternate; one left over is text.
struct Delimiters {
    pairs: usize,
    seen: usize,
    text: &'static str,
    tags: (&'static str, &'static str),
}

impl Delimiters {
    fn new(count: usize, text: &'static str, tags: (&'static str, &'static str)) -> Self {
        Self {
            pairs: count / 2,
            seen: 0,
            text,
            tags,
        }
    }

    fn next(&mut self) -> &'static str {
        if self.seen >= 2 * self.pairs {
            return self.text;
        }
        self.seen += 1;
        if self.seen % 2 == 1 {
            self.tags.0
        } else {
            self.tags.1
        }
    }
}

/// Block text to HTML: backslash escapes undone, `` `code` ``, `**bold**` and `*emphasis*` spans
/// turned into `<code>`, `<strong>` and `<em>` (an unpaired delimiter shows as it is), everything
/// escaped.
fn inline_html(s: &str) -> String {
    let tokens = tokens(s);
    let count = |k: fn(&Inline) -> bool| tokens.iter().filter(|t| k(t)).count();
    let mut strong = Delimiters::new(
        count(|t| matches!(t, Inline::Strong)),
        "**",
        ("<strong>", "</strong>"),
    );
    let mut em = Delimiters::new(count(|t| matches!(t, Inline::Em)), "*", ("<em>", "</em>"));
    let mut out = String::with_capacity(s.len());
    for t in tokens {
        match t {
            Inline::Char(c) => out.push_str(&escape_html(c.encode_utf8(&mut [0; 4]))),
            Inline::Code(code) => {
                out.push_str("<code>");
                out.push_str(&escape_html(&code));
                out.push_str("</code>");
            }
            Inline::Strong => out.push_str(strong.next()),
            Inline::Em => out.push_str(em.next()),
        }
    }
    out
}

/// Whether a table cell holds a number (or numbers: a CI, seed means, a percentage, the missing
/// mark): such columns are right-aligned and never wrapped, so digits line up.
fn is_numeric(cell: &str) -> bool {
    let c = cell.trim();
    c == crate::format::MISSING
        || (c.chars().any(|ch| ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_digit() || ".,+-−[]e %".contains(ch)))
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:80rem;\
margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.45}\
p,ul,figcaption{max-width:52rem}\
h1,h2,h3,h4{line-height:1.2}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}\
.table{overflow-x:auto;margin:.5rem 0 1.2rem}\
table{border-collapse:collapse;font-size:.85rem}\
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}\
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.9rem;color:#555}\
.helps{color:#1a7f37;font-weight:600}.hurts{color:#c62828;font-weight:600}\
.inconclusive{color:#666}";

/// Self-contained HTML: inline CSS, every figure's SVG inlined from `svgs` (stem → SVG text).
pub(crate) fn to_html(title: &str, blocks: &[Block], svgs: &HashMap<String, String>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape_html(title)
    );
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let l = (*level).clamp(1, 6);
                out.push_str(&format!("<h{l}>{}</h{l}>\n", inline_html(text)));
            }
            Block::Para(text) => out.push_str(&format!("<p>{}</p>\n", inline_html(text))),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    out.push_str(&format!("<li>{}</li>\n", inline_html(i)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table { header, rows } => {
                let numeric: Vec<bool> = (0..header.len())
                    .map(|j| {
                        !rows.is_empty()
                            && rows.iter().all(|r| r.get(j).is_none_or(|c| is_numeric(c)))
                    })
                    .collect();
                let num = |j: usize| numeric.get(j).copied().unwrap_or(false);
                out.push_str("<div class=\"table\"><table>\n<thead><tr>");
                for (j, h) in header.iter().enumerate() {
                    let class = if num(j) { " class=\"num\"" } else { "" };
                    out.push_str(&format!("<th{class}>{}</th>", inline_html(h)));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for (j, c) in r.iter().enumerate() {
                        let class = match c.as_str() {
                            "helps" | "hurts" | "inconclusive" => format!(" class=\"{c}\""),
                            _ if num(j) => " class=\"num\"".to_string(),
                            _ => String::new(),
                        };
                        out.push_str(&format!("<td{class}>{}</td>", inline_html(c)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table></div>\n");
            }
            Block::Figure { stem, caption } => {
                out.push_str("<figure>\n");
                if let Some(svg) = svgs.get(stem) {
                    out.push_str(strip_xml_prolog(svg));
                    out.push('\n');
                }
                out.push_str(&format!(
                    "<figcaption>{}</figcaption>\n</figure>\n",
                    inline_html(caption)
                ));
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// An SVG document without its `<?xml …?>` line, ready to inline in HTML.
fn strip_xml_prolog(svg: &str) -> &str {
    let s = svg.trim_start();
    if s.starts_with("<?xml") {
        s.find("?>").map_or(s, |i| s[i + 2..].trim_start())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_formats() {
        let blocks = vec![
            Block::Heading(2, "A <b>".into()),
            Block::Para("x `code` **y**".into()),
            Block::Table {
                header: vec!["a".into(), "b|c".into()],
                rows: vec![vec!["1".into(), "hurts".into()]],
            },
            Block::Figure {
                stem: "p".into(),
                caption: "cap".into(),
            },
        ];
        let md = to_markdown(&blocks);
        assert!(md.contains("## A <b>\n"));
        assert!(md.contains("| a | b\\|c |\n|---|---|\n| 1 | hurts |\n"));
        assert!(md.contains("![p](plots/p.svg)\n\n*cap* ([PNG](plots/p.png))"));
        let svgs: HashMap<String, String> = [(
            "p".to_string(),
            "<?xml version=\"1.0\"?>\n<svg></svg>".to_string(),
        )]
        .into();
        let html = to_html("t", &blocks, &svgs);
        assert!(html.contains("<h2>A &lt;b&gt;</h2>"));
        assert!(html.contains("<p>x <code>code</code> <strong>y</strong></p>"));
        assert!(html.contains("<td class=\"hurts\">hurts</td>"));
        assert!(html.contains("<th class=\"num\">a</th><th>b|c</th>"));
        assert!(html.contains("<td class=\"num\">1</td>"));
        assert!(html.contains("<figure>\n<svg></svg>"));
        assert!(!html.contains("<?xml"));
    }

    /// Data text with Markdown and HTML syntax reads literally in both formats.
    #[test]
    fn literal_text_is_not_formatted_in_either_format() {
        let question = "Is **this** `code` a|b <script>alert(1)</script> & [x](y) _z_ \\ ok?";
        let blocks = vec![
            Block::Para(format!("Asked: {}", literal(question))),
            Block::Table {
                header: vec!["question".into()],
                rows: vec![vec![literal(question)]],
            },
        ];
        let md = to_markdown(&blocks);
        let escaped =
            r"Is \*\*this\*\* \`code\` a\|b \<script\>alert(1)\</script\> \& \[x\](y) \_z\_ \\ ok?";
        assert!(md.contains(&format!("Asked: {escaped}\n")), "{md}");
        // The cell's pipe is escaped once, not twice.
        assert!(md.contains(&format!("| {escaped} |\n")), "{md}");
        let html = to_html("t", &blocks, &HashMap::new());
        let shown =
            "Is **this** `code` a|b &lt;script&gt;alert(1)&lt;/script&gt; &amp; [x](y) _z_ \\ ok?";
        assert!(html.contains(&format!("<p>Asked: {shown}</p>")), "{html}");
        assert!(html.contains(&format!("<td>{shown}</td>")), "{html}");
        assert!(!html.contains("<script>") && !html.contains("<strong>"));
    }

    /// The Markdown subset: an unpaired `**` or backtick shows as it is; escapes are undone; code
    /// spans keep their content.
    #[test]
    fn inline_subset_pairs_delimiters() {
        assert_eq!(inline_html("a ** b"), "a ** b");
        assert_eq!(inline_html("**a** **b"), "<strong>a</strong> **b");
        assert_eq!(inline_html("x `y"), "x `y");
        assert_eq!(
            inline_html(r"\*\*a\*\* `**<b>**`"),
            "**a** <code>**&lt;b&gt;**</code>"
        );
        assert_eq!(
            inline_html("*not assessed* and 2 * 3"),
            "<em>not assessed</em> and 2 * 3"
        );
        assert!(is_numeric("[-0.222, +0.000]") && is_numeric("3.2e-5") && is_numeric("—"));
        assert!(is_numeric("0, 1") && is_numeric("41.7 %"));
        assert!(!is_numeric("token_f1") && !is_numeric("exploratory") && !is_numeric("n0"));
    }
}
