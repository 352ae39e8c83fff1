//! Response body given to hyper: one buffer when the component produced its whole body quickly,
//! otherwise a stream fed from the component's store task.
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub enum RespBody {
    Full(Option<Bytes>),
    Stream {
        prefix: std::collections::VecDeque<Bytes>,
        rx: mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
    },
}

impl RespBody {
    pub fn full(b: impl Into<Bytes>) -> RespBody {
        let b = b.into();
        RespBody::Full(if b.is_empty() { None } else { Some(b) })
    }
    pub fn empty() -> RespBody {
        RespBody::Full(None)
    }
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RespBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            RespBody::Stream { prefix, rx } => {
                if let Some(b) = prefix.pop_front() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                rx.poll_recv(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, RespBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Full(None) => SizeHint::with_exact(0),
            RespBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            RespBody::Stream { .. } => SizeHint::default(),
        }
    }
}
