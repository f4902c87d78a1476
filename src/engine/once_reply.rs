//! A reply that Python may call more than once but that reaches Rust once.

use std::sync::Mutex;

use tokio::sync::oneshot;

pub(crate) struct OnceReply<T>(Mutex<Option<oneshot::Sender<T>>>);

impl<T> OnceReply<T> {
    pub(crate) fn new(reply: oneshot::Sender<T>) -> Self {
        Self(Mutex::new(Some(reply)))
    }

    /// Deliver `value` if nothing was delivered yet; later calls are ignored.
    pub(crate) fn send(&self, value: T) {
        if let Some(reply) = self.0.lock().expect("reply lock").take() {
            reply.send(value).ok();
        }
    }
}
