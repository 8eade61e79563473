//! alsa-lib's own error messages ("ALSA lib confmisc.c:855:(parse_card) cannot find card '0'")
//! into the tracing log instead of standard error, where they would land in a command's output
//! or on top of the TUI (a machine without a sound card prints a dozen of them when cpal opens
//! the default device). Called by the cpal sink ([`super::CpalSink`]) on every thread that
//! calls into ALSA: the one opening the device and cpal's stream thread. Depends on alsa-sys
//! (the bindings cpal itself links) and `tracing` only.
//!
//! The one place besides `main.rs`'s malloc tuning with `unsafe`, because no safe API exists:
//! the `alsa` crate cpal 0.15 uses (0.9) wraps no error handler, and the global handler
//! (`snd_lib_error_set_handler`) takes a C-variadic callback, which stable Rust cannot define.
//! alsa-lib's default handler, however, first hands each message to the calling thread's
//! *local* handler (`snd_lib_error_set_local`), whose callback takes a `va_list` instead: that
//! one is plain `extern "C"`, and alsa-lib itself formats the `va_list` for us
//! (`snd_output_vprintf` into a memory buffer). Being per thread is why every ALSA-calling
//! thread installs it.

use std::borrow::Cow;
use std::ffi::{c_char, c_int, CStr};

use alsa_sys as sys;

/// Sends alsa-lib's messages raised on the calling thread to the log. Idempotent and cheap (one
/// thread-local store in alsa-lib, no allocation, no lock), so the device callback may call it.
#[allow(unsafe_code)]
pub fn route_this_thread() {
    // SAFETY: `snd_lib_error_set_local` only stores the function pointer in one of alsa-lib's
    // thread-locals; `on_error` has exactly the type alsa-sys declares for it
    // (`snd_local_error_handler_t`) and, being a plain function, lives as long as the program.
    unsafe {
        sys::snd_lib_error_set_local(Some(on_error));
    }
}

/// alsa-lib's message for an error number (`snd_strerror`).
#[allow(unsafe_code)]
fn strerror(err: c_int) -> String {
    // SAFETY: `snd_strerror` returns a pointer to a static, NUL-terminated string (alsa-lib's own
    // table or libc's `strerror`) for any number; it is checked for NULL all the same.
    unsafe { c_text(sys::snd_strerror(err)) }.into_owned()
}

/// A C string from alsa-lib, or `?` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the returned lifetime.
#[allow(unsafe_code)]
unsafe fn c_text<'a>(p: *const c_char) -> Cow<'a, str> {
    if p.is_null() {
        Cow::Borrowed("?")
    } else {
        // SAFETY: non-NULL and NUL-terminated by this function's contract.
        unsafe { CStr::from_ptr(p) }.to_string_lossy()
    }
}

/// Formats `fmt` with `args` the way alsa-lib's default handler would (through alsa-lib's own
/// `snd_output_vprintf`, so the `va_list` is read by the library that made it).
///
/// # Safety
/// `fmt` and `args` are the format and the unused `va_list` alsa-lib passed to the handler.
#[allow(unsafe_code)]
unsafe fn format(fmt: *const c_char, args: *mut sys::__va_list_tag) -> String {
    if fmt.is_null() {
        return String::new();
    }
    let mut out: *mut sys::snd_output_t = std::ptr::null_mut();
    // SAFETY: `out` is a valid place for the new handle; on failure it is left unused.
    if unsafe { sys::snd_output_buffer_open(&mut out) } < 0 || out.is_null() {
        // SAFETY: `fmt` is a NUL-terminated format string (this function's contract).
        return unsafe { c_text(fmt) }.into_owned();
    }
    // SAFETY: `out` is an open buffer output; `fmt`/`args` are alsa-lib's own, used once.
    unsafe { sys::snd_output_vprintf(out, fmt, args) };
    let mut text: *mut c_char = std::ptr::null_mut();
    // SAFETY: `out` is open; alsa-lib points `text` at its buffer of the returned length (the
    // buffer stays valid until the next write or the close below).
    let len = unsafe { sys::snd_output_buffer_string(out, &mut text) };
    let message = if text.is_null() || len == 0 {
        String::new()
    } else {
        // SAFETY: `text` points at `len` initialised bytes owned by `out`, still open.
        let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) };
        String::from_utf8_lossy(bytes).into_owned()
    };
    // SAFETY: `out` was opened above and is not used again.
    unsafe { sys::snd_output_close(out) };
    message
}

/// The local error handler: one log line per message, in alsa-lib's own layout.
#[allow(unsafe_code)]
unsafe extern "C" fn on_error(
    file: *const c_char,
    line: c_int,
    function: *const c_char,
    err: c_int,
    fmt: *const c_char,
    args: *mut sys::__va_list_tag,
) {
    // SAFETY: alsa-lib passes its source file and function names as static C strings (or
    // NULL), and a printf format with the `va_list` of its arguments, unused so far.
    let (file, function, message) = unsafe { (c_text(file), c_text(function), format(fmt, args)) };
    let reason = if err != 0 {
        format!(": {}", strerror(err))
    } else {
        String::new()
    };
    tracing::warn!("ALSA lib {file}:{line}:({function}) {message}{reason}");
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn alsa_errors_on_a_routed_thread_reach_the_log_formatted() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // Its own thread: the handler is per thread, and other tests' threads stay untouched.
        let opened = std::thread::spawn(move || {
            tracing::subscriber::with_default(subscriber, || {
                route_this_thread();
                alsa::PCM::new("tonearm_no_such_pcm", alsa::Direction::Playback, true).is_ok()
            })
        })
        .join()
        .unwrap();
        assert!(!opened, "a PCM that is defined nowhere must not open");
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        // alsa-lib says "Unknown PCM <name>" (the name is a printf argument, so this also shows
        // the va_list was formatted); without its configuration files it says it cannot read
        // them instead. Either way the line is in the log, in alsa-lib's layout.
        assert!(text.contains("WARN"), "{text}");
        assert!(text.contains("ALSA lib "), "{text}");
        if std::path::Path::new("/usr/share/alsa/alsa.conf").exists() {
            assert!(text.contains("Unknown PCM tonearm_no_such_pcm"), "{text}");
        }
    }
}
