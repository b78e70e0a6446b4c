//! Faithfulness: how much of what the answer says is found in the retrieved context.

use std::collections::HashSet;

use finefail_data::normalize::words;

/// English function words left out of the answer before checking support: they occur in every
/// context and would make any answer look supported. (Articles are already removed by normalization;
/// apostrophes are removed too, hence `dont`, `isnt`, ….)
pub const STOPWORDS: &[&str] = &[
    "i", "me", "my", "we", "our", "you", "your", "he", "him", "his", "she", "her", "it", "its",
    "they", "them", "their", "this", "that", "these", "those", "what", "which", "who", "whom",
    "whose", "when", "where", "why", "how", "am", "is", "are", "was", "were", "be", "been",
    "being", "have", "has", "had", "having", "do", "does", "did", "doing", "dont", "doesnt",
    "didnt", "isnt", "arent", "wasnt", "and", "but", "if", "or", "because", "as", "until", "while",
    "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during",
    "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off",
    "over", "under", "again", "further", "then", "once", "here", "there", "all", "any", "both",
    "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own",
    "same", "so", "than", "too", "very", "can", "will", "just", "should", "would", "could", "also",
    "s", "t",
];

/// The answer's content tokens: normalized tokens minus [`STOPWORDS`], duplicates kept.
pub fn content_tokens(answer: &str) -> Vec<String> {
    let stop: HashSet<&str> = STOPWORDS.iter().copied().collect();
    words(answer)
        .into_iter()
        .filter(|t| !stop.contains(t.as_str()))
        .collect()
}

/// Share of the answer's content tokens that occur among the context's normalized tokens.
///
/// `None` when the answer has no content word (an abstention, a bare "yes"): there is no claim to
/// support, and 1.0 would reward saying nothing. The caller then writes no faithfulness row.
pub fn faithfulness(answer: &str, context: &str) -> Option<f64> {
    let content = content_tokens(answer);
    if content.is_empty() {
        return None;
    }
    let ctx: HashSet<String> = words(context).into_iter().collect();
    let found = content.iter().filter(|t| ctx.contains(*t)).count();
    Some(found as f64 / content.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_of_content_words() {
        let ctx = "The Broncos defeated the Panthers in Santa Clara.";
        // content tokens [broncos, won] -> 1 of 2 found.
        assert_eq!(faithfulness("The Broncos won.", ctx), Some(0.5));
        // content tokens [panthers, santa, clara] all found; "were", "in" are stopwords.
        assert_eq!(faithfulness("Panthers were in Santa Clara", ctx), Some(1.0));
        assert_eq!(faithfulness("Seattle Seahawks", ctx), Some(0.0));
        assert_eq!(faithfulness("No.", ctx), None);
        // [i, dont, know] -> content [know], absent; abstentions are skipped one level up.
        assert_eq!(faithfulness("I don't know.", ctx), Some(0.0));
    }
}
