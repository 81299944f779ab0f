//! Cutting a partition's rendered records into Lambda requests.
//!
//! A request body is `[` + the records' payload elements joined by `,` + `]`,
//! so its size is known exactly before it is built: no serialize-and-halve.
//! A batch is the longest prefix of the queue within both limits; order is
//! kept and nothing is dropped.

use std::collections::VecDeque;

/// The limits of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most records (`aws.lambda.batch.size`).
    pub max_records: usize,
    /// Most request bytes (`aws.lambda.max.payload.bytes`).
    pub max_bytes: usize,
}

impl BatchLimits {
    /// Whether a single element of `len` bytes fits in a request at all.
    pub fn fits_alone(&self, len: usize) -> bool {
        request_len(1, len) <= self.max_bytes
    }
}

/// Bytes of a request holding `count` elements of `element_bytes` in total.
pub fn request_len(count: usize, element_bytes: usize) -> usize {
    2 + element_bytes + count.saturating_sub(1)
}

/// Something queued for a batch.
pub trait Element {
    /// The rendered element's length in bytes; `None` for an item that is
    /// not sent to Lambda (it ends the batch before it, keeping order).
    fn element_len(&self) -> Option<usize>;
}

/// Takes the next batch from the front of `queue`: as many items as fit both
/// limits, up to the first item that is not batchable. At least one item if
/// the first is batchable and fits alone; items that do not fit alone must be
/// kept out of the queue ([`BatchLimits::fits_alone`]).
pub fn take_batch<T: Element>(queue: &mut VecDeque<T>, limits: BatchLimits) -> Vec<T> {
    let (count, _) = prefix(queue, limits);
    queue.drain(..count).collect()
}

/// The batchable prefix within limits: (count, element bytes).
fn prefix<T: Element>(queue: &VecDeque<T>, limits: BatchLimits) -> (usize, usize) {
    let mut count = 0;
    let mut bytes = 0;
    for item in queue {
        let Some(len) = item.element_len() else { break };
        if count == limits.max_records || request_len(count + 1, bytes + len) > limits.max_bytes {
            break;
        }
        count += 1;
        bytes += len;
    }
    (count, bytes)
}

/// Whether the next batch of `queue` can grow no more (no point lingering):
/// it hits a limit, or a non-batchable item follows it.
pub fn is_full<T: Element>(queue: &VecDeque<T>, limits: BatchLimits) -> bool {
    let (count, bytes) = prefix(queue, limits);
    count < queue.len()
        || count >= limits.max_records
        // Nothing more of even the smallest size (1 byte) would fit.
        || request_len(count + 1, bytes + 1) > limits.max_bytes
}

/// Joins rendered elements into a request body.
pub fn request_body<'a, I>(elements: I) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    framed_body(b"[", elements, b"]")
}

/// Joins rendered elements by `,` between `open` (ending in `[`) and `close`
/// (starting with `]`): a list body, or one inside an envelope.
pub fn framed_body<'a, I>(open: &[u8], elements: I, close: &[u8]) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    let elements = elements.into_iter();
    // Sized exactly once: a body grown by doubling is copied over and over.
    let (count, bytes) = elements
        .clone()
        .fold((0, 0), |(count, bytes), e| (count + 1, bytes + e.len()));
    let mut body = Vec::with_capacity(request_len(count, bytes) - 2 + open.len() + close.len());
    body.extend_from_slice(open);
    for (i, e) in elements.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e);
    }
    body.extend_from_slice(close);
    body
}

/// Writes `traceparent` into the trace slot of each element of `body`, a
/// request built by [`request_body`] or [`framed_body`] with `open` from
/// elements of `lens` bytes rendered with
/// [`TRACEPARENT_SLOT`](crate::trace::TRACEPARENT_SLOT) as their
/// `traceparent` (the last member of the element's innermost object, which
/// closes the element with `"}}`). Elements without the slot are left as
/// they are; so is everything when `traceparent` is not a slot's length.
pub fn fill_trace_slots(
    body: &mut [u8],
    open: usize,
    lens: impl IntoIterator<Item = usize>,
    traceparent: &str,
) {
    use crate::trace::TRACEPARENT_SLOT;
    let slot = TRACEPARENT_SLOT.as_bytes();
    if traceparent.len() != slot.len() {
        return;
    }
    let mut start = open;
    for len in lens {
        let end = start + len;
        // `…"<slot>"}}` ends the element.
        if let Some(at) = end.checked_sub(slot.len() + 3)
            && at >= start
            && body.get(at + slot.len()..end) == Some(b"\"}}".as_slice())
            && body.get(at..at + slot.len()) == Some(slot)
        {
            body[at..at + slot.len()].copy_from_slice(traceparent.as_bytes());
        }
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Item(usize, Vec<u8>);
    impl Element for Item {
        fn element_len(&self) -> Option<usize> {
            // An empty element stands for a non-batchable item.
            (!self.1.is_empty()).then_some(self.1.len())
        }
    }

    fn items(lens: &[usize]) -> VecDeque<Item> {
        lens.iter()
            .enumerate()
            .map(|(i, l)| Item(i, vec![b'x'; *l]))
            .collect()
    }

    #[test]
    fn exact_byte_limit() {
        // [aaaa,bbbb] = 2 + 8 + 1 = 11 bytes.
        let limits = BatchLimits {
            max_records: 10,
            max_bytes: 11,
        };
        let mut q = items(&[4, 4, 4]);
        assert_eq!(take_batch(&mut q, limits).len(), 2);
        assert_eq!(take_batch(&mut q, limits).len(), 1);
        assert!(take_batch(&mut q, limits).is_empty());
        let body = request_body([&b"aaaa"[..], b"bbbb"]);
        assert_eq!(body, b"[aaaa,bbbb]");
        assert_eq!(body.len(), request_len(2, 8));
    }

    #[test]
    fn record_limit_and_fits_alone() {
        let limits = BatchLimits {
            max_records: 2,
            max_bytes: 1000,
        };
        let mut q = items(&[1, 1, 1]);
        assert_eq!(take_batch(&mut q, limits).len(), 2);
        assert!(is_full(&items(&[1, 1]), limits));
        assert!(!is_full(&items(&[1]), limits));
        let mut stop = items(&[1, 0, 1]);
        assert!(
            is_full(&stop, limits),
            "a non-batchable item ends the batch"
        );
        assert_eq!(take_batch(&mut stop, limits).len(), 1);
        assert!(
            take_batch(&mut stop, limits).is_empty(),
            "the caller removes it first"
        );
        let tight = BatchLimits {
            max_records: 9,
            max_bytes: 12,
        };
        assert!(tight.fits_alone(10));
        assert!(!tight.fits_alone(11));
    }

    proptest! {
        /// Batches keep order, lose nothing, and respect both limits.
        #[test]
        fn batches_respect_limits_and_order(
            lens in prop::collection::vec(1usize..50, 0..200),
            max_records in 1usize..30,
            max_bytes in 60usize..400,
        ) {
            let limits = BatchLimits { max_records, max_bytes };
            let mut q: VecDeque<Item> = items(&lens).into_iter().filter(|i| limits.fits_alone(i.1.len())).collect();
            let expected: Vec<usize> = q.iter().map(|i| i.0).collect();
            let mut seen = Vec::new();
            while !q.is_empty() {
                let batch = take_batch(&mut q, limits);
                prop_assert!(!batch.is_empty(), "progress");
                prop_assert!(batch.len() <= max_records);
                let body = request_body(batch.iter().map(|i| i.1.as_slice()));
                prop_assert!(body.len() <= max_bytes, "{} > {}", body.len(), max_bytes);
                // Maximal: the next item would not have fitted.
                if let Some(next) = q.front() {
                    let with_next = request_len(batch.len() + 1, body.len() - 2 - (batch.len() - 1) + next.1.len());
                    prop_assert!(batch.len() == max_records || with_next > max_bytes);
                }
                seen.extend(batch.into_iter().map(|i| i.0));
            }
            prop_assert_eq!(seen, expected);
        }
    }

    #[test]
    fn trace_slots_are_filled_in_place() {
        use crate::trace::TRACEPARENT_SLOT;
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let slotted =
            |n: u8| format!(r#"{{"payload":{{"n":{n},"traceparent":"{TRACEPARENT_SLOT}"}}}}"#);
        let plain = r#"{"payload":{"n":9}}"#.to_string();
        // The slot's text elsewhere than at the end is not a slot.
        let quoted = format!(r#"{{"payload":{{"value":"{TRACEPARENT_SLOT}","n":8}}}}"#);
        let cases: [(&[String], &[u8], &[u8]); 3] = [
            (&[slotted(1), slotted(2)], b"[", b"]"),
            (&[plain.clone(), slotted(3), quoted.clone()], b"[", b"]"),
            (&[slotted(4)], br#"{"records":["#, b"]}"),
        ];
        for (elements, open, close) in cases {
            let lens: Vec<usize> = elements.iter().map(String::len).collect();
            let mut body = framed_body(open, elements.iter().map(String::as_bytes), close);
            fill_trace_slots(&mut body, open.len(), lens, tp);
            let want: Vec<String> = elements
                .iter()
                .map(|e| {
                    if e.ends_with(&format!("{TRACEPARENT_SLOT}\"}}}}")) {
                        e.replace(TRACEPARENT_SLOT, tp)
                    } else {
                        e.clone()
                    }
                })
                .collect();
            let want = framed_body(open, want.iter().map(String::as_bytes), close);
            assert_eq!(
                String::from_utf8(body).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
        // A traceparent of another length changes nothing.
        let lens = [slotted(1).len()];
        let mut body = request_body([slotted(1).as_bytes()]);
        fill_trace_slots(&mut body, 1, lens, "00-short");
        assert_eq!(body, request_body([slotted(1).as_bytes()]));
    }
}
