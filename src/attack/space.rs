//! What the search needs to know about one kind of edit: how documents are
//! read and batched, which edits are allowed, how gradients score them, and
//! how an applied edit is reported. Characters (`CharSpace`) and words
//! (`WordSpace`) implement it; the beam search in `search` is written once.

use std::fmt::Debug;
use std::hash::Hash;

use crate::attack::result::Change;
use crate::attack::settings::Settings;
use crate::error::Result;
use crate::models::Input;

/// One beam entry handed to a scorer.
pub struct ScoreEntry<'a, D> {
    /// The document as it stands after the edits so far.
    pub doc: &'a D,
    /// Which document (beam) it belongs to.
    pub group: usize,
    /// Sum of the first-order scores of the edits that led here.
    pub score: f32,
    /// False for entries whose document is finished: they may sit in the
    /// batch but must produce no children.
    pub active: bool,
}

/// A child: which entry, which edit, the edit's own first-order score and
/// the ranking key (parent score + edit score).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored<E> {
    /// Index into the `entries` slice given to [`Space::children`].
    pub entry: usize,
    /// The edit to apply to that entry's document.
    pub edit: E,
    /// First-order predicted increase of the attack's loss J from this edit
    /// alone, from the gradient at the parent.
    pub gain: f32,
    /// The parent's score plus `gain`: what children are ranked by.
    pub total: f32,
}

/// Per group, the children kept, best first.
pub type Children<E> = Vec<Vec<Scored<E>>>;

/// One kind of edit (characters or words) as the beam search sees it.
///
/// Implementations own every level-specific rule (parsing, constraints,
/// gradient scoring, reporting) so that the search, the baselines and the
/// results are written once. `Sync` because entries are scored in parallel.
pub trait Space: Sync {
    /// A document as the model reads it, plus whatever the constraints need
    /// (e.g. which words were already changed). `Eq + Hash` so the beam can
    /// drop duplicate documents reached by different edit orders.
    type Doc: Clone + Eq + Hash + Debug + Send + Sync;
    /// One edit of a document. `Ord` so that ties in score break the same
    /// way on every run.
    type Edit: Copy + Ord + Hash + Debug + Send + Sync;

    /// `char`, `word` or `unk`, as results name it.
    fn level(&self) -> &'static str;

    /// A text as the model reads it.
    fn parse(&self, text: &str) -> Self::Doc;

    /// Whether the model has anything to read.
    fn is_empty(&self, doc: &Self::Doc) -> bool;

    /// The batch the model takes for these documents. `children` receives
    /// gradients in this batch's layout.
    fn input(&self, docs: &[&Self::Doc]) -> Result<Input>;

    /// The document's length in the batch's padded dimension (words):
    /// documents of similar length are batched together.
    fn len(&self, doc: &Self::Doc) -> usize;

    /// Units the budget and the changed share count (characters or words).
    fn units(&self, doc: &Self::Doc) -> usize;

    /// The most edits the search may make to `doc`.
    fn max_changes(&self, doc: &Self::Doc, settings: &Settings) -> usize;

    /// The document after an edit, or `None` if it does not apply.
    fn apply(&self, doc: &Self::Doc, edit: &Self::Edit) -> Option<Self::Doc>;

    /// Every edit the constraints allow on `doc` (loss-ranked beam, random).
    fn edits(&self, doc: &Self::Doc) -> Vec<Self::Edit>;

    /// The best `keep` children per group, distinct as documents, from the
    /// gradient of the attack's loss with respect to the embedded `input(docs)`.
    fn children(
        &self,
        grads: &[f32],
        entries: &[ScoreEntry<'_, Self::Doc>],
        groups: usize,
        keep: usize,
    ) -> Result<Vec<Vec<Scored<Self::Edit>>>>;

    /// [`Space::children`] from gradients left on a device, scored there;
    /// `None` when this space scores on the host only (the caller then
    /// downloads them).
    fn children_on_device(
        &self,
        _grads: &crate::backend::Storage,
        _entries: &[ScoreEntry<'_, Self::Doc>],
        _groups: usize,
        _keep: usize,
    ) -> Option<Result<Children<Self::Edit>>> {
        None
    }

    /// How an edit of `before` is reported.
    fn change(&self, before: &Self::Doc, edit: &Self::Edit) -> Change;

    /// Characters an attack changed (one per character edit; a word edit
    /// counts the characters of the new word).
    fn chars_changed(&self, changes: &[Change]) -> usize {
        changes.len()
    }

    /// The adversarial text: the original with the path's edits, keeping
    /// everything the model does not read as written.
    fn render(&self, text: &str, orig: &Self::Doc, path: &[Self::Edit]) -> String;

    /// Non-space characters of the document.
    fn n_chars(&self, doc: &Self::Doc) -> usize;
}
