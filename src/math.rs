//! Small numeric helpers every layer may use (they depend on nothing else
//! in the crate): the argmax of a score row, and so on.

/// Index of the largest value (the first on ties; 0 for an empty slice).
///
/// ```
/// assert_eq!(hotflip::math::argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
/// ```
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
