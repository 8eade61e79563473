//! The gain step between the decoder and the sink: normalisation (protocol spec §10.6, the
//! "basic" method) times software volume, applied to each chunk on the engine thread.
//!
//! These are the player's own small stand-ins so it does not wait for `audio::volume` and
//! `audio::normalise`; the spots the integrator swaps over are marked `// INTEGRATION:`.

use super::loader::NormalisationData;

/// The software volume curve: `0` is mute, otherwise a 60 dB logarithmic range,
/// `10^(−60 dB · (1 − v/65535) / 20)`; `65535` is exactly unity.
pub(super) fn volume_gain(volume: u16) -> f32 {
    // INTEGRATION: replace the body with `crate::audio::volume::gain(volume)`.
    match volume {
        0 => 0.0,
        u16::MAX => 1.0,
        v => {
            let db = -60.0 * (1.0 - f32::from(v) / 65535.0);
            10f32.powf(db / 20.0)
        }
    }
}

/// Normalisation settings taken from [`PlayerConfig`](super::PlayerConfig).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct NormalisationSettings {
    pub enabled: bool,
    pub pregain_db: f32,
}

/// The per-track normalisation factor, "basic" method on the track values:
/// `min(10^((gain + pregain)/20), 1/peak)`, capped at 1 (normalisation never boosts).
/// `1.0` when disabled or when the header values are nonsense (NaN, peak ≤ 0).
pub(super) fn normalisation_factor(
    data: &NormalisationData,
    settings: NormalisationSettings,
) -> f32 {
    // INTEGRATION: replace with `crate::audio::normalise::factor(data, &config)` (its
    // `NormalisationConfig` also picks track/album values and the basic/dynamic method; the
    // dynamic method's limiter then runs in `GainStage::process`).
    if !settings.enabled {
        return 1.0;
    }
    let gain = 10f32.powf((data.track_gain_db + settings.pregain_db) / 20.0);
    let peak_limit = if data.track_peak > 0.0 {
        1.0 / data.track_peak
    } else {
        1.0
    };
    let factor = gain.min(peak_limit).min(1.0);
    if factor.is_finite() && factor >= 0.0 {
        factor
    } else {
        1.0
    }
}

/// Multiplies every sample by `gain` (nothing to do at unity, so unity is bit-exact).
pub(super) fn apply_gain(samples: &mut [f32], gain: f32) {
    if gain == 1.0 {
        return;
    }
    for s in samples {
        *s *= gain;
    }
}

/// The stateful gain step of the output stream (stateful once a limiter lives here).
#[derive(Debug, Default)]
pub(super) struct GainStage;

impl GainStage {
    /// Applies the track's normalisation factor and the volume gain to one chunk.
    pub fn process(&mut self, samples: &mut [f32], normalisation: f32, volume: f32) {
        // INTEGRATION: `audio::normalise` — with the dynamic method, run its `Limiter` over
        // `samples` here after the normalisation factor and before the volume (its state
        // lives in this struct so it spans track boundaries gaplessly).
        apply_gain(samples, normalisation * volume);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-5 * b.abs().max(1e-3)
    }

    #[test]
    fn volume_curve() {
        assert_eq!(volume_gain(0), 0.0);
        assert_eq!(volume_gain(65535), 1.0);
        // Half the range is −30 dB.
        let half = volume_gain(32768);
        assert!(close(
            half,
            10f32.powf(-60.0 * (1.0 - 32768.0 / 65535.0) / 20.0)
        ));
        assert!((0.031..0.032).contains(&half), "{half}");
        // The smallest non-zero volume is just above −60 dB.
        assert!((volume_gain(1) - 0.001).abs() < 1e-6);
        // Monotonic.
        let mut last = 0.0;
        for v in (0..=65535u32).step_by(257) {
            let g = volume_gain(v as u16);
            assert!(g >= last);
            last = g;
        }
    }

    #[test]
    fn normalisation_basic() {
        let on = NormalisationSettings {
            enabled: true,
            pregain_db: 0.0,
        };
        let off = NormalisationSettings {
            enabled: false,
            pregain_db: 0.0,
        };
        let data = NormalisationData {
            track_gain_db: -6.0,
            track_peak: 0.5,
            ..Default::default()
        };
        assert_eq!(normalisation_factor(&data, off), 1.0);
        assert!(close(normalisation_factor(&data, on), 10f32.powf(-0.3)));
        // A positive gain is limited by the peak, then capped at 1.
        let loud_peak = NormalisationData {
            track_gain_db: 6.0,
            track_peak: 1.6,
            ..Default::default()
        };
        assert!(close(normalisation_factor(&loud_peak, on), 1.0 / 1.6));
        let quiet = NormalisationData {
            track_gain_db: 6.0,
            track_peak: 0.2,
            ..Default::default()
        };
        assert_eq!(normalisation_factor(&quiet, on), 1.0);
        // Pregain adds to the gain.
        let pre = NormalisationSettings {
            enabled: true,
            pregain_db: -3.0,
        };
        assert!(close(normalisation_factor(&data, pre), 10f32.powf(-0.45)));
        // Nonsense header values don't produce nonsense gain.
        let bad = NormalisationData {
            track_gain_db: f32::NAN,
            track_peak: 0.0,
            ..Default::default()
        };
        assert_eq!(normalisation_factor(&bad, on), 1.0);
    }

    #[test]
    fn apply_gain_scales_and_unity_is_exact() {
        let mut s = vec![0.25, -0.5, 1.0 / 3.0];
        let orig = s.clone();
        apply_gain(&mut s, 1.0);
        assert_eq!(s, orig);
        apply_gain(&mut s, 0.5);
        assert_eq!(s, vec![0.125, -0.25, 1.0 / 6.0]);
        apply_gain(&mut s, 0.0);
        assert!(s.iter().all(|&x| x == 0.0));
    }
}
