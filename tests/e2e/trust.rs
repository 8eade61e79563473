//! The trust prompt (issue 12) as a person sees it: the real TUI binary in a tmux pane, on a LAN
//! of two network namespaces the test makes (`tonearm_testkit::netns`). Namespace `b` holds the
//! TUI (signed in by `tonearm login`) and `tonearm sim` on b's veth address; namespace `a` holds
//! two `tonearm daemon`s with no credentials, each serving zeroconf and advertised over mDNS,
//! waiting for a login. The TUI's browse lists both as "LAN · not signed in"; transferring to one
//! opens the prompt, which names the device, its address and its device id.
//!
//! * "n" sends nothing: the daemon logs no handed-over login and stays waiting;
//! * "y" on the next try wakes it (exactly one `addUser` reaches it — so the "n" sent none):
//!   it signs in as the TUI's account and the TUI's list shows it signed in;
//! * "a" on the second daemon wakes it too and is remembered in `trusted-devices.json`.
//!
//! Needs root, `ip` and tmux: returns early with a printed reason without them, fails under
//! `CI=true`.

use std::time::Duration;

use tonearm_testkit::netns::NetnsPair;
use tonearm_testkit::process::{Home, Running, SignedIn};
use tonearm_testkit::require_tool;
use tonearm_testkit::tmux::Tmux;
use tonearm_testkit::wait_until_blocking;

const BIN: &str = env!("CARGO_BIN_EXE_tonearm");
/// Generous: the machine running the tests may be loaded.
const WAIT: Duration = Duration::from_secs(90);
/// Names no fuzzy filter for one matches the other (no shared letters in order).
const NO_NAME: &str = "Garage Amp";
const ALWAYS_NAME: &str = "Quayside Box";
const TUI_NAME: &str = "Trust TUI";
const HANDED_OVER: &str = "zeroconf: login handed over";

/// A `tonearm daemon` in namespace `a` with its own home, waiting for a zeroconf login.
struct Waiting {
    home: Home,
    _run: Running,
    id: String,
}

fn daemon(net: &NetnsPair, args: &[String], name: &str) -> Waiting {
    let home = Home::new(BIN);
    let mut cmd = home.command_in(&net.a);
    cmd.args(args)
        .args(["daemon", "--name", name, "--sink", "null", "--zeroconf"]);
    let mut run = Running::spawn(cmd);
    let line = run.line_within(WAIT, |l| l.contains("tonearm daemon"));
    assert!(
        line.contains("waiting for a phone to log in"),
        "the daemon should wait for a login: {line}"
    );
    let id = line
        .split("device id ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("no device id in {line}"))
        .to_string();
    Waiting {
        home,
        _run: run,
        id,
    }
}

/// How many handed-over logins the daemon logged.
fn handed_over(d: &Waiting) -> usize {
    d.home.log().matches(HANDED_OVER).count()
}

fn wait_for(tmux: &Tmux, what: &str, tui: &Home, f: impl Fn(&str) -> bool) -> String {
    tmux.wait_for(what, WAIT, || format!("TUI log:\n{}", tui.log()), f)
}

/// The screen line naming `name` in the devices pane.
fn device_row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(name))
}

/// Filters the focused devices pane down to `name` and transfers to it: the prompt opens.
fn transfer_to(tmux: &Tmux, tui: &Home, d: &Waiting, name: &str) -> String {
    // "/" opens the filter (or edits the last one again: C-u clears its query). No Escape: a
    // terminal reads Escape and a key right after it as one Alt-key.
    tmux.type_text("/");
    tmux.keys(&["C-u"]);
    tmux.type_text(name);
    tmux.keys(&["Enter"]);
    // Only `name` is left in the list (this device's own row is gone) before Enter transfers.
    wait_for(tmux, "the devices filtered down", tui, |s| {
        device_row(s, name).is_some() && device_row(s, TUI_NAME).is_none()
    });
    tmux.keys(&["Enter"]);
    wait_for(tmux, "the trust prompt", tui, |s| {
        s.contains("Hand over your login?") && s.contains(name)
    });
    // The question names the device, its address and its whole id (one line at this width).
    wait_for(tmux, "the question with name, address and id", tui, |s| {
        s.contains(&format!(
            "Hand your Spotify login to {name} at 192.168.77.1"
        )) && s.contains(&d.id)
    })
}

#[test]
fn the_trust_prompt_asks_before_waking_a_lan_device_and_no_sends_nothing() {
    if !require_tool(
        "tmux",
        "the trust prompt test runs the TUI in a tmux pane (scripts/setup.sh test installs it)",
    ) {
        return;
    }
    let Some(net) = NetnsPair::create() else {
        return;
    };
    // The simulator in b, on b's veth address: the TUI (in b) and the daemons (in a) reach it.
    let SignedIn {
        home: tui,
        sim: _sim,
        args,
        user,
        ..
    } = SignedIn::start_in(BIN, &net.b);

    let no = daemon(&net, &args, NO_NAME);
    let always = daemon(&net, &args, ALWAYS_NAME);

    let tmux = tui.tmux(
        (160, 45),
        &format!(
            "exec ip netns exec {} env TERM=xterm-256color {BIN} {} --sink null \
             --device-name '{TUI_NAME}'",
            net.b.name(),
            args.join(" ")
        ),
    );
    wait_for(&tmux, "the library", &tui, |s| s.contains("Demo Mix"));
    tmux.type_text("4");
    wait_for(&tmux, "both LAN devices, not signed in", &tui, |s| {
        [NO_NAME, ALWAYS_NAME]
            .iter()
            .all(|n| device_row(s, n).is_some_and(|row| row.contains("LAN · not signed in")))
    });

    // "n": nothing is handed over.
    let prompt = transfer_to(&tmux, &tui, &no, NO_NAME);
    eprintln!("the trust prompt:\n{prompt}");
    tmux.type_text("n");
    wait_for(&tmux, "the refusal", &tui, |s| {
        s.contains(&format!("Not handing your login to {NO_NAME}"))
            && !s.contains("Hand over your login?")
    });
    assert_eq!(handed_over(&no), 0, "daemon log:\n{}", no.home.log());
    let screen = tmux.capture();
    assert!(
        device_row(&screen, NO_NAME).is_some_and(|r| r.contains("not signed in")),
        "{screen}"
    );

    // "y" (asked again: "n" was for this time only) wakes it with the TUI's login.
    transfer_to(&tmux, &tui, &no, NO_NAME);
    tmux.type_text("y");
    wait_until_blocking("the daemon to sign in", WAIT.as_secs(), || {
        no.home.log().contains("daemon signed in")
    });
    // Exactly one login reached it: the "n" above sent none.
    assert_eq!(handed_over(&no), 1, "daemon log:\n{}", no.home.log());
    let log = no.home.log();
    let signed = log
        .lines()
        .find(|l| l.contains("daemon signed in"))
        .unwrap_or_default();
    assert!(signed.contains(&user), "signed in as {user}: {signed}");
    wait_for(&tmux, "the woken device signed in", &tui, |s| {
        device_row(s, NO_NAME).is_some_and(|row| !row.contains("not signed in"))
    });
    // Nothing was remembered for a one-off "y"; the other daemon is untouched.
    let trust_file = tui.path().join("state/tonearm/trusted-devices.json");
    let remembered = std::fs::read_to_string(&trust_file).unwrap_or_default();
    assert!(!remembered.contains(&no.id), "{remembered}");
    assert_eq!(handed_over(&always), 0);

    // "a" wakes the second daemon and is remembered for its device id.
    transfer_to(&tmux, &tui, &always, ALWAYS_NAME);
    tmux.type_text("a");
    wait_until_blocking("the second daemon to sign in", WAIT.as_secs(), || {
        always.home.log().contains("daemon signed in")
    });
    assert_eq!(handed_over(&always), 1, "{}", always.home.log());
    wait_for(&tmux, "the second device signed in", &tui, |s| {
        device_row(s, ALWAYS_NAME).is_some_and(|row| !row.contains("not signed in"))
    });
    let remembered = std::fs::read_to_string(&trust_file).expect("the trust file");
    let v: serde_json::Value = serde_json::from_str(&remembered).expect("JSON");
    assert_eq!(v["devices"][&always.id], "always", "{remembered}");
    assert!(v["devices"].get(&no.id).is_none(), "{remembered}");
    tmux.keys(&["C-c"]);
}
