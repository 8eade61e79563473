//! Loudness normalisation (spec §10.6): the factor from the file header's ReplayGain-style values
//! and a feed-forward soft-knee limiter for the dynamic method. Used by the player on its decode
//! thread, between decoding and volume; pure computation with no allocation per call and no
//! dependency on the network, the device or the player.
//!
//! Limiter after Giannoulis, Massberg & Reiss, "Digital Dynamic Range Compressor Design — A
//! Tutorial and Analysis" (JAES 2012), as librespot does it, except that the level detector is
//! coupled: one gain per stereo frame from the louder channel, so the stereo image never shifts.

use crate::audio::header::NormalisationData;
use crate::audio::pcm::{CHANNELS, SAMPLE_RATE};

/// Basic only scales (and never above unity); Dynamic scales and then limits peaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormalisationMethod {
    Basic,
    #[default]
    Dynamic,
}

/// Which of the header's two gains to use. Auto: album gain when playing an album in order,
/// track gain otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormalisationKind {
    #[default]
    Auto,
    Track,
    Album,
}

/// Normalisation settings (defaults as librespot's `playback/src/config.rs`: off, dynamic, auto,
/// pregain 0 dB, threshold −2 dBFS, knee 5 dB, attack 5 ms, release 100 ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalisationConfig {
    pub enabled: bool,
    pub method: NormalisationMethod,
    pub kind: NormalisationKind,
    pub pregain_db: f32,
    pub threshold_dbfs: f32,
    pub knee_db: f32,
    pub attack_ms: f32,
    pub release_ms: f32,
}

impl Default for NormalisationConfig {
    fn default() -> Self {
        NormalisationConfig {
            enabled: false,
            method: NormalisationMethod::Dynamic,
            kind: NormalisationKind::Auto,
            pregain_db: 0.0,
            threshold_dbfs: -2.0,
            knee_db: 5.0,
            attack_ms: 5.0,
            release_ms: 100.0,
        }
    }
}

/// `10^(db/20)`.
pub fn db_to_ratio(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// `20·log10(ratio)`.
pub fn ratio_to_db(ratio: f64) -> f64 {
    20.0 * ratio.log10()
}

/// The linear factor to multiply samples by before the limiter (§10.6). 1.0 when normalisation
/// is disabled. Basic: `min(10^((gain+pregain)/20), 1/peak)` capped at 1.0. Dynamic:
/// `10^((gain+pregain)/20)` (the limiter catches the peaks). Nonsense values (non-finite gain,
/// peak ≤ 0) fall back to the defaults (gain 0 dB, peak 1.0); the result is always finite.
pub fn factor(data: &NormalisationData, cfg: &NormalisationConfig, album_context: bool) -> f32 {
    if !cfg.enabled {
        return 1.0;
    }
    let use_album = match cfg.kind {
        NormalisationKind::Album => true,
        NormalisationKind::Track => false,
        NormalisationKind::Auto => album_context,
    };
    let (gain_db, peak) = if use_album {
        (data.album_gain_db, data.album_peak)
    } else {
        (data.track_gain_db, data.track_peak)
    };
    let gain_db = if gain_db.is_finite() { gain_db } else { 0.0 };
    let peak = if peak.is_finite() && peak > 0.0 {
        peak
    } else {
        1.0
    };
    let pregain = if cfg.pregain_db.is_finite() {
        cfg.pregain_db
    } else {
        0.0
    };
    let ratio = db_to_ratio(f64::from(gain_db) + f64::from(pregain));
    let f = match cfg.method {
        NormalisationMethod::Basic => ratio.min(1.0 / f64::from(peak)).min(1.0),
        NormalisationMethod::Dynamic => ratio,
    };
    if f.is_finite() && f >= 0.0 {
        f as f32
    } else {
        1.0
    }
}

/// Feed-forward soft-knee peak limiter on interleaved stereo `f32`, in place.
///
/// Per frame: level = max |sample| over the channels, in dBFS; the static curve gives the gain
/// reduction (0 below the knee, `(2·(x−T) + W)² / (8W)` inside it, `x − T` above); a smooth
/// decoupled peak detector (instant rise then release, followed by attack smoothing) turns it
/// into the applied reduction. State is kept between calls, so blocks may be any size; call
/// [`Limiter::reset`] on seek or a new track.
#[derive(Debug, Clone)]
pub struct Limiter {
    threshold_db: f64,
    knee_db: f64,
    attack_cf: f64,
    release_cf: f64,
    integrator: f64,
    peak: f64,
}

impl Limiter {
    pub fn new(cfg: &NormalisationConfig) -> Limiter {
        let coeff = |ms: f32| {
            let samples = f64::from(ms) / 1000.0 * f64::from(SAMPLE_RATE);
            if samples.is_finite() && samples > 0.0 {
                (-1.0 / samples).exp()
            } else {
                0.0 // instantaneous
            }
        };
        let knee = f64::from(cfg.knee_db);
        let threshold = f64::from(cfg.threshold_dbfs);
        Limiter {
            threshold_db: if threshold.is_finite() {
                threshold
            } else {
                -2.0
            },
            knee_db: if knee.is_finite() && knee >= 0.0 {
                knee
            } else {
                5.0
            },
            attack_cf: coeff(cfg.attack_ms),
            release_cf: coeff(cfg.release_ms),
            integrator: 0.0,
            peak: 0.0,
        }
    }

    /// Forgets the detector state (no reduction in progress).
    pub fn reset(&mut self) {
        self.integrator = 0.0;
        self.peak = 0.0;
    }

    /// The reduction currently applied, in dB (≥ 0).
    pub fn gain_reduction_db(&self) -> f64 {
        self.peak
    }

    /// The static curve: how many dB a frame at `level_db` must be reduced by.
    pub fn static_reduction_db(&self, level_db: f64) -> f64 {
        let bias = level_db - self.threshold_db;
        let knee_boundary = 2.0 * bias;
        if knee_boundary < -self.knee_db {
            0.0
        } else if knee_boundary.abs() <= self.knee_db {
            if self.knee_db == 0.0 {
                bias.max(0.0)
            } else {
                (knee_boundary + self.knee_db).powi(2) / (8.0 * self.knee_db)
            }
        } else {
            bias
        }
    }

    /// Multiplies `samples` (interleaved stereo) by `factor`, then limits them in place.
    pub fn process(&mut self, samples: &mut [f32], factor: f32) {
        for frame in samples.chunks_mut(CHANNELS) {
            let mut level = 0f32;
            for s in frame.iter_mut() {
                *s *= factor;
                level = level.max(s.abs());
            }
            // Exact silence (log of 0) and NaN/inf never drive the detector.
            let target = if level.is_normal() {
                self.static_reduction_db(ratio_to_db(f64::from(level)))
            } else {
                0.0
            };
            if self.peak <= 0.0 && self.integrator <= 0.0 && target <= 0.0 {
                continue;
            }
            self.integrator =
                target.max(self.release_cf * self.integrator + (1.0 - self.release_cf) * target);
            self.peak = self.attack_cf * self.peak + (1.0 - self.attack_cf) * self.integrator;
            if self.peak < 1e-9 && self.integrator < 1e-9 {
                self.peak = 0.0;
                self.integrator = 0.0;
                continue;
            }
            let g = db_to_ratio(-self.peak) as f32;
            for s in frame.iter_mut() {
                *s *= g;
            }
        }
    }
}

/// What the player runs per block: the factor for the current track and, for the dynamic
/// method, the limiter. Disabled normalisation leaves samples untouched.
#[derive(Debug, Clone)]
pub struct Normaliser {
    factor: f32,
    limiter: Option<Limiter>,
}

impl Normaliser {
    pub fn new(cfg: &NormalisationConfig) -> Normaliser {
        Normaliser {
            factor: 1.0,
            limiter: (cfg.enabled && cfg.method == NormalisationMethod::Dynamic)
                .then(|| Limiter::new(cfg)),
        }
    }

    /// Sets the factor for a new track (see [`factor`]); the limiter keeps its state so a
    /// gapless transition does not click.
    pub fn set_factor(&mut self, factor: f32) {
        self.factor = factor;
    }

    pub fn factor(&self) -> f32 {
        self.factor
    }

    /// Forget the limiter's state (after a seek).
    pub fn reset(&mut self) {
        if let Some(l) = &mut self.limiter {
            l.reset();
        }
    }

    pub fn process(&mut self, samples: &mut [f32]) {
        match &mut self.limiter {
            Some(l) => l.process(samples, self.factor),
            None => {
                if self.factor != 1.0 {
                    for s in samples {
                        *s *= self.factor;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(tg: f32, tp: f32, ag: f32, ap: f32) -> NormalisationData {
        NormalisationData {
            track_gain_db: tg,
            track_peak: tp,
            album_gain_db: ag,
            album_peak: ap,
        }
    }

    fn on(method: NormalisationMethod, kind: NormalisationKind) -> NormalisationConfig {
        NormalisationConfig {
            enabled: true,
            method,
            kind,
            ..NormalisationConfig::default()
        }
    }

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn disabled_is_unity() {
        let d = data(-6.0, 0.5, -3.0, 0.9);
        assert_eq!(factor(&d, &NormalisationConfig::default(), false), 1.0);
    }

    #[test]
    fn basic_factor() {
        use NormalisationKind::*;
        use NormalisationMethod::Basic;
        // gain −3 dB, peak 0.5: min(10^(−3/20), 1/0.5) = min(0.707946, 2.0) = 0.707946.
        let d = data(-3.0, 0.5, 0.5, 1.2);
        assert!(close(factor(&d, &on(Basic, Track), true), 0.707_946, 1e-5));
        // album: gain +0.5 dB, peak 1.2: min(10^(0.5/20) = 1.059254, 1/1.2 = 0.833333) = 0.833333.
        assert!(close(factor(&d, &on(Basic, Album), false), 0.833_333, 1e-5));
        // Auto picks album in album context, track otherwise.
        assert!(close(factor(&d, &on(Basic, Auto), true), 0.833_333, 1e-5));
        assert!(close(factor(&d, &on(Basic, Auto), false), 0.707_946, 1e-5));
        // gain +3 dB, peak 0.5: min(1.412538, 2.0) = 1.412538, capped at 1.0.
        let d = data(3.0, 0.5, 0.0, 1.0);
        assert_eq!(factor(&d, &on(Basic, Track), false), 1.0);
        // pregain +2 dB on gain −5 dB: 10^(−3/20) = 0.707946 (peak 0.1 → 10, not binding).
        let mut cfg = on(Basic, Track);
        cfg.pregain_db = 2.0;
        let d = data(-5.0, 0.1, 0.0, 1.0);
        assert!(close(factor(&d, &cfg, false), 0.707_946, 1e-5));
    }

    #[test]
    fn dynamic_factor_is_uncapped() {
        use NormalisationKind::*;
        use NormalisationMethod::Dynamic;
        // gain +3 dB, peak 0.9: 10^(3/20) = 1.412538 (peak ignored, the limiter handles it).
        let d = data(3.0, 0.9, -1.0, 1.0);
        assert!(close(
            factor(&d, &on(Dynamic, Track), false),
            1.412_538,
            1e-5
        ));
        // album −1 dB: 10^(−1/20) = 0.891251.
        assert!(close(
            factor(&d, &on(Dynamic, Album), false),
            0.891_251,
            1e-5
        ));
    }

    #[test]
    fn nonsense_values_fall_back() {
        use NormalisationKind::*;
        use NormalisationMethod::*;
        let d = data(f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1.0);
        assert_eq!(factor(&d, &on(Basic, Track), false), 1.0);
        assert_eq!(factor(&d, &on(Dynamic, Album), false), 1.0);
        let d = data(1e30, 0.0, 0.0, 1.0);
        let f = factor(&d, &on(Dynamic, Track), false);
        assert!(f.is_finite() || f == 1.0);
        assert_eq!(factor(&d, &on(Basic, Track), false), 1.0);
    }

    #[test]
    fn static_curve() {
        let l = Limiter::new(&NormalisationConfig::default());
        // T = −2, W = 5.
        // −10 dBFS: bias −8, 2·bias = −16 < −5 → 0.
        assert_eq!(l.static_reduction_db(-10.0), 0.0);
        // −4.5 dBFS: bias −2.5, 2·bias = −5 = −W → (−5 + 5)² / 40 = 0 (knee starts).
        assert_eq!(l.static_reduction_db(-4.5), 0.0);
        // 0 dBFS: bias 2, 2·bias = 4 ≤ 5 → (4 + 5)² / 40 = 81/40 = 2.025.
        assert!((l.static_reduction_db(0.0) - 2.025).abs() < 1e-12);
        // −2 dBFS (the threshold): bias 0 → (0 + 5)² / 40 = 0.625.
        assert!((l.static_reduction_db(-2.0) - 0.625).abs() < 1e-12);
        // +6 dBFS: bias 8, 16 > 5 → 8 (output pinned to the threshold).
        assert!((l.static_reduction_db(6.0) - 8.0).abs() < 1e-12);
        // Knee end +0.5 dBFS: bias 2.5, 2·bias = 5 = W → (5 + 5)² / 40 = 2.5 = bias, so the
        // knee meets the straight line x − T there (continuous).
        assert!((l.static_reduction_db(0.5) - 2.5).abs() < 1e-12);
        assert!((l.static_reduction_db(0.500_001) - 2.500_001).abs() < 1e-9);
    }

    #[test]
    fn quiet_signal_is_untouched() {
        let mut l = Limiter::new(&NormalisationConfig::default());
        // 0.3 ≈ −10.46 dBFS, below the knee (which starts at −4.5 dBFS): bit-exact pass-through.
        let mut s: Vec<f32> = (0..4410)
            .map(|i| if i % 4 < 2 { 0.3 } else { -0.3 })
            .collect();
        let orig = s.clone();
        l.process(&mut s, 1.0);
        assert_eq!(s, orig);
        assert_eq!(l.gain_reduction_db(), 0.0);
    }

    #[test]
    fn steady_state_full_scale() {
        let mut l = Limiter::new(&NormalisationConfig::default());
        // Constant 1.0 (0 dBFS) on both channels for 1 s. Static reduction 2.025 dB (above); the
        // detector settles on it, so the output is 10^(−2.025/20) = 0.792045.
        let mut s = vec![1.0f32; 2 * 44_100];
        l.process(&mut s, 1.0);
        let last = s[s.len() - 1];
        assert!((last - 0.792_045).abs() < 1e-4, "{last}");
        assert!((l.gain_reduction_db() - 2.025).abs() < 1e-3);
    }

    #[test]
    fn attack_time_constant() {
        let mut l = Limiter::new(&NormalisationConfig::default());
        // A step to +6 dBFS (≈1.995262): static reduction 8 dB at once (the integrator rises
        // instantly); the applied reduction follows p_n = 8·(1 − a^n), a = e^(−1/(0.005·44100))
        // = 0.995475. After n = 221 frames: 8·(1 − 0.995475^221) = 5.0636 dB, gain
        // 10^(−5.0636/20) = 0.558237, output 1.995262 × 0.558237 = 1.113830.
        let level = 10f32.powf(6.0 / 20.0);
        let mut s = vec![level; 2 * 221];
        l.process(&mut s, 1.0);
        assert!(
            (l.gain_reduction_db() - 5.0636).abs() < 1e-3,
            "{}",
            l.gain_reduction_db()
        );
        let last = s[s.len() - 1];
        assert!((last - 1.113_83).abs() < 1e-3, "{last}");
        // Both channels got the same gain (coupled).
        assert_eq!(s[s.len() - 1], s[s.len() - 2]);
    }

    #[test]
    fn release_time_constant() {
        let mut l = Limiter::new(&NormalisationConfig::default());
        // Settle at 8 dB reduction (+6 dBFS for 1 s), then feed exact silence for 4410 frames
        // (100 ms). The integrator decays as 8·r^k, r = e^(−1/(0.1·44100)) = 0.99977327, and the
        // peak follows with the attack coefficient a: p_n = 8·[a^n + (1−a)·r·(r^n − a^n)/(r − a)]
        // = 3.09758 dB after n = 4410.
        let level = 10f32.powf(6.0 / 20.0);
        let mut s = vec![level; 2 * 44_100];
        l.process(&mut s, 1.0);
        assert!((l.gain_reduction_db() - 8.0).abs() < 1e-6);
        let mut z = vec![0.0f32; 2 * 4410];
        l.process(&mut z, 1.0);
        assert!(
            (l.gain_reduction_db() - 3.097_58).abs() < 1e-3,
            "{}",
            l.gain_reduction_db()
        );
        // After 2 more seconds the limiter has let go completely.
        let mut z = vec![0.0f32; 2 * 88_200];
        l.process(&mut z, 1.0);
        assert!(l.gain_reduction_db() < 1e-6);
    }

    #[test]
    fn coupled_detector_uses_the_louder_channel() {
        let mut l = Limiter::new(&NormalisationConfig::default());
        // Left at 0 dBFS, right at −20 dBFS (0.1): both get the 2.025 dB reduction, so the ratio
        // between the channels is kept: right = 0.1 × 0.792045 = 0.0792045.
        let mut s: Vec<f32> = (0..2 * 44_100)
            .map(|i| if i % 2 == 0 { 1.0 } else { 0.1 })
            .collect();
        l.process(&mut s, 1.0);
        let n = s.len();
        assert!((s[n - 2] - 0.792_045).abs() < 1e-4);
        assert!((s[n - 1] - 0.079_204_5).abs() < 1e-5);
    }

    #[test]
    fn block_size_does_not_matter_and_nan_is_harmless() {
        let cfg = NormalisationConfig::default();
        let signal: Vec<f32> = (0..20_000)
            .map(|i| 1.5 * ((i as f32) * 0.01).sin())
            .collect();
        let mut a = signal.clone();
        Limiter::new(&cfg).process(&mut a, 1.0);
        let mut b = signal.clone();
        let mut l = Limiter::new(&cfg);
        for chunk in b.chunks_mut(2 * 37) {
            l.process(chunk, 1.0);
        }
        assert_eq!(a, b);
        let mut c = vec![f32::NAN, f32::INFINITY, 0.5, -0.5];
        l.process(&mut c, 2.0);
        assert!(l.gain_reduction_db().is_finite());
    }

    #[test]
    fn normaliser_paths() {
        let mut cfg = on(NormalisationMethod::Basic, NormalisationKind::Track);
        let mut n = Normaliser::new(&cfg);
        n.set_factor(0.5);
        let mut s = [1.0f32, -1.0];
        n.process(&mut s);
        assert_eq!(s, [0.5, -0.5]);
        cfg.enabled = false;
        let mut n = Normaliser::new(&cfg);
        let mut s = [1.0f32, -1.0];
        n.process(&mut s);
        assert_eq!(s, [1.0, -1.0]);
        cfg.enabled = true;
        cfg.method = NormalisationMethod::Dynamic;
        let mut n = Normaliser::new(&cfg);
        n.set_factor(2.0);
        let mut s = vec![1.0f32; 2 * 44_100];
        n.process(&mut s);
        // 2.0 = +6.02 dBFS → reduced to about the threshold region (< 1.0).
        assert!(s[s.len() - 1] < 0.85);
        n.reset();
    }
}
