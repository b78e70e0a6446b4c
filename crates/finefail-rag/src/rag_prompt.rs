//! The RAG prompt every arm is evaluated with: a system line telling the model to answer from the
//! context and to say exactly "I don't know." when the context does not say (and, for a label
//! question, which labels it may answer with), the top-k chunks numbered, then the question. The question is never trimmed; chunks are, when the prompt would
//! not fit the model's window.

use finefail_data::{AnswerType, LabelSet};
use finefail_model::chat::ChatMessage;

/// The system line of the RAG prompt (retrieved or gold context).
pub const SYSTEM_WITH_CONTEXT: &str =
    "Answer the question using only the numbered context passages. \
Be brief. If the context does not contain the answer, reply exactly: I don't know.";

/// The system line of the closed-book prompt (`@none` arms): what the model knows by itself.
pub const SYSTEM_CLOSED_BOOK: &str =
    "Answer the question. Be brief. If you do not know the answer, reply exactly: I don't know.";

/// Appended to the system line of a label question, `{labels}` replaced by the dataset's label
/// set ([`label_instruction`]): every arm, base and fine-tuned, is told the labels, so a fine-tuned
/// arm cannot win on answer format alone (the base model otherwise answers in prose, which a
/// label metric reads as wrong).
pub const LABEL_INSTRUCTION_TEMPLATE: &str = " Start the answer with one word: {labels}.";

/// The label instruction for a dataset's label set: ` Start the answer with one word: yes, no or
/// maybe.` (PubMedQA), `... yes or no.` (BoolQ).
pub fn label_instruction(labels: LabelSet) -> String {
    LABEL_INSTRUCTION_TEMPLATE.replace("{labels}", &labels.phrase())
}

/// What a prompt tells the model about the answer's form: nothing for free text and spans, the
/// dataset's labels for a label question. Built per question from its answer type and its
/// dataset's [`LabelSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerForm {
    /// Free text or a span: the system line alone.
    Text,
    /// One of these labels: the system line plus [`label_instruction`].
    Label(LabelSet),
}

impl AnswerForm {
    /// The form of a question of `answer_type` in a dataset whose label set is `labels`.
    pub fn of(answer_type: AnswerType, labels: LabelSet) -> Self {
        match answer_type {
            AnswerType::Label => Self::Label(labels),
            AnswerType::Free | AnswerType::Span => Self::Text,
        }
    }
}

/// The conversation for one question: system line, then a user turn with the numbered chunks (none
/// for closed book) and the question. Label questions get [`label_instruction`].
pub fn rag_messages(question: &str, chunks: &[String], form: AnswerForm) -> Vec<ChatMessage> {
    let system = |line: &str| {
        let mut s = line.to_owned();
        if let AnswerForm::Label(labels) = form {
            s.push_str(&label_instruction(labels));
        }
        ChatMessage::new("system", s)
    };
    if chunks.is_empty() {
        return vec![
            system(SYSTEM_CLOSED_BOOK),
            ChatMessage::new("user", question),
        ];
    }
    let mut user = String::from("Context:\n");
    for (i, c) in chunks.iter().enumerate() {
        user.push_str(&format!("[{}] {}\n\n", i + 1, c.trim()));
    }
    user.push_str("Question: ");
    user.push_str(question);
    vec![system(SYSTEM_WITH_CONTEXT), ChatMessage::new("user", user)]
}

/// The prompt of one question fitted to `budget` tokens: [`rag_messages`] with the chunks shortened
/// by [`fit_chunks`]. The one fitting function of evaluation (budget: the window less the answer
/// room) and of `rag`-format training (budget: `max_seq_len` less the answer), so that a training
/// prompt is the evaluation prompt whenever their budgets allow the same chunks.
pub fn fitted_messages(
    question: &str,
    form: AnswerForm,
    chunks: &[String],
    budget: usize,
    count: &dyn Fn(&[ChatMessage]) -> usize,
) -> Vec<ChatMessage> {
    let fitted = fit_chunks(question, form, chunks, budget, count);
    rag_messages(question, &fitted, form)
}

/// Shortens the chunks until `count(messages)` fits `budget` tokens: the last non-empty chunk loses
/// a quarter of its characters (at least 16) per round, so earlier (higher-ranked) chunks are kept
/// whole longest. The question is never touched. Returns the fitted chunks.
pub fn fit_chunks(
    question: &str,
    form: AnswerForm,
    chunks: &[String],
    budget: usize,
    count: &dyn Fn(&[ChatMessage]) -> usize,
) -> Vec<String> {
    let mut chunks: Vec<String> = chunks.to_vec();
    while count(&rag_messages(question, &chunks, form)) > budget {
        let Some(last) = chunks.iter().rposition(|c| !c.is_empty()) else {
            break;
        };
        let chars: Vec<char> = chunks[last].chars().collect();
        let keep = chars.len().saturating_sub((chars.len() / 4).max(16));
        chunks[last] = chars[..keep].iter().collect();
        if chunks[last].trim().is_empty() {
            chunks[last].clear();
        }
    }
    chunks.retain(|c| !c.is_empty());
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_numbered_and_the_question_comes_last() {
        let m = rag_messages("Who?", &["alpha".into(), "beta".into()], AnswerForm::Text);
        assert_eq!(m[0].content, SYSTEM_WITH_CONTEXT);
        assert_eq!(
            m[1].content,
            "Context:\n[1] alpha\n\n[2] beta\n\nQuestion: Who?"
        );
        assert_eq!(
            rag_messages("Who?", &[], AnswerForm::Text)[0].content,
            SYSTEM_CLOSED_BOOK
        );
    }

    #[test]
    fn label_questions_are_told_their_dataset_s_labels_in_every_context() {
        for chunks in [vec![], vec!["alpha".to_string()]] {
            let form = AnswerForm::of(AnswerType::Label, LabelSet::YesNoMaybe);
            let m = rag_messages("Does it?", &chunks, form);
            assert!(
                m[0].content
                    .ends_with(" Start the answer with one word: yes, no or maybe."),
                "{}",
                m[0].content
            );
            let form = AnswerForm::of(AnswerType::Label, LabelSet::YesNo);
            let m = rag_messages("Does it?", &chunks, form);
            assert!(
                m[0].content
                    .ends_with(" Start the answer with one word: yes or no."),
                "{}",
                m[0].content
            );
            assert!(!m[0].content.contains("maybe"));
        }
        // Free and span questions are never told labels, whatever the dataset's set.
        for t in [AnswerType::Free, AnswerType::Span] {
            assert_eq!(AnswerForm::of(t, LabelSet::YesNoMaybe), AnswerForm::Text);
        }
    }

    #[test]
    fn trimming_cuts_the_lowest_ranked_chunk_first_and_keeps_the_question() {
        let count = |m: &[ChatMessage]| m.iter().map(|x| x.content.len()).sum::<usize>();
        let question = "What is the long question that must survive?";
        let chunks = vec!["a".repeat(200), "b".repeat(200)];
        // Room for the first chunk whole and about half of the second.
        let budget = count(&rag_messages(question, &chunks[..1], AnswerForm::Text)) + 100;
        let fitted = fit_chunks(question, AnswerForm::Text, &chunks, budget, &count);
        assert_eq!(fitted[0], "a".repeat(200));
        assert!(
            fitted[1].len() < 200 && fitted[1].len() > 50,
            "{}",
            fitted[1].len()
        );
        let m = rag_messages(question, &fitted, AnswerForm::Text);
        assert!(count(&m) <= budget && m[1].content.ends_with(question));
        // A budget below the bare question drops every chunk but still asks the question.
        assert!(fit_chunks(question, AnswerForm::Text, &chunks, 10, &count).is_empty());
    }
}
