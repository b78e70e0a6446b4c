//! Text normalisation shared by duplicate detection and contamination checks: SQuAD's rule
//! (lowercase, drop punctuation, drop the articles a/an/the, collapse whitespace).

/// Normalises text the way the SQuAD evaluation script does (punctuation = Python's
/// `string.punctuation`, deleted rather than replaced by a space, as SQuAD does).
pub fn normalize(text: &str) -> String {
    let lowered = text.to_lowercase();
    let no_punct: String = lowered
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    no_punct
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The normalised words of `text`.
pub fn words(text: &str) -> Vec<String> {
    normalize(text)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Collapses runs of whitespace to one space and trims: used for document identity, where
/// case and punctuation matter but incidental spacing does not.
pub fn squash_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_rules() {
        assert_eq!(normalize("The  Cat, sat on a mat!"), "cat sat on mat");
        assert_eq!(normalize("An apple-pie"), "applepie");
        assert_eq!(words("  Hello\tWorld. "), vec!["hello", "world"]);
        assert_eq!(normalize("Théâtre — l'été"), "théâtre — lété");
    }
}
