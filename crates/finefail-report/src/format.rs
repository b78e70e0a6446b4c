//! Number formatting for the report: three decimals, p values in scientific notation when tiny,
//! a dash for numbers that do not exist. One place, so report.md, report.html and the tests agree.

/// What the report prints for a number that is absent (no CI with one question, no p for a
/// descriptive metric, no seed spread with one seed).
pub const MISSING: &str = "—";

/// A number with three decimals; `-0.000` prints as `0.000`.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_owned();
    }
    let s = format!("{x:.3}");
    if s == "-0.000" {
        "0.000".to_owned()
    } else {
        s
    }
}

/// A signed difference with three decimals (`+0.012`, `-0.034`, `0.000`).
pub fn signed(x: f64) -> String {
    let s = num(x);
    if x.is_finite() && !s.starts_with('-') && s != "0.000" {
        format!("+{s}")
    } else {
        s
    }
}

/// An optional number with three decimals.
pub fn opt_num(x: Option<f64>) -> String {
    x.map_or_else(|| MISSING.to_owned(), num)
}

/// A p value: three decimals from 0.001 up, scientific with two significant digits below
/// (`3.2e-5`), so a tiny p never prints as `0.000`.
pub fn p_value(p: Option<f64>) -> String {
    match p {
        None => MISSING.to_owned(),
        Some(p) if !p.is_finite() => MISSING.to_owned(),
        Some(0.0) => "0".to_owned(),
        // Rust writes `3.2e-5` (no zero-padded exponent).
        Some(p) if p < 0.001 => format!("{p:.1e}"),
        Some(p) => num(p),
    }
}

/// A 95 % interval `[low, high]`, or the missing mark when either end is absent.
pub fn interval(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(l), Some(h)) => format!("[{}, {}]", signed(l), signed(h)),
        _ => MISSING.to_owned(),
    }
}

/// A share as a percentage with one decimal (`41.7 %`).
pub fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1} %", 100.0 * x)
    } else {
        MISSING.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_hand() {
        assert_eq!(num(0.12345), "0.123");
        assert_eq!(num(-0.0004), "0.000");
        assert_eq!(signed(0.0125), "+0.013");
        assert_eq!(signed(-0.25), "-0.250");
        assert_eq!(signed(0.0), "0.000");
        assert_eq!(p_value(Some(0.0312)), "0.031");
        assert_eq!(p_value(Some(0.001)), "0.001");
        assert_eq!(p_value(Some(0.000_032_1)), "3.2e-5");
        assert_eq!(p_value(None), MISSING);
        assert_eq!(interval(Some(-0.1), Some(0.2)), "[-0.100, +0.200]");
        assert_eq!(interval(None, Some(0.2)), MISSING);
        assert_eq!(percent(0.41666), "41.7 %");
    }
}
