//! The `tonearm` binary as tests and benches run it: [`Home`] gives it a private HOME (the XDG
//! directories, TMPDIR and the credential file all inside a temporary directory, no Secret
//! Service, no inherited `TONEARM_*` settings), [`SimProcess`] runs `tonearm sim` as a child
//! process and reads the self-description it prints, and [`endpoint_args`] turns that
//! description into the command-line flags that point the client at it; [`SignedIn`] is a home
//! logged in to such a simulator (on this host or inside a test's network namespace);
//! [`Running`] is a child whose output lines a test waits for.
//!
//! The binary's path comes from the caller (`env!("CARGO_BIN_EXE_tonearm")` exists only in the
//! root package's tests and benches). Depends on std, serde_json and tempfile.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A temporary home for the binary: nothing of the real user's is read or written.
pub struct Home {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Home {
    /// A fresh home (its `config`, `cache`, `state`, `data`, `tmp` and `run` exist) for `bin`.
    pub fn new(bin: impl Into<PathBuf>) -> Home {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["config", "cache", "state", "data", "tmp", "run"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Home {
            dir,
            bin: bin.into(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The environment that confines the binary to this home (also for a tmux server).
    pub fn envs(&self) -> Vec<(&'static str, PathBuf)> {
        let p = self.path();
        vec![
            ("HOME", p.to_path_buf()),
            ("XDG_CONFIG_HOME", p.join("config")),
            ("XDG_CACHE_HOME", p.join("cache")),
            ("XDG_STATE_HOME", p.join("state")),
            ("XDG_DATA_HOME", p.join("data")),
            ("TMPDIR", p.join("tmp")),
            // The control socket goes here: never the real user's, never another test's.
            ("XDG_RUNTIME_DIR", p.join("run")),
            ("TONEARM_CREDENTIAL_STORE", "file".into()),
            // No Secret Service: the keyring must not be reached from a test.
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent".into()),
        ]
    }

    /// Variables of the test's own environment that would change what the binary does.
    pub const CLEARED: [&'static str; 3] = ["TONEARM_LOG", "TONEARM_SIM", "TONEARM_SIM_PASSWORD"];

    /// The binary with this home's environment.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.envs(self.envs());
        for k in Home::CLEARED {
            c.env_remove(k);
        }
        c
    }

    /// The binary with this home's environment, run inside the network namespace `ns`
    /// (`ip netns exec` keeps the environment).
    pub fn command_in(&self, ns: &crate::netns::Netns) -> Command {
        let mut c = ns.command(&self.bin);
        c.envs(self.envs());
        for k in Home::CLEARED {
            c.env_remove(k);
        }
        c
    }

    /// The binary's path.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The control API's socket (its default place under this home).
    pub fn control_socket(&self) -> PathBuf {
        self.path().join("run/tonearm/control.sock")
    }

    /// The binary's log file (its default place under this home).
    pub fn log_path(&self) -> PathBuf {
        self.path().join("state/tonearm/tonearm.log")
    }

    /// The log so far (empty when there is none).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// `tonearm sim` running as a child process; killed when dropped (also when a test fails).
pub struct SimProcess {
    child: Child,
    /// What it printed about itself (`SimInfo` as JSON: URLs, accounts, the AP key, …).
    pub info: Value,
}

impl SimProcess {
    /// Runs `command` (the binary with `sim` and its options) with stdout piped and waits for
    /// the first line, the simulator's self-description. `--listen 127.0.0.1` is added.
    pub fn spawn(command: Command) -> SimProcess {
        SimProcess::spawn_on(command, std::net::Ipv4Addr::LOCALHOST.into())
    }

    /// [`SimProcess::spawn`] listening on `listen` instead: a namespace's veth address, so
    /// processes on both sides of a [`crate::netns::NetnsPair`] reach it.
    pub fn spawn_on(mut command: Command, listen: std::net::IpAddr) -> SimProcess {
        let mut child = command
            .args(["--listen", &listen.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tonearm sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("tonearm sim printed {line:?}: {e}"));
        SimProcess { child, info }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first `n` lines `child` prints on stdout (fewer if it closes it first), read off the
/// runtime; the rest of its stdout is drained on a thread so it never blocks on a full pipe.
/// A daemon prints its startup lines this way (the demo's simulator, then its device).
pub async fn first_stdout_lines(child: &mut Child, n: usize) -> Vec<String> {
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    tokio::task::spawn_blocking(move || {
        let mut r = BufReader::new(stdout);
        let mut got = Vec::new();
        for _ in 0..n {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            got.push(line.trim_end().to_string());
        }
        std::thread::spawn(move || for _ in r.lines() {});
        got
    })
    .await
    .unwrap()
}

/// The first `http://` URL in `line` (the demo's simulator in a daemon's first line).
pub fn http_url_in(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(str::to_owned)
}

/// The simulator's self-description as `tonearm sim` prints it, from an in-process simulator.
pub fn info_json(sim: &tonearm_sim::Simulator) -> Value {
    serde_json::to_value(sim.info()).unwrap()
}

fn field<'a>(info: &'a Value, key: &str) -> &'a str {
    info[key]
        .as_str()
        .unwrap_or_else(|| panic!("the simulator's info has no {key}"))
}

/// The flags that point the binary at the simulator described by `info` (every endpoint).
pub fn endpoint_args(info: &Value) -> Vec<String> {
    let ap_key = &info["ap_key"];
    vec![
        format!("--apresolve-url={}", field(info, "apresolve")),
        format!("--ap-key-modulus={}", field(ap_key, "modulus")),
        format!("--ap-key-exponent={}", ap_key["exponent"]),
        format!("--login5-url={}", field(info, "login5")),
        format!("--client-token-url={}", field(info, "client_token")),
        format!("--accounts-url={}", field(info, "accounts_url")),
        format!("--spclient-url={}", field(info, "spclient")),
        format!("--dealer-url={}", field(info, "dealer")),
        format!("--web-api-url={}", field(info, "web_api")),
    ]
}

/// Client endpoints for the simulator described by `info` (a `tonearm sim` child process).
pub fn endpoints_from_info(info: &Value) -> tonearm::config::Endpoints {
    tonearm::config::Endpoints {
        apresolve: field(info, "apresolve").into(),
        ap_key_modulus: hex::decode(field(&info["ap_key"], "modulus")).expect("hex"),
        ap_key_exponent: info["ap_key"]["exponent"].as_u64().unwrap() as u32,
        login5: field(info, "login5").into(),
        client_token: field(info, "client_token").into(),
        accounts: field(info, "accounts_url").into(),
        web_api: field(info, "web_api").into(),
        spclient: Some(field(info, "spclient").into()),
        dealer: Some(field(info, "dealer").into()),
        ..tonearm::config::Endpoints::default()
    }
}

/// The username and password of the first account of `product` in the simulator's info.
pub fn account_in(info: &Value, product: &str) -> (String, String) {
    let a = info["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["product"] == product)
        .unwrap_or_else(|| panic!("the simulator has no {product} account"));
    (
        field(a, "username").to_string(),
        field(a, "password").to_string(),
    )
}

impl Home {
    /// `tonearm login` of `user` with `password` (on stdin) against the simulator `info`
    /// describes: the credentials land in this home's file store. Panics with its stderr if it
    /// fails.
    pub fn login(&self, info: &Value, user: &str, password: &str) {
        let out = output_with_stdin(
            self.command().args(endpoint_args(info)).args([
                "login",
                "--username",
                user,
                "--password-stdin",
            ]),
            Some(&format!("{password}\n")),
        );
        assert!(
            out.status.success(),
            "login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A private tmux server (socket in this home) with one `size` session running `command`
    /// in this home's environment.
    pub fn tmux(&self, size: (u16, u16), command: &str) -> crate::tmux::Tmux {
        crate::tmux::Tmux::start(self.path(), self.envs(), &Home::CLEARED, size, command)
    }
}

/// A home signed in by `tonearm login` to a `tonearm sim` child process (run in that home) as
/// the simulator's first premium account: where the TUI tests start.
pub struct SignedIn {
    pub home: Home,
    pub sim: SimProcess,
    /// [`endpoint_args`] of the simulator.
    pub args: Vec<String>,
    pub user: String,
    pub password: String,
}

impl SignedIn {
    /// The simulator on 127.0.0.1, all on this host.
    pub fn start(bin: impl Into<PathBuf>) -> SignedIn {
        SignedIn::start_where(bin.into(), None)
    }

    /// The simulator and the login inside the namespace `ns`, the simulator listening on its
    /// veth address (so the other side of the pair reaches it too).
    pub fn start_in(bin: impl Into<PathBuf>, ns: &crate::netns::Netns) -> SignedIn {
        SignedIn::start_where(bin.into(), Some(ns))
    }

    /// (home, simulator, endpoint flags, user, password), to bind at once.
    pub fn into_parts(self) -> (Home, SimProcess, Vec<String>, String, String) {
        (self.home, self.sim, self.args, self.user, self.password)
    }

    fn start_where(bin: PathBuf, ns: Option<&crate::netns::Netns>) -> SignedIn {
        let home = Home::new(bin);
        let command = |home: &Home| match ns {
            Some(ns) => home.command_in(ns),
            None => home.command(),
        };
        let mut sim_cmd = command(&home);
        sim_cmd.arg("sim");
        let listen = ns.map_or(std::net::Ipv4Addr::LOCALHOST, |ns| ns.addr());
        let sim = SimProcess::spawn_on(sim_cmd, listen.into());
        let args = endpoint_args(&sim.info);
        let (user, password) = account_in(&sim.info, "premium");
        let mut login = command(&home);
        login
            .args(&args)
            .args(["login", "--username", &user, "--password-stdin"]);
        let out = output_with_stdin(&mut login, Some(&format!("{password}\n")));
        assert!(out.status.success(), "login: {out:?}");
        SignedIn {
            home,
            sim,
            args,
            user,
            password,
        }
    }
}

/// Runs `command` to completion, with `stdin` (if any) written to its input; stdout and stderr
/// are captured.
pub fn output_with_stdin(command: &mut Command, stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// A child process whose stdout lines arrive as they are written (read on a thread), so a
/// test can wait for one; stderr is collected too. Killed when dropped.
pub struct Running {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    seen: Vec<String>,
}

impl Running {
    /// Spawns `cmd` with stdin closed (at EOF).
    pub fn spawn(cmd: Command) -> Running {
        Running::start(cmd, false)
    }

    /// Spawns `cmd` with stdin kept open until [`Running::close_stdin`] (or drop): a way to tell
    /// a helper process when to stop.
    pub fn spawn_with_stdin(cmd: Command) -> Running {
        Running::start(cmd, true)
    }

    fn start(mut cmd: Command, keep_stdin: bool) -> Running {
        let mut child = cmd
            .stdin(if keep_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Running {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            stderr_reader: Some(stderr_reader),
            seen: Vec::new(),
        }
    }

    /// The first stdout line matching `f` (waits up to 30 s).
    pub fn line(&mut self, f: impl Fn(&str) -> bool) -> String {
        self.line_within(Duration::from_secs(30), f)
    }

    /// The first stdout line matching `f`, waiting up to `timeout`; panics with what the
    /// process wrote otherwise.
    pub fn line_within(&mut self, timeout: Duration, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if f(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no such line; stdout so far:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// The child's pid (for `/proc/<pid>` measurements).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the child's stdin (it reads end of file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits (up to 60 s) for the exit; returns (success, all of stdout, stderr).
    pub fn finish(mut self) -> (bool, String, String) {
        self.close_stdin();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the process did not exit; stdout:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader threads end at the pipes' end of file.
        let until = Instant::now() + Duration::from_secs(5);
        while let Ok(l) = self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l);
        }
        if let Some(r) = self.stderr_reader.take() {
            let _ = r.join();
        }
        let err = self.stderr.lock().unwrap().clone();
        (status.success(), self.seen.join("\n"), err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
