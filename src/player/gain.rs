//! The gain step between the decoder and the sink, on the engine thread: the track's
//! normalisation factor and, for the dynamic method, the limiter (`audio::normalise`, protocol
//! spec §10.6), then software volume (`audio::volume`). The limiter's state lives here so it
//! spans gapless track joints without clicks.

use super::loader::NormalisationData;
use crate::audio::normalise::{self, NormalisationConfig, Normaliser};

/// The software volume curve (`audio::volume::gain`): `0` is mute, otherwise a 60 dB
/// logarithmic range; `65535` is exactly unity.
pub(super) fn volume_gain(volume: u16) -> f32 {
    crate::audio::volume::gain(volume)
}

/// The per-track normalisation factor (`audio::normalise::factor`); `1.0` when disabled.
/// The player plays queues, not album contexts, so "auto" uses the track values.
pub(super) fn normalisation_factor(data: &NormalisationData, config: &NormalisationConfig) -> f32 {
    normalise::factor(data, config, false)
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

/// The stateful gain step of the output stream.
#[derive(Debug, Clone)]
pub(super) struct GainStage {
    normaliser: Normaliser,
}

impl GainStage {
    pub fn new(config: &NormalisationConfig) -> GainStage {
        GainStage {
            normaliser: Normaliser::new(config),
        }
    }

    /// Applies the track's normalisation factor (and limiter), then the volume gain, to one
    /// chunk. With normalisation off and full volume the samples are untouched (bit-exact).
    pub fn process(&mut self, samples: &mut [f32], normalisation: f32, volume: f32) {
        self.normaliser.set_factor(normalisation);
        self.normaliser.process(samples);
        apply_gain(samples, volume);
    }

    /// Forgets the limiter's state (after a seek or a cut, where the signal jumps).
    pub fn reset(&mut self) {
        self.normaliser.reset();
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
    fn gain_stage_applies_factor_limiter_and_volume() {
        use crate::audio::normalise::NormalisationMethod;
        let data = NormalisationData {
            track_gain_db: -6.0,
            track_peak: 0.5,
            ..Default::default()
        };
        // Off: untouched, bit-exact at full volume.
        let off = NormalisationConfig::default();
        assert_eq!(normalisation_factor(&data, &off), 1.0);
        let mut stage = GainStage::new(&off);
        let mut x = vec![0.25f32, -0.5, 0.125, 0.0];
        stage.process(&mut x, 1.0, volume_gain(u16::MAX));
        assert_eq!(x, vec![0.25, -0.5, 0.125, 0.0]);
        // Basic: the factor is min(10^(-6/20), 1/0.5) = 0.501187…, applied as a plain product.
        let basic = NormalisationConfig {
            enabled: true,
            method: NormalisationMethod::Basic,
            ..NormalisationConfig::default()
        };
        let f = normalisation_factor(&data, &basic);
        assert!(close(f, 0.501_187_2), "{f}");
        let mut stage = GainStage::new(&basic);
        let mut x = vec![0.5f32, -0.5];
        stage.process(&mut x, f, 0.5);
        assert!(
            close(x[0], 0.5 * f * 0.5) && close(x[1], -0.5 * f * 0.5),
            "{x:?}"
        );
        // Dynamic: a full-scale signal boosted by +6 dB is held down by the limiter.
        let dynamic = NormalisationConfig {
            enabled: true,
            ..NormalisationConfig::default()
        };
        let mut stage = GainStage::new(&dynamic);
        let mut loud = vec![1.0f32; 2 * 44_100];
        stage.process(&mut loud, 2.0, 1.0);
        let tail = &loud[loud.len() - 200..];
        assert!(tail.iter().all(|s| *s < 1.0), "limited: {}", tail[0]);
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
