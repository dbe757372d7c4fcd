//! The console sessions open on this node, so that a shutdown waits until
//! each has written its `closing` frame and closed.
//!
//! An upgraded socket outlives the HTTP connection it came on, and the
//! accept loop waits only for HTTP connections: without this, the process
//! could exit between the engine queueing `closing` and a session's writer
//! sending it, and the console would see the socket drop with no reason.

use std::sync::Arc;

use tokio::sync::watch;

/// Counts open sessions by the receivers they hold.
#[derive(Debug, Clone)]
pub struct OpenSessions(Arc<watch::Sender<()>>);

/// Held by a session while it is open.
#[derive(Debug)]
pub struct OpenSession {
    _receiver: watch::Receiver<()>,
}

impl Default for OpenSessions {
    fn default() -> Self {
        OpenSessions(Arc::new(watch::channel(()).0))
    }
}

impl OpenSessions {
    /// A session opens; it counts until the returned value is dropped.
    pub fn enter(&self) -> OpenSession {
        OpenSession {
            _receiver: self.0.subscribe(),
        }
    }

    /// Resolves once no session is open.
    pub async fn all_closed(&self) {
        self.0.closed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_when_the_last_session_closed() {
        let open = OpenSessions::default();
        open.all_closed().await;
        let a = open.enter();
        let b = open.enter();
        let waiting = tokio::spawn({
            let open = open.clone();
            async move { open.all_closed().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one still open");
        drop(b);
        waiting.await.unwrap();
    }
}
