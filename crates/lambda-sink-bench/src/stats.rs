//! One measurement's figures ([`Sample`]) and the statistics over
//! repeated ones (median, percentile).

use std::collections::BTreeMap;

/// One measurement: named figures.
pub type Sample = BTreeMap<&'static str, f64>;

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (0–100) of `values` (nearest rank).
pub fn percentile<T: Copy + Ord + Into<i128>>(values: &[T], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * v.len() as f64).ceil().max(1.0) as usize;
    let value: i128 = v[rank.min(v.len()) - 1].into();
    value as f64
}

#[cfg(test)]
mod tests {
    use super::{median, percentile};

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7u64], 99.0), 7.0);
        assert_eq!(percentile(&[-3i64, 5, -1], 50.0), -1.0);
    }
}
