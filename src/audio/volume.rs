//! Software volume: Spotify's `u16` volume (0..=65535) mapped onto a logarithmic gain with a
//! 60 dB range, applied to interleaved `f32` samples. Called by the player on its decode thread
//! after normalisation; pure functions, no allocation, no dependency on anything else.
//! [`from_percent`] and [`to_percent`] are the one conversion between the percentages people
//! type (`--volume 50`) or read and Spotify's scale.

/// The dynamic range the volume control spans: full volume is 0 dB, one step above mute is
/// about −60 dB.
pub const RANGE_DB: f32 = 60.0;

/// The largest Spotify volume.
pub const MAX: u16 = u16::MAX;

/// The linear gain for a Spotify volume: 0 is silence; otherwise
/// `10^(−60 dB × (1 − v/65535) / 20)`, so 65535 → 1.0 and each halving of the slider's distance
/// from the top is a fixed number of decibels.
pub fn gain(volume: u16) -> f32 {
    if volume == 0 {
        return 0.0;
    }
    let fraction = f64::from(volume) / f64::from(MAX);
    let db = -f64::from(RANGE_DB) * (1.0 - fraction);
    10f64.powf(db / 20.0) as f32
}

/// Spotify's volume for a percentage (values above 100 count as 100): `percent × 65535 / 100`,
/// rounded down, so 0 → 0, 50 → 32767, 100 → 65535.
pub fn from_percent(percent: u8) -> u16 {
    // At most 100 × 65535 / 100 = 65535: always fits.
    (u32::from(percent.min(100)) * u32::from(MAX) / 100) as u16
}

/// The nearest whole percentage of a Spotify volume; the inverse of [`from_percent`].
pub fn to_percent(volume: u16) -> u8 {
    // At most (65535 × 100 + 32767) / 65535 = 100: always fits.
    ((u32::from(volume) * 100 + u32::from(MAX) / 2) / u32::from(MAX)) as u8
}

/// Multiplies every sample by `gain` in place (a gain of exactly 1.0 leaves the samples as they
/// are, bit for bit).
pub fn apply(samples: &mut [f32], gain: f32) {
    if gain == 1.0 {
        return;
    }
    for s in samples {
        *s *= gain;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(gain(0), 0.0);
        assert_eq!(gain(MAX), 1.0);
        // One step above mute: 10^(−60 × (1 − 1/65535) / 20) ≈ 10^−3 = 0.001.
        assert!((gain(1) - 0.001).abs() < 1e-6, "{}", gain(1));
    }

    #[test]
    fn monotonic() {
        let mut last = gain(0);
        for v in (1..=MAX).step_by(7).chain([MAX]) {
            let g = gain(v);
            assert!(g >= last, "gain({v}) = {g} < {last}");
            assert!(g <= 1.0);
            last = g;
        }
    }

    #[test]
    fn minus_six_db_point() {
        // −6 dB: 60 × (1 − v/65535) = 6 → v = 65535 × 0.9 = 58981.5; gain 10^(−6/20) ≈ 0.50119.
        let g = gain(58_982);
        assert!((g - 0.501_19).abs() < 1e-3, "{g}");
        // Halfway on the slider is −30 dB: 10^(−1.5) ≈ 0.031623.
        let g = gain(32_768);
        assert!((g - 0.031_623).abs() < 1e-4, "{g}");
    }

    #[test]
    fn percent_scaling() {
        assert_eq!(from_percent(0), 0);
        assert_eq!(from_percent(50), 32_767);
        assert_eq!(from_percent(100), MAX);
        assert_eq!(from_percent(255), MAX, "clamped to 100 %");
        assert_eq!(to_percent(0), 0);
        assert_eq!(to_percent(MAX), 100);
        assert_eq!(to_percent(327), 0, "0.499 % rounds down");
        assert_eq!(to_percent(328), 1, "0.5005 % rounds up");
        for p in 0..=100u8 {
            assert_eq!(to_percent(from_percent(p)), p, "{p} %");
        }
    }

    #[test]
    fn apply_scales_and_unity_is_exact() {
        let mut s = [0.5f32, -0.25, 1.0, 0.0];
        apply(&mut s, 0.5);
        assert_eq!(s, [0.25, -0.125, 0.5, 0.0]);
        let mut t = [0.123_456_7f32, -0.987_654_3];
        apply(&mut t, gain(MAX));
        assert_eq!(t, [0.123_456_7f32, -0.987_654_3]);
        apply(&mut t, gain(0));
        assert_eq!(t, [0.0, -0.0]);
    }
}
