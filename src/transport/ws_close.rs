//! How a WebSocket read error ends a session, for the console and the
//! visitor socket alike: the close code and reason the server sends
//! (RFC 6455 §7.4.1; docs/protocol.md lists them).
//!
//! After any read error the socket's stream is finished (tokio-tungstenite
//! fuses it), so no such session can go on: the server says why with a close
//! frame, then closes. A client that dropped its connection without a close
//! handshake is only gone: nothing is sent.

use axum::extract::ws::{CloseFrame, Message};

/// Why the reading half of a socket stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadEnd {
    /// The client closed, the connection broke, or the writer is gone.
    Closed,
    /// The client sent a frame or message over the size limit.
    TooLarge,
    /// The client sent a text message that is not UTF-8.
    InvalidUtf8,
    /// The client broke the WebSocket framing rules (an unmasked frame,
    /// reserved bits or opcodes, a bad fragment or control frame).
    ProtocolViolation,
}

impl ReadEnd {
    /// What a read error means. axum does not re-export tungstenite's error
    /// type, so this matches its messages; `tests/connections.rs` and the
    /// hardening test of oversized frames pin the behaviour.
    pub(super) fn of(e: &axum::Error) -> ReadEnd {
        let text = e.to_string();
        if text.contains("Space limit exceeded") || text.contains("Message too long") {
            ReadEnd::TooLarge
        } else if text.contains("UTF-8 encoding error") {
            ReadEnd::InvalidUtf8
        } else if text.contains("WebSocket protocol error")
            && !text.contains("without closing handshake")
        {
            ReadEnd::ProtocolViolation
        } else {
            ReadEnd::Closed
        }
    }

    /// The close code and reason the server answers with (`None`: the
    /// connection is gone, nothing to say).
    pub(super) fn close(self) -> Option<(u16, &'static str)> {
        match self {
            ReadEnd::Closed => None,
            ReadEnd::TooLarge => Some((1009, "too_large")),
            ReadEnd::InvalidUtf8 => Some((1007, "invalid_utf8")),
            ReadEnd::ProtocolViolation => Some((1002, "protocol_error")),
        }
    }

    /// The close frame the server sends, if any.
    pub(super) fn close_frame(self) -> Option<Message> {
        self.close().map(|(code, reason)| {
            Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_map_to_their_close_codes() {
        let of = |text: &str| ReadEnd::of(&axum::Error::new(text.to_string()));
        assert_eq!(
            of("Space limit exceeded: Message too long: 70000 > 65536"),
            ReadEnd::TooLarge
        );
        assert_eq!(
            of("UTF-8 encoding error: invalid utf-8"),
            ReadEnd::InvalidUtf8
        );
        assert_eq!(
            of("WebSocket protocol error: Reserved bits are non-zero"),
            ReadEnd::ProtocolViolation
        );
        assert_eq!(
            of("WebSocket protocol error: Connection reset without closing handshake"),
            ReadEnd::Closed
        );
        assert_eq!(of("IO error: broken pipe"), ReadEnd::Closed);
        assert_eq!(ReadEnd::InvalidUtf8.close(), Some((1007, "invalid_utf8")));
        assert_eq!(ReadEnd::Closed.close_frame(), None);
    }
}
