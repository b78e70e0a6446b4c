//! SQuAD answer normalization and tokenization.
//!
//! Follows the official SQuAD v1.1/v2.0 evaluation script exactly:
//! `white_space_fix(remove_articles(remove_punc(lower(s))))`, where `remove_punc` deletes the ASCII
//! characters of Python's `string.punctuation` and `remove_articles` replaces the whole words
//! `a`, `an`, `the` (regex `\b(a|an|the)\b`, Unicode word characters) by a space.

/// Python's `string.punctuation`: the characters SQuAD deletes.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Normalizes an answer the way SQuAD's evaluation does, so our scores are comparable to published ones.
pub fn normalize_answer(text: &str) -> String {
    let lowered = text.to_lowercase();
    let no_punc: String = lowered
        .chars()
        .filter(|c| !PUNCTUATION.contains(*c))
        .collect();
    let no_articles = remove_articles(&no_punc);
    no_articles.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The normalized answer split on whitespace: the unit every token metric counts.
pub fn tokens(text: &str) -> Vec<String> {
    normalize_answer(text)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Python's `\w` for `str` patterns: Unicode alphanumerics and the underscore.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Replaces every maximal run of word characters equal to `a`, `an` or `the` by one space,
/// which is what `re.sub(r"\b(a|an|the)\b", " ", text)` does.
fn remove_articles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if matches!(word.as_str(), "a" | "an" | "the") {
            out.push(' ');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_word_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_examples() {
        // Worked by hand from the SQuAD script's four steps.
        assert_eq!(normalize_answer("The Denver Broncos!"), "denver broncos");
        assert_eq!(normalize_answer("  an  Apple, a day "), "apple day");
        assert_eq!(normalize_answer("Theory of the U.S.A."), "theory of usa");
        assert_eq!(normalize_answer("don't"), "dont");
        assert_eq!(normalize_answer("a-the"), "athe");
        // Non-ASCII punctuation is kept but still separates words for the article regex.
        assert_eq!(normalize_answer("the\u{2014}cat"), "\u{2014}cat");
        assert_eq!(normalize_answer("Ünïcode THE end"), "ünïcode end");
    }

    #[test]
    fn tokens_split_on_whitespace() {
        assert_eq!(
            tokens("The cat\tsat\non a mat."),
            vec!["cat", "sat", "on", "mat"]
        );
        assert!(tokens(" . , ").is_empty());
    }
}
