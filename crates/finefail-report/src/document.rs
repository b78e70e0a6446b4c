//! A tiny document model — headings, paragraphs, lists, tables, figures — rendered both to Markdown
//! and to self-contained HTML, so `report.md` and `report.html` always carry the same content.

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

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
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

/// Escapes, then turns `` `code` `` and `**bold**` spans into `<code>` and `<strong>`.
fn inline_html(s: &str) -> String {
    let escaped = escape_html(s);
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            for (j, p) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    out.push_str("<strong>");
                    out.push_str(p);
                    out.push_str("</strong>");
                } else {
                    out.push_str(p);
                }
            }
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:72rem;\
margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.45}\
h1,h2,h3,h4{line-height:1.2}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}\
table{border-collapse:collapse;margin:.5rem 0 1.2rem;font-size:.9rem}\
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}\
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\
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
                out.push_str("<table>\n<thead><tr>");
                for h in header {
                    out.push_str(&format!("<th>{}</th>", inline_html(h)));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        let class = match c.as_str() {
                            "helps" | "hurts" | "inconclusive" => format!(" class=\"{c}\""),
                            _ => String::new(),
                        };
                        out.push_str(&format!("<td{class}>{}</td>", inline_html(c)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
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
        assert!(html.contains("<figure>\n<svg></svg>"));
        assert!(!html.contains("<?xml"));
    }
}
