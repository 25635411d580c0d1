//! Host keys (as the window library names them) to PC keyboard positions.
//!
//! The PS/2 keyboard model ([`oxbox_devices::ps2`]) turns a position into
//! the scan codes of the set the guest selected, and the 8042 translates
//! set 2 to set 1 when its command byte asks; so this table only names
//! positions, and key repeat is the keyboard's own typematic (host
//! auto-repeat is ignored by the keyboard model).
//!
//! minifb reports X11 keysyms of the unshifted level, so on a non-US host
//! layout a key arrives as the US key carrying that symbol.

use minifb::Key as HostKey;
use oxbox_devices::ps2::Key;

/// The PC key at the position of `key`, if the PC keyboard has one.
pub fn pc_key(key: HostKey) -> Option<Key> {
    use HostKey as H;
    Some(match key {
        H::Key0 => Key::Digit0,
        H::Key1 => Key::Digit1,
        H::Key2 => Key::Digit2,
        H::Key3 => Key::Digit3,
        H::Key4 => Key::Digit4,
        H::Key5 => Key::Digit5,
        H::Key6 => Key::Digit6,
        H::Key7 => Key::Digit7,
        H::Key8 => Key::Digit8,
        H::Key9 => Key::Digit9,
        H::A => Key::KeyA,
        H::B => Key::KeyB,
        H::C => Key::KeyC,
        H::D => Key::KeyD,
        H::E => Key::KeyE,
        H::F => Key::KeyF,
        H::G => Key::KeyG,
        H::H => Key::KeyH,
        H::I => Key::KeyI,
        H::J => Key::KeyJ,
        H::K => Key::KeyK,
        H::L => Key::KeyL,
        H::M => Key::KeyM,
        H::N => Key::KeyN,
        H::O => Key::KeyO,
        H::P => Key::KeyP,
        H::Q => Key::KeyQ,
        H::R => Key::KeyR,
        H::S => Key::KeyS,
        H::T => Key::KeyT,
        H::U => Key::KeyU,
        H::V => Key::KeyV,
        H::W => Key::KeyW,
        H::X => Key::KeyX,
        H::Y => Key::KeyY,
        H::Z => Key::KeyZ,
        H::F1 => Key::F1,
        H::F2 => Key::F2,
        H::F3 => Key::F3,
        H::F4 => Key::F4,
        H::F5 => Key::F5,
        H::F6 => Key::F6,
        H::F7 => Key::F7,
        H::F8 => Key::F8,
        H::F9 => Key::F9,
        H::F10 => Key::F10,
        H::F11 => Key::F11,
        H::F12 => Key::F12,
        H::Down => Key::ArrowDown,
        H::Left => Key::ArrowLeft,
        H::Right => Key::ArrowRight,
        H::Up => Key::ArrowUp,
        H::Apostrophe => Key::Quote,
        H::Backquote => Key::Backquote,
        H::Backslash => Key::Backslash,
        H::Comma => Key::Comma,
        H::Equal => Key::Equal,
        H::LeftBracket => Key::BracketLeft,
        H::Minus => Key::Minus,
        H::Period => Key::Period,
        H::RightBracket => Key::BracketRight,
        H::Semicolon => Key::Semicolon,
        H::Slash => Key::Slash,
        H::Backspace => Key::Backspace,
        H::Delete => Key::Delete,
        H::End => Key::End,
        H::Enter => Key::Enter,
        H::Escape => Key::Escape,
        H::Home => Key::Home,
        H::Insert => Key::Insert,
        H::Menu => Key::ContextMenu,
        H::PageDown => Key::PageDown,
        H::PageUp => Key::PageUp,
        H::Pause => Key::Pause,
        H::Space => Key::Space,
        H::Tab => Key::Tab,
        H::NumLock => Key::NumLock,
        H::CapsLock => Key::CapsLock,
        H::ScrollLock => Key::ScrollLock,
        H::LeftShift => Key::ShiftLeft,
        H::RightShift => Key::ShiftRight,
        H::LeftCtrl => Key::ControlLeft,
        H::RightCtrl => Key::ControlRight,
        H::NumPad0 => Key::Numpad0,
        H::NumPad1 => Key::Numpad1,
        H::NumPad2 => Key::Numpad2,
        H::NumPad3 => Key::Numpad3,
        H::NumPad4 => Key::Numpad4,
        H::NumPad5 => Key::Numpad5,
        H::NumPad6 => Key::Numpad6,
        H::NumPad7 => Key::Numpad7,
        H::NumPad8 => Key::Numpad8,
        H::NumPad9 => Key::Numpad9,
        H::NumPadDot => Key::NumpadDecimal,
        H::NumPadSlash => Key::NumpadDivide,
        H::NumPadAsterisk => Key::NumpadMultiply,
        H::NumPadMinus => Key::NumpadSubtract,
        H::NumPadPlus => Key::NumpadAdd,
        H::NumPadEnter => Key::NumpadEnter,
        H::LeftAlt => Key::AltLeft,
        H::RightAlt => Key::AltRight,
        H::LeftSuper => Key::MetaLeft,
        H::RightSuper => Key::MetaRight,
        // F13-F15 are not on the PC/AT keyboard.
        H::F13 | H::F14 | H::F15 | H::Unknown | H::Count => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scan code set 1 make codes from the IBM PC/AT and Enhanced
    /// keyboard tables (PS/2 Hardware Interface Technical Reference,
    /// "Keyboard", scan code set 1), written out here by hand: the
    /// position each host key lands on.
    #[test]
    fn host_keys_land_on_the_documented_set_1_make_codes() {
        let cases: &[(HostKey, &[u8])] = &[
            (HostKey::Escape, &[0x01]),
            (HostKey::Key1, &[0x02]),
            (HostKey::Key0, &[0x0B]),
            (HostKey::Q, &[0x10]),
            (HostKey::A, &[0x1E]),
            (HostKey::Z, &[0x2C]),
            (HostKey::M, &[0x32]),
            (HostKey::Enter, &[0x1C]),
            (HostKey::Space, &[0x39]),
            (HostKey::LeftShift, &[0x2A]),
            (HostKey::RightShift, &[0x36]),
            (HostKey::LeftCtrl, &[0x1D]),
            (HostKey::LeftAlt, &[0x38]),
            (HostKey::F1, &[0x3B]),
            (HostKey::F10, &[0x44]),
            (HostKey::F11, &[0x57]),
            (HostKey::F12, &[0x58]),
            (HostKey::NumPad6, &[0x4D]),
            (HostKey::NumPadAsterisk, &[0x37]),
            // The Enhanced keyboard's extended keys: E0 prefix.
            (HostKey::Right, &[0xE0, 0x4D]),
            (HostKey::Up, &[0xE0, 0x48]),
            (HostKey::Insert, &[0xE0, 0x52]),
            (HostKey::RightCtrl, &[0xE0, 0x1D]),
            (HostKey::RightAlt, &[0xE0, 0x38]),
            (HostKey::NumPadEnter, &[0xE0, 0x1C]),
            (HostKey::NumPadSlash, &[0xE0, 0x35]),
            (HostKey::LeftSuper, &[0xE0, 0x5B]),
        ];
        for (host, make) in cases {
            let key = pc_key(*host).unwrap_or_else(|| panic!("{host:?} has no PC key"));
            assert_eq!(&key.scancodes(true, 1), make, "{host:?}");
        }
    }

    /// Every host key with a PC counterpart maps to a different PC key.
    #[test]
    fn no_two_host_keys_share_a_position() {
        let mut seen = std::collections::HashMap::new();
        for &host in ALL_HOST_KEYS {
            if let Some(k) = pc_key(host) {
                if let Some(prev) = seen.insert(k, host) {
                    panic!("{prev:?} and {host:?} both map to {k:?}");
                }
            }
        }
        assert_eq!(seen.len(), ALL_HOST_KEYS.len() - 3, "all but F13-F15");
    }

    /// minifb's keys (every variant but Unknown and Count).
    const ALL_HOST_KEYS: &[HostKey] = {
        use HostKey::*;
        &[
            Key0,
            Key1,
            Key2,
            Key3,
            Key4,
            Key5,
            Key6,
            Key7,
            Key8,
            Key9,
            A,
            B,
            C,
            D,
            E,
            F,
            G,
            H,
            I,
            J,
            K,
            L,
            M,
            N,
            O,
            P,
            Q,
            R,
            S,
            T,
            U,
            V,
            W,
            X,
            Y,
            Z,
            F1,
            F2,
            F3,
            F4,
            F5,
            F6,
            F7,
            F8,
            F9,
            F10,
            F11,
            F12,
            F13,
            F14,
            F15,
            Down,
            Left,
            Right,
            Up,
            Apostrophe,
            Backquote,
            Backslash,
            Comma,
            Equal,
            LeftBracket,
            Minus,
            Period,
            RightBracket,
            Semicolon,
            Slash,
            Backspace,
            Delete,
            End,
            Enter,
            Escape,
            Home,
            Insert,
            Menu,
            PageDown,
            PageUp,
            Pause,
            Space,
            Tab,
            NumLock,
            CapsLock,
            ScrollLock,
            LeftShift,
            RightShift,
            LeftCtrl,
            RightCtrl,
            NumPad0,
            NumPad1,
            NumPad2,
            NumPad3,
            NumPad4,
            NumPad5,
            NumPad6,
            NumPad7,
            NumPad8,
            NumPad9,
            NumPadDot,
            NumPadSlash,
            NumPadAsterisk,
            NumPadMinus,
            NumPadPlus,
            NumPadEnter,
            LeftAlt,
            RightAlt,
            LeftSuper,
            RightSuper,
        ]
    };
}
