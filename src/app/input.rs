//! Key routing: while a text box has focus keys become `TextInput`s; otherwise the keymap
//! resolves them in the state's context to an action, a pending chord, or nothing.
