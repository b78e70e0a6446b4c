//! Number formatting for the report: three decimals, p values in scientific notation when tiny,
//! more digits where three would contradict a verdict, a dash for numbers that do not exist. One place, so report.md, report.html and the tests agree.

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

/// A p value printed beside a verdict at level `alpha`: as [`p_value`], with more decimals where
/// three would put it on the other side of alpha (0.0496 prints `0.0496`, not `0.050`, beside
/// `helps`; 0.0504 prints `0.0504`).
pub fn p_value_at(p: Option<f64>, alpha: f64) -> String {
    let Some(x) = p.filter(|x| x.is_finite() && *x >= 0.001) else {
        return p_value(p);
    };
    for decimals in 3..=9 {
        let s = format!("{x:.decimals$}");
        let printed: f64 = s.parse().unwrap_or(x);
        if (printed < alpha) == (x < alpha) && (printed != alpha || x == alpha) {
            return s;
        }
    }
    format!("{x:e}")
}

/// A CI bound: signed with three decimals, more where three would print `0.000` or put a bound on
/// the other side of 0 than it is (a CI that excludes 0 must read so).
pub fn bound(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return signed(x);
    }
    for decimals in 3..=9 {
        let s = format!("{:+.decimals$}", x);
        let printed: f64 = s.parse().unwrap_or(x);
        if printed != 0.0 {
            return s;
        }
    }
    format!("{x:+e}")
}

/// An interval `[low, high]` (bounds as [`bound`] prints them), or the missing mark when either
/// end is absent.
pub fn interval(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(l), Some(h)) => format!("[{}, {}]", bound(l), bound(h)),
        _ => MISSING.to_owned(),
    }
}

/// The CI column's header for a level such as 0.95: `95 % CI`.
pub fn ci_header(level: f64) -> String {
    let pct = 100.0 * level;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("{} % CI", pct.round())
    } else {
        format!("{pct} % CI")
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

    #[test]
    fn p_near_alpha_never_contradicts_the_verdict() {
        assert_eq!(p_value_at(Some(0.0496), 0.05), "0.0496");
        assert_eq!(p_value_at(Some(0.0504), 0.05), "0.0504");
        assert_eq!(p_value_at(Some(0.04999), 0.05), "0.04999");
        assert_eq!(p_value_at(Some(0.05), 0.05), "0.050");
        assert_eq!(p_value_at(Some(0.0312), 0.05), "0.031");
        assert_eq!(p_value_at(Some(0.0004), 0.05), "4.0e-4");
        assert_eq!(p_value_at(Some(0.0096), 0.01), "0.0096");
    }

    #[test]
    fn bounds_near_zero_keep_their_sign() {
        assert_eq!(bound(0.0004), "+0.0004");
        assert_eq!(bound(-0.00004), "-0.00004");
        assert_eq!(bound(0.0125), "+0.013");
        assert_eq!(bound(0.0), "0.000");
        assert_eq!(interval(Some(0.0002), Some(0.3)), "[+0.0002, +0.300]");
        assert_eq!(ci_header(0.95), "95 % CI");
        assert_eq!(ci_header(0.99), "99 % CI");
        assert_eq!(ci_header(0.975), "97.5 % CI");
    }
}
