//! The 17 Universal POS tags of Universal Dependencies v2
//! (<https://universaldependencies.org/u/pos/>).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A Universal Dependencies part-of-speech tag. The discriminants are the
/// tags' alphabetical order, which is also the class order of the tagger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Upos {
    /// adjective
    Adj,
    /// adposition
    Adp,
    /// adverb
    Adv,
    /// auxiliary
    Aux,
    /// coordinating conjunction
    Cconj,
    /// determiner
    Det,
    /// interjection
    Intj,
    /// noun
    Noun,
    /// numeral
    Num,
    /// particle
    Part,
    /// pronoun
    Pron,
    /// proper noun
    Propn,
    /// punctuation
    Punct,
    /// subordinating conjunction
    Sconj,
    /// symbol
    Sym,
    /// verb
    Verb,
    /// other
    X,
}

impl Upos {
    /// How many tags there are.
    pub const COUNT: usize = 17;

    /// Every tag, in class order (`ALL[t.index()] == t`).
    pub const ALL: [Upos; Upos::COUNT] = [
        Upos::Adj,
        Upos::Adp,
        Upos::Adv,
        Upos::Aux,
        Upos::Cconj,
        Upos::Det,
        Upos::Intj,
        Upos::Noun,
        Upos::Num,
        Upos::Part,
        Upos::Pron,
        Upos::Propn,
        Upos::Punct,
        Upos::Sconj,
        Upos::Sym,
        Upos::Verb,
        Upos::X,
    ];

    /// The class index, 0..17.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The tag with class index `i`, if `i < 17`.
    pub fn from_index(i: usize) -> Option<Upos> {
        Upos::ALL.get(i).copied()
    }

    /// The tag as CoNLL-U writes it (`NOUN`, `PROPN`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Upos::Adj => "ADJ",
            Upos::Adp => "ADP",
            Upos::Adv => "ADV",
            Upos::Aux => "AUX",
            Upos::Cconj => "CCONJ",
            Upos::Det => "DET",
            Upos::Intj => "INTJ",
            Upos::Noun => "NOUN",
            Upos::Num => "NUM",
            Upos::Part => "PART",
            Upos::Pron => "PRON",
            Upos::Propn => "PROPN",
            Upos::Punct => "PUNCT",
            Upos::Sconj => "SCONJ",
            Upos::Sym => "SYM",
            Upos::Verb => "VERB",
            Upos::X => "X",
        }
    }
}

impl fmt::Display for Upos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Upos {
    type Err = Error;

    /// Parses the exact upper-case UD spelling; anything else (including
    /// UD v1's `CONJ` and Penn tags) is an [`Error::UnknownUpos`], because a
    /// silently mapped tag would corrupt the tagger's training data.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Upos::ALL.iter().copied().find(|t| t.as_str() == s).ok_or_else(|| Error::UnknownUpos { tag: s.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_round_trips_through_its_name_and_index() {
        for (i, t) in Upos::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(Upos::from_index(i), Some(*t));
            assert_eq!(t.to_string().parse::<Upos>().unwrap(), *t);
        }
        assert_eq!(Upos::from_index(17), None);
        let names: Vec<&str> = Upos::ALL.iter().map(|t| t.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "class order is alphabetical");
    }

    #[test]
    fn unknown_and_miscased_tags_are_errors() {
        for bad in ["noun", "CONJ", "NN", "", "_"] {
            let err = bad.parse::<Upos>().unwrap_err();
            assert!(matches!(&err, Error::UnknownUpos { tag } if tag == bad), "{err}");
            assert!(err.to_string().contains("PROPN"), "{err}");
        }
    }
}
