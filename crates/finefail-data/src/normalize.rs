//! Text normalisation: SQuAD's rule, the one used by duplicate detection and the contamination
//! check here and by every token metric of scoring (`finefail-score`), so that "the same answer"
//! and "the same question" mean the same thing everywhere.
//!
//! Follows the official SQuAD v1.1/v2.0 evaluation script exactly:
//! `white_space_fix(remove_articles(remove_punc(lower(s))))`, where `remove_punc` deletes the ASCII
//! characters of Python's `string.punctuation` and `remove_articles` replaces the whole words
//! `a`, `an`, `the` (regex `\b(a|an|the)\b`, Unicode word characters) by a space.

/// Python's `string.punctuation`: the characters SQuAD deletes.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Normalises text the way SQuAD's evaluation does, so our scores are comparable to published ones
/// and questions compare equal when SQuAD would call them equal.
pub fn normalize(text: &str) -> String {
    let lowered = text.to_lowercase();
    let no_punc: String = lowered
        .chars()
        .filter(|c| !PUNCTUATION.contains(*c))
        .collect();
    let no_articles = remove_articles(&no_punc);
    no_articles.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The normalised text split on whitespace: the unit every token metric and n-gram check counts.
pub fn words(text: &str) -> Vec<String> {
    normalize(text)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Collapses runs of whitespace to one space and trims: used for document identity, where
/// case and punctuation matter but incidental spacing does not.
pub fn squash_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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
        assert_eq!(normalize("The Denver Broncos!"), "denver broncos");
        assert_eq!(normalize("  an  Apple, a day "), "apple day");
        assert_eq!(normalize("Theory of the U.S.A."), "theory of usa");
        assert_eq!(normalize("don't"), "dont");
        assert_eq!(normalize("a-the"), "athe");
        assert_eq!(normalize("The  Cat, sat on a mat!"), "cat sat on mat");
        assert_eq!(normalize("An apple-pie"), "applepie");
        assert_eq!(normalize("Théâtre — l'été"), "théâtre — lété");
        // Non-ASCII punctuation is kept but still separates words for the article regex.
        assert_eq!(normalize("the\u{2014}cat"), "\u{2014}cat");
        assert_eq!(normalize("Ünïcode THE end"), "ünïcode end");
    }

    #[test]
    fn words_split_on_whitespace() {
        assert_eq!(
            words("The cat\tsat\non a mat."),
            vec!["cat", "sat", "on", "mat"]
        );
        assert_eq!(words("  Hello\tWorld. "), vec!["hello", "world"]);
        assert!(words(" . , ").is_empty());
    }
}
