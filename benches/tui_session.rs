//! TUI benchmarks (issue 5 §4), on the release binary in a tmux pane against a simulator that
//! runs in this bench process (so the client's CPU and memory are measured alone):
//!
//! * start → first full frame with a cached library: the runtime logs the time from process
//!   start to the first frame that shows the library when `TONEARM_BENCH_FIRST_FRAME` is set
//!   (the library comes from the cache on disk; the network is still connecting then);
//! * CPU (utime + stime from `/proc/<pid>/stat`) over 30 s while idle, while playing, and while
//!   paused, with the TUI open;
//! * RSS (`VmRSS`) while playing with a 10k-track library.
//!
//! Needs tmux (`make bench` installs it); prints why and exits otherwise.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tonearm_sim::{CatalogSpec, SimConfig, Simulator};

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
const LIBRARY_TRACKS: usize = 10_000;
const WINDOW: Duration = Duration::from_secs(30);
const STARTS: usize = 5;

struct Env {
    home: tempfile::TempDir,
    endpoint_args: Vec<String>,
}

impl Env {
    fn envs(&self) -> Vec<(String, PathBuf)> {
        let p = self.home.path();
        vec![
            ("HOME".into(), p.to_path_buf()),
            ("XDG_CONFIG_HOME".into(), p.join("config")),
            ("XDG_CACHE_HOME".into(), p.join("cache")),
            ("XDG_STATE_HOME".into(), p.join("state")),
            ("TMPDIR".into(), p.join("tmp")),
        ]
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        for (k, v) in self.envs() {
            c.env(k, v);
        }
        c.env("TONEARM_CREDENTIAL_STORE", "file");
        c.args(&self.endpoint_args);
        c
    }

    /// The shell command line that runs the TUI with this environment.
    fn tui_line(&self, extra_env: &str) -> String {
        let mut line = String::from("exec env TONEARM_CREDENTIAL_STORE=file TERM=xterm-256color ");
        line.push_str(extra_env);
        for (k, v) in self.envs() {
            line.push_str(&format!(" {k}={}", v.display()));
        }
        line.push_str(&format!(" {BIN}"));
        for a in &self.endpoint_args {
            line.push_str(&format!(" '{a}'"));
        }
        line.push_str(" --sink null");
        line
    }

    fn log_path(&self) -> PathBuf {
        self.home.path().join("state/tonearm/tonearm.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        Tmux {
            socket: dir.join("tmux.sock"),
        }
    }
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn start(&self, line: &str) -> u32 {
        self.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            "120",
            "-y",
            "40",
            line,
        ]);
        self.run(&["display-message", "-p", "-t", "b", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid")
    }
    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "b"];
        a.extend_from_slice(keys);
        self.run(&a);
    }
    fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "b"])
    }
    fn kill(&self) {
        self.run(&["kill-server"]);
    }
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

fn cpu_percent(pid: u32, window: Duration) -> f64 {
    let c0 = cpu_seconds(pid);
    let t0 = Instant::now();
    std::thread::sleep(window);
    let c1 = cpu_seconds(pid);
    (c1 - c0) / t0.elapsed().as_secs_f64() * 100.0
}

/// The last "bench: first frame with the library" figure in the log.
fn library_frame_ms(log: &str) -> Option<f64> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("bench: first frame with the library"))?;
    let at = line.find("ms=")? + 3;
    line[at..].split_whitespace().next()?.parse().ok()
}

fn main() {
    if !Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        println!("tui_session: skipped, tmux is not installed (make bench installs it)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(async {
        Simulator::start(SimConfig {
            catalog: CatalogSpec::Synthetic {
                tracks: LIBRARY_TRACKS,
            },
            library_tracks: LIBRARY_TRACKS,
            ..SimConfig::default()
        })
        .await
        .unwrap()
    });
    let info = sim.info().clone();
    let account = info
        .accounts
        .iter()
        .find(|a| a.product == "premium")
        .unwrap()
        .clone();
    let env = Env {
        home: tempfile::tempdir().unwrap(),
        endpoint_args: vec![
            format!("--apresolve-url={}", info.apresolve),
            format!("--ap-key-modulus={}", info.ap_key.modulus),
            format!("--ap-key-exponent={}", info.ap_key.exponent),
            format!("--login5-url={}", info.login5),
            format!("--client-token-url={}", info.client_token),
            format!("--accounts-url={}", info.accounts_url),
            format!("--spclient-url={}", info.spclient),
            format!("--dealer-url={}", info.dealer),
            format!("--web-api-url={}", info.web_api),
        ],
    };
    for sub in ["config", "cache", "state", "tmp"] {
        std::fs::create_dir_all(env.home.path().join(sub)).unwrap();
    }

    // Sign in and fill the library cache with the CLI.
    let mut login = env
        .command()
        .args(["login", "--username", &account.username, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = login.stdin.take().unwrap();
        writeln!(stdin, "{}", account.password).unwrap();
    }
    assert!(login.wait().unwrap().success(), "login failed");
    let lib = env
        .command()
        .args(["library", "--refresh"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(lib.success(), "library failed");

    // Start → first frame with the cached library, a few times.
    let mut firsts = Vec::new();
    for _ in 0..STARTS {
        let tmux = Tmux::new(env.home.path());
        let before = env.log().len();
        tmux.start(&env.tui_line("TONEARM_BENCH_FIRST_FRAME=1"));
        wait_until("the first frame with the library", 60, || {
            library_frame_ms(&env.log()[before..]).is_some()
        });
        firsts.push(library_frame_ms(&env.log()[before..]).unwrap());
        tmux.keys(&["C-c"]);
        std::thread::sleep(Duration::from_millis(500));
        tmux.kill();
    }
    firsts.sort_by(f64::total_cmp);
    println!(
        "tui_session: start → first frame with a cached library ({LIBRARY_TRACKS} tracks): \
         median {:.1} ms (min {:.1}, max {:.1}; target ≤ 50 ms)",
        firsts[firsts.len() / 2],
        firsts[0],
        firsts[firsts.len() - 1]
    );

    // CPU idle, playing, paused; RSS while playing.
    let tmux = Tmux::new(env.home.path());
    let before = env.log().len();
    // `TUI_BENCH_ENV="MALLOC_ARENA_MAX=2"` and the like: A/B runs of the same measurement.
    let extra = std::env::var("TUI_BENCH_ENV").unwrap_or_default();
    let pid = tmux.start(&env.tui_line(&extra));
    wait_until("the library refresh", 120, || {
        env.log()[before..].contains("library refreshed")
    });
    std::thread::sleep(Duration::from_secs(2));
    let idle = cpu_percent(pid, WINDOW);
    println!("tui_session: CPU idle with the TUI open over 30 s: {idle:.2} % (target ~0)");

    // Play Liked Songs (the whole 10k-track list becomes the queue, so playback goes on for the
    // whole window): the library pane, next section, into the list, play.
    tmux.keys(&["1"]);
    tmux.keys(&["l"]);
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    let bar = |glyph: &str| {
        tmux.capture()
            .lines()
            .rev()
            .take(6)
            .any(|l| l.contains(glyph))
    };
    wait_until("playback", 60, || bar("▶"));
    std::thread::sleep(Duration::from_secs(2));
    let rss0 = rss_mb(pid);
    let playing = cpu_percent(pid, WINDOW);
    let rss = rss_mb(pid).max(rss0);
    println!("tui_session: CPU while playing over 30 s: {playing:.2} % (target ≤ 1 %)");
    println!(
        "tui_session: RSS while playing with a {LIBRARY_TRACKS}-track library: {rss:.1} MB \
         (target ≤ 30 MB)"
    );

    tmux.keys(&["Space"]);
    wait_until("pause", 30, || bar("⏸"));
    std::thread::sleep(Duration::from_secs(2));
    let paused = cpu_percent(pid, WINDOW);
    println!("tui_session: CPU paused with the TUI open over 30 s: {paused:.2} % (target ~0)");

    tmux.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(500));
    tmux.kill();
    rt.block_on(sim.shutdown());
}
