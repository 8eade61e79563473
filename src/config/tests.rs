//! Unit tests of the config file: defaults, the sections' parsing and validation (endpoints,
//! desktop, ui, connect, control), error messages with line and column, and overrides.

use super::*;

#[test]
fn empty_file_gives_defaults() {
    let c = parse("", Path::new("c.toml")).expect("empty config is valid");
    assert_eq!(c.endpoints, Endpoints::default());
    assert_eq!(c.device_id.len(), 40);
    assert_eq!(c.desktop, DesktopSettings::default());
    assert!(c.desktop.mpris);
}

/// `sim = "URL"` is kept (checked to be an http URL); a simulator's endpoints answer sets
/// every endpoint, and anything else is refused without changing them.
#[test]
fn sim_key_and_sim_endpoints_answer() {
    let c = parse("sim = \"http://127.0.0.1:4000\"\n", Path::new("c.toml")).expect("valid");
    assert_eq!(c.sim.as_deref(), Some("http://127.0.0.1:4000"));
    let e = parse("sim = \"127.0.0.1:4000\"\n", Path::new("c.toml")).unwrap_err();
    assert!(e.to_string().contains("sim"), "{e}");

    let modulus = "ab".repeat(256);
    let body = format!(
        r#"{{"apresolve":"http://127.0.0.1:9/","ap_key":{{"modulus":"{modulus}","exponent":65537}},
            "login5":"http://127.0.0.1:9/v3/login","client_token":"http://127.0.0.1:9/v1/clienttoken",
            "accounts_url":"http://127.0.0.1:9","spclient":"http://127.0.0.1:9",
            "dealer":"ws://127.0.0.1:9","web_api":"http://127.0.0.1:9/v1"}}"#
    );
    let mut ep = Endpoints::default();
    sim_endpoints(&mut ep, &body).expect("a simulator's answer");
    assert_eq!(ep.apresolve, "http://127.0.0.1:9/");
    assert_eq!(ep.ap_key_modulus, vec![0xab; 256]);
    assert_eq!(ep.ap_key_exponent, 65537);
    assert_eq!(ep.login5, "http://127.0.0.1:9/v3/login");
    assert_eq!(ep.client_token, "http://127.0.0.1:9/v1/clienttoken");
    assert_eq!(ep.accounts, "http://127.0.0.1:9");
    assert_eq!(ep.spclient.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(ep.dealer.as_deref(), Some("ws://127.0.0.1:9"));
    assert_eq!(ep.web_api, "http://127.0.0.1:9/v1");

    for bad in [
        "",
        "<html>not found</html>",
        "{}",
        r#"{"apresolve":"http://x/"}"#,
    ] {
        let mut ep = Endpoints::default();
        let e = sim_endpoints(&mut ep, bad).unwrap_err();
        assert!(
            matches!(e, SimEndpointsError::NotEndpoints(_)),
            "{bad}: {e}"
        );
        assert_eq!(ep, Endpoints::default(), "unchanged");
    }
    let bad_url = body.replace("http://127.0.0.1:9/v3/login", "ftp://x");
    let mut ep = Endpoints::default();
    let e = sim_endpoints(&mut ep, &bad_url).unwrap_err();
    assert!(e.to_string().contains("login5"), "{e}");
    assert_eq!(ep, Endpoints::default(), "unchanged");
}

#[test]
fn desktop_section_turns_mpris_and_notifications_off() {
    let c = parse(
        "[desktop]\nmpris = false\nnotifications = false\n",
        Path::new("c.toml"),
    )
    .expect("valid");
    assert_eq!(
        c.desktop,
        DesktopSettings {
            mpris: false,
            notifications: Some(false)
        }
    );
    let e = parse("[desktop]\nmpirs = true\n", Path::new("c.toml")).unwrap_err();
    assert!(e.to_string().contains("mpirs"), "{e}");
}

#[test]
fn unknown_key_reports_line_and_column() {
    let e = parse(
        "[endpoints]\napresolve = \"http://x/\"\nbogus = 1\n",
        Path::new("c.toml"),
    )
    .expect_err("unknown key must fail");
    let msg = e.to_string();
    assert!(msg.starts_with("c.toml:3:1:"), "{msg}");
    assert!(msg.contains("bogus"), "{msg}");
}

#[test]
fn bad_values_are_quoted() {
    let e = parse(
        "[endpoints]\naccess_points = [\"nohost\"]\n",
        Path::new("c.toml"),
    )
    .expect_err("bad ap");
    assert!(e.to_string().contains("\"nohost\""), "{e}");
    let e = parse("[device]\nid = \"XYZ\"\n", Path::new("c.toml")).expect_err("bad id");
    assert!(e.to_string().contains("device.id"), "{e}");
}

#[test]
fn ui_album_art_and_cache_cap() {
    let c = parse(
        "[ui]\nalbum_art = \"halfblocks\"\nart_cache_mb = 7\n",
        Path::new("c.toml"),
    )
    .expect("valid");
    assert_eq!(c.ui.album_art, AlbumArt::Halfblocks);
    assert_eq!(c.ui.art_cache_mb, Some(7));
    let c = parse("[ui]\nalbum_art = \"off\"\n", Path::new("c.toml")).expect("valid");
    assert_eq!(c.ui.album_art, AlbumArt::Off);
    let c = parse("", Path::new("c.toml")).expect("valid");
    assert_eq!(c.ui.album_art, AlbumArt::Auto);
    assert_eq!(c.ui.art_cache_mb, None);
    let e = parse("[ui]\nalbum_art = \"sixels\"\n", Path::new("c.toml")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("ui.album_art") && msg.contains("\"sixels\""),
        "{msg}"
    );
}

#[test]
fn ui_section_keeps_values_and_positions() {
    let c = parse(
        "[ui]\ntheme = \"nord\"\nkeymap = \"vim\"\nmouse = false\n",
        Path::new("c.toml"),
    )
    .expect("valid");
    let theme = c.ui.theme.expect("theme set");
    assert_eq!(theme.value, "nord");
    assert_eq!(theme.at, "c.toml:2:9");
    assert_eq!(c.ui.keymap.expect("keymap set").value, "vim");
    assert_eq!(c.ui.mouse, Some(false));
    let e = parse("[ui]\nthem = \"nord\"\n", Path::new("c.toml")).expect_err("typo");
    assert!(e.to_string().starts_with("c.toml:2:1:"), "{e}");
    assert!(e.to_string().contains("them"), "{e}");
}

#[test]
fn connect_section_parses_the_accept_policy() {
    let c = parse(
        "[connect]\nzeroconf = true\nzeroconf_accept = \"same-account\"\n",
        Path::new("c.toml"),
    )
    .expect("valid");
    assert_eq!(c.connect.zeroconf, Some(true));
    assert_eq!(c.connect.zeroconf_accept, Some(ZeroconfAccept::SameAccount));
    assert_eq!(
        parse("", Path::new("c.toml")).unwrap().connect,
        Default::default()
    );
    for (v, want) in [
        ("any", ZeroconfAccept::Any),
        ("NONE", ZeroconfAccept::Nobody),
    ] {
        assert_eq!(v.parse::<ZeroconfAccept>(), Ok(want));
        assert_eq!(want.as_str().parse::<ZeroconfAccept>(), Ok(want));
    }
    let e = parse(
        "[connect]\nzeroconf_accept = \"all\"\n",
        Path::new("c.toml"),
    )
    .expect_err("bad policy");
    assert!(e.to_string().contains("connect.zeroconf_accept"), "{e}");
    assert!(e.to_string().contains("\"all\""), "{e}");
}

#[test]
fn control_section_is_checked() {
    let c = parse(
            "[control]\nsocket = \"/run/x.sock\"\ntcp = \"127.0.0.1:7799\"\ntoken = \"0123456789abcdef\"\n",
            Path::new("c.toml"),
        )
        .expect("valid");
    assert_eq!(c.control.socket, Some(PathBuf::from("/run/x.sock")));
    assert_eq!(c.control.tcp.map(|a| a.port()), Some(7799));
    assert!(!c.control.disabled && !c.control.serve);
    let off = parse("[control]\nenabled = false\n", Path::new("c.toml")).expect("valid");
    assert!(off.control.disabled);
    for bad in [
        "[control]\ntcp = \"0.0.0.0:1\"\n",
        "[control]\ntcp = \"nope\"\n",
        "[control]\ntoken = \"short\"\n",
        "[control]\nsocket = \"rel.sock\"\n",
    ] {
        let e = parse(bad, Path::new("c.toml")).expect_err(bad);
        assert!(e.to_string().contains("control."), "{e}");
        assert!(
            !e.to_string().contains("short"),
            "a token is never echoed: {e}"
        );
    }
}

#[test]
fn overrides_apply() {
    let c = parse(
        "[endpoints]\naccess_points = [\"127.0.0.1:4070\"]\nap_key_exponent = 3\n",
        Path::new("c.toml"),
    )
    .expect("valid");
    assert_eq!(
        c.endpoints.access_points,
        Some(vec!["127.0.0.1:4070".into()])
    );
    assert_eq!(c.endpoints.ap_key_exponent, 3);
}
