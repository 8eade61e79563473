//! The sign-in screen: choosing a method, the username/password form, and cancelling.
//!
//! Part of the pure `update` (see `update.rs`): no I/O, no UI crates, no service handles.

use super::lists::moved;
use super::Out;
use crate::action::Action;
use crate::app::effect::{Effect, LoginRequest};
use crate::app::msg::TextInput;
use crate::app::state::{LoginMethod, LoginStage, Screen, State};

pub(super) fn login_action(state: &mut State, stage: LoginStage, action: Action, out: &mut Out) {
    let n = LoginMethod::ALL.len();
    match stage {
        LoginStage::Choose { selected } | LoginStage::Failed { selected, .. } => {
            let message = match &stage {
                LoginStage::Failed { message, .. } => Some(message.clone()),
                _ => None,
            };
            match action {
                Action::Up | Action::Down | Action::Top | Action::Bottom => {
                    let new = moved(selected, n, &action, 1);
                    if new != selected {
                        state.screen = Screen::Login(match message {
                            Some(message) => LoginStage::Failed {
                                message,
                                selected: new,
                            },
                            None => LoginStage::Choose { selected: new },
                        });
                        out.redraw = true;
                    }
                }
                Action::Select | Action::PickOption(_) => {
                    // The number keys pick the option the screen labels with that number.
                    let chosen = match action {
                        Action::PickOption(k) if (1..=n).contains(&usize::from(k)) => {
                            usize::from(k) - 1
                        }
                        Action::PickOption(_) => return,
                        _ => selected.min(n - 1),
                    };
                    let method = LoginMethod::ALL[chosen];
                    let stage = match method {
                        LoginMethod::Browser => {
                            out.effect(Effect::Login(LoginRequest::Browser));
                            LoginStage::Working {
                                message: "Opening the browser sign-in…".to_string(),
                            }
                        }
                        LoginMethod::DeviceCode => {
                            out.effect(Effect::Login(LoginRequest::DeviceCode));
                            LoginStage::Working {
                                message: "Asking for a pairing code…".to_string(),
                            }
                        }
                        LoginMethod::Password => LoginStage::Password {
                            username: String::new(),
                            password: String::new(),
                            field: 0,
                        },
                    };
                    state.screen = Screen::Login(stage);
                    out.redraw = true;
                }
                Action::Back | Action::Quit => {
                    state.quit = true;
                    out.redraw = true;
                }
                _ => {}
            }
        }
        LoginStage::Browser { .. } | LoginStage::DeviceCode { .. } | LoginStage::Working { .. } => {
            let selected = match stage {
                LoginStage::DeviceCode { .. } => 1,
                _ => 0,
            };
            match action {
                Action::Back | Action::Close => {
                    out.effect(Effect::CancelLogin);
                    state.screen = Screen::Login(LoginStage::Choose { selected });
                    out.redraw = true;
                }
                Action::Quit => {
                    out.effect(Effect::CancelLogin);
                    state.quit = true;
                    out.redraw = true;
                }
                _ => {}
            }
        }
        LoginStage::Password { .. } => match action {
            Action::Back | Action::Close => {
                state.screen = Screen::Login(LoginStage::Choose { selected: 2 });
                out.redraw = true;
            }
            Action::Quit => {
                state.quit = true;
                out.redraw = true;
            }
            _ => {}
        },
    }
}

pub(super) fn login_text(state: &mut State, stage: LoginStage, t: TextInput, out: &mut Out) {
    let LoginStage::Password {
        mut username,
        mut password,
        mut field,
    } = stage
    else {
        return;
    };
    let text = if field == 0 {
        &mut username
    } else {
        &mut password
    };
    match t {
        TextInput::Char(c) => text.push(c),
        TextInput::Backspace => {
            if text.pop().is_none() {
                return;
            }
        }
        TextInput::Clear => {
            if text.is_empty() {
                return;
            }
            text.clear();
        }
        TextInput::Tab | TextInput::Up | TextInput::Down => field = 1 - field.min(1),
        TextInput::Enter => {
            if field == 0 || username.is_empty() {
                field = if username.is_empty() { 0 } else { 1 };
            } else {
                out.effect(Effect::Login(LoginRequest::Password { username, password }));
                state.screen = Screen::Login(LoginStage::Working {
                    message: "Signing in…".to_string(),
                });
                out.redraw = true;
                return;
            }
        }
        TextInput::Esc => {
            state.screen = Screen::Login(LoginStage::Choose { selected: 2 });
            out.redraw = true;
            return;
        }
        TextInput::Delete
        | TextInput::Left
        | TextInput::Right
        | TextInput::Home
        | TextInput::End => {
            return;
        }
    }
    state.screen = Screen::Login(LoginStage::Password {
        username,
        password,
        field,
    });
    out.redraw = true;
}
