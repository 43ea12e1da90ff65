//! SMS: segmenting per 3GPP TS 23.038 / 23.040, notices, and an exactly-once outbox.
//!
//! # Segmenting
//! A single SMS carries 140 octets of user data: 160 GSM-7 septets or 70 UCS-2 code units.
//! A longer text is concatenated: each part gives 6 octets to the user data header
//! (TS 23.040 § 9.2.3.24.1), leaving 153 septets or 67 code units. An extension-table character
//! is an escape septet plus its code, and the two are never split across parts (a part ending
//! in a lone escape would show the wrong character). In UCS-2 (sent as UTF-16, as handsets do)
//! a surrogate pair is never split either. A text with any character outside GSM-7 is sent
//! whole in UCS-2.
//!
//! # Outbox
//! Every settled payment to or from a phone account, every cash out and every lockout queues a
//! [`Notice`] under an event id; [`Outbox::enqueue`] accepts an event id once, ever, so a
//! retried settlement never texts twice. Delivery to the SMS centre is at least once: a notice
//! stays due until [`Outbox::mark_sent`] (a crash between the send and the mark sends it again;
//! no SMS interface offers better).

use std::collections::HashSet;
use std::future::Future;

use ferry_proto::Money;
use thiserror::Error;

use crate::gsm7;
use crate::i18n::{self, Language};
use crate::phone::Phone;

/// GSM-7 septets in a single-part SMS.
pub const GSM7_SINGLE: usize = 160;
/// GSM-7 septets in each part of a concatenated SMS.
pub const GSM7_MULTI: usize = 153;
/// UCS-2 code units in a single-part SMS.
pub const UCS2_SINGLE: usize = 70;
/// UCS-2 code units in each part of a concatenated SMS.
pub const UCS2_MULTI: usize = 67;

/// The data coding an SMS is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 7-bit default alphabet (with the extension table).
    Gsm7,
    /// UCS-2 (UTF-16 on the air, as handsets send it).
    Ucs2,
}

impl Encoding {
    /// Units (septets or UTF-16 code units) in a single-part message.
    pub fn single_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => GSM7_SINGLE,
            Encoding::Ucs2 => UCS2_SINGLE,
        }
    }

    /// Units in each part of a concatenated message.
    pub fn multi_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => GSM7_MULTI,
            Encoding::Ucs2 => UCS2_MULTI,
        }
    }

    /// The units `c` takes in this encoding (`None`: not representable in GSM-7).
    fn units(self, c: char) -> Option<usize> {
        match self {
            Encoding::Gsm7 => gsm7::encode_char(c).map(gsm7::Septets::len),
            Encoding::Ucs2 => Some(c.len_utf16()),
        }
    }
}

/// How a text goes out as SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segmentation {
    /// GSM-7 when every character allows it, else UCS-2.
    pub encoding: Encoding,
    /// The parts, in order; they join back to the text. One part (possibly empty) at least.
    pub parts: Vec<String>,
    /// The text's length in units of the encoding (septets, escapes included; or UTF-16 units).
    pub units: usize,
}

impl Segmentation {
    /// How many SMS the text costs.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// True when the text fits one SMS.
    pub fn is_single(&self) -> bool {
        self.parts.len() == 1
    }
}

/// Splits `text` into SMS parts (see the module docs).
pub fn segments(text: &str) -> Segmentation {
    let encoding = if gsm7::is_gsm7(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    };
    // Every char is representable in the chosen encoding; 0 cannot happen but keeps this total.
    let unit = |c: char| encoding.units(c).unwrap_or(0);
    let units: usize = text.chars().map(unit).sum();
    if units <= encoding.single_limit() {
        return Segmentation {
            encoding,
            parts: vec![text.to_owned()],
            units,
        };
    }
    let limit = encoding.multi_limit();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in text.chars() {
        let n = unit(c);
        // A character (an escape pair, a surrogate pair) goes whole into the next part.
        if used + n > limit {
            parts.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(c);
        used += n;
    }
    parts.push(current);
    Segmentation {
        encoding,
        parts,
        units,
    }
}

/// What an SMS notice says; rendered in the account's language by [`Notice::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// Money arrived from a phone account (or a linked wallet).
    Received {
        /// Amount credited.
        amount: Money,
        /// Who sent it.
        from: Phone,
        /// Balance after.
        balance: Money,
    },
    /// An offline payment (face to face, or carried through the mesh) to this number's account
    /// settled on its online balance.
    PaymentSettled {
        /// Amount credited (after any fee).
        amount: Money,
        /// Balance after.
        balance: Money,
    },
    /// An offline payment this number's account made (face to face, or a remote payment the
    /// mesh carried) settled: the payee has the money.
    PaymentSentSettled {
        /// Amount the payer signed.
        amount: Money,
    },
    /// Money left for another phone.
    Sent {
        /// Amount the recipient got.
        amount: Money,
        /// Recipient.
        to: Phone,
        /// Fee charged on top.
        fee: Money,
        /// Balance after.
        balance: Money,
    },
    /// A cash-out code was issued; the amount is reserved until an agent pays it out.
    CashOutCode {
        /// The code to show the agent.
        code: String,
        /// Amount reserved.
        amount: Money,
        /// Minutes the code stays valid.
        valid_minutes: u64,
    },
    /// An agent paid out cash against a code.
    CashedOut {
        /// Amount paid out.
        amount: Money,
        /// Balance after.
        balance: Money,
    },
    /// An agent took cash in and credited the account.
    CashedIn {
        /// Amount credited.
        amount: Money,
        /// Balance after.
        balance: Money,
    },
    /// Three wrong PINs locked the USSD channel.
    Locked {
        /// Minutes until it unlocks.
        minutes: u64,
    },
    /// The PIN was changed.
    PinChanged,
    /// The account was created.
    Registered,
    /// A voucher was created from this phone: its text form, to give to whoever redeems it.
    VoucherIssued {
        /// The short reference shown on the screen.
        reference: String,
        /// The voucher's value.
        amount: Money,
        /// Its lifetime, hours.
        hours: u8,
        /// The voucher's text form (`FV1:…`), what a receiver redeems.
        text: String,
    },
    /// A smartphone wallet asked to take this number: the one-time code that proves the
    /// holder has the phone.
    LinkCode {
        /// The code (digits).
        code: String,
        /// Minutes it stays valid.
        minutes: u64,
    },
}

/// One SMS to send, once, identified by the event that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Unique per event (e.g. the transfer's idempotency key plus the party): the outbox key.
    pub event_id: String,
    /// Recipient.
    pub to: Phone,
    /// The recipient account's language.
    pub language: Language,
    /// What happened.
    pub kind: NoticeKind,
}

impl Notice {
    /// The message text in the recipient's language (GSM-7; a single part for confirmations).
    pub fn text(&self) -> String {
        i18n::sms_text(self.language, &self.kind)
    }

    /// The text, segmented.
    pub fn segmentation(&self) -> Segmentation {
        segments(&self.text())
    }
}

/// An SMS sender failed; the notice stays due.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("SMS not sent: {0}")]
pub struct SmsError(pub String);

/// Sends SMS (an SMPP client, an aggregator's HTTP API, a log in tests).
pub trait SmsSender: Send + Sync {
    /// Sends the text of event `event_id` to `to`, already segmented in `segmentation`. A
    /// retry of a failed attempt carries the same event id, so the SMS centre can deduplicate.
    fn send(
        &self,
        event_id: &str,
        to: &Phone,
        segmentation: &Segmentation,
    ) -> impl Future<Output = Result<(), SmsError>> + Send;
}

/// An in-memory outbox: each event id is accepted once, ever, and stays due until sent.
#[derive(Debug, Default, Clone)]
pub struct Outbox {
    seen: HashSet<String>,
    due: Vec<Notice>,
    sent: Vec<Notice>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `notice` unless its event id was queued before; returns whether it was new.
    pub fn enqueue(&mut self, notice: Notice) -> bool {
        if !self.seen.insert(notice.event_id.clone()) {
            return false;
        }
        self.due.push(notice);
        true
    }

    /// Notices not yet sent, oldest first.
    pub fn due(&self) -> &[Notice] {
        &self.due
    }

    /// Notices sent so far, in order.
    pub fn sent(&self) -> &[Notice] {
        &self.sent
    }

    /// Every notice ever queued (sent then due).
    pub fn all(&self) -> impl Iterator<Item = &Notice> {
        self.sent.iter().chain(self.due.iter())
    }

    /// Records that `event_id` was handed to the SMS centre.
    pub fn mark_sent(&mut self, event_id: &str) -> bool {
        match self.due.iter().position(|n| n.event_id == event_id) {
            Some(i) => {
                let n = self.due.remove(i);
                self.sent.push(n);
                true
            }
            None => false,
        }
    }

    /// Sends every due notice through `sender`, marking each sent on success; returns how many
    /// went out. A failure leaves that notice (and the ones after it) due.
    pub async fn deliver<S: SmsSender>(&mut self, sender: &S) -> Result<usize, SmsError> {
        let mut count = 0;
        while let Some(n) = self.due.first().cloned() {
            sender.send(&n.event_id, &n.to, &n.segmentation()).await?;
            self.mark_sent(&n.event_id);
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn count(text: &str) -> (Encoding, usize) {
        let s = segments(text);
        (s.encoding, s.part_count())
    }

    /// Segment counts at the boundaries published in dotdigital's "SMS Message Segmentation"
    /// reference (https://docs.cpaas.dotdigital.com/reference/sms-message-segmentation):
    /// GSM-7 1 SMS = 160, 2 = 306, 3 = 459, 4 = 612 characters; UTF-16 1 = 70, 2 = 134,
    /// 3 = 201, 4 = 268. The same table is in Fone Dynamics' "SMS segmentation" help article
    /// (154–306 → 2, 307–459 → 3; unicode 68–134 → 2, 135–201 → 3) and Twilio's segment
    /// calculator gives the same counts.
    #[test]
    fn published_segment_counts() {
        let gsm = |n: usize| "a".repeat(n);
        for (len, parts) in [
            (0, 1),
            (1, 1),
            (160, 1),
            (161, 2),
            (306, 2),
            (307, 3),
            (459, 3),
            (460, 4),
            (612, 4),
            (613, 5),
        ] {
            assert_eq!(count(&gsm(len)), (Encoding::Gsm7, parts), "GSM-7 {len}");
        }
        let ucs = |n: usize| "ж".repeat(n);
        for (len, parts) in [
            (1, 1),
            (70, 1),
            (71, 2),
            (134, 2),
            (135, 3),
            (201, 3),
            (202, 4),
            (268, 4),
            (269, 5),
        ] {
            assert_eq!(count(&ucs(len)), (Encoding::Ucs2, parts), "UCS-2 {len}");
        }
    }

    /// The extension table counts two septets (the gms-worldwide and fortytwo encoding pages:
    /// "| ^ € { } [ ] ~ \ ... consume two characters each").
    #[test]
    fn extension_characters_count_two_and_stay_whole() {
        assert_eq!(count(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(count(&"€".repeat(81)), (Encoding::Gsm7, 2));
        // 152 septets then an escape pair: the pair would straddle 153, so it moves whole.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let s = segments(&text);
        assert_eq!(s.units, 164);
        assert_eq!(s.parts[0], "a".repeat(152));
        assert!(s.parts[1].starts_with('€'));
        // One non-GSM character turns the whole message into UCS-2.
        assert_eq!(count(&format!("{}ã", "a".repeat(100))), (Encoding::Ucs2, 2));
    }

    #[test]
    fn surrogate_pairs_stay_whole() {
        // 35 emoji = 70 UTF-16 units: one part. 36 = 72: parts of at most 67 units, so 33
        // emoji (66 units) in the first part, never 33.5.
        assert_eq!(count(&"😀".repeat(35)), (Encoding::Ucs2, 1));
        let s = segments(&"😀".repeat(36));
        assert_eq!(s.units, 72);
        assert_eq!(s.parts.len(), 2);
        assert_eq!(s.parts[0].chars().count(), 33);
        assert_eq!(s.parts[1].chars().count(), 3);
    }

    #[test]
    fn outbox_is_exactly_once_per_event() {
        let to = Phone::parse("+254711000001", None).unwrap();
        let n = Notice {
            event_id: "e1".into(),
            to,
            language: Language::En,
            kind: NoticeKind::PinChanged,
        };
        let mut out = Outbox::new();
        assert!(out.enqueue(n.clone()));
        assert!(!out.enqueue(n.clone()));
        assert_eq!(out.due().len(), 1);
        assert!(out.mark_sent("e1"));
        assert!(!out.enqueue(n));
        assert_eq!(out.due().len(), 0);
        assert_eq!(out.sent().len(), 1);
    }

    fn units_of(enc: Encoding, s: &str) -> usize {
        s.chars().map(|c| enc.units(c).unwrap_or(usize::MAX)).sum()
    }

    proptest! {
        #[test]
        fn parts_rejoin_and_fit(text in "([a-z €\\[\\]{}|ã😀ж]){0,700}") {
            let s = segments(&text);
            prop_assert_eq!(s.parts.concat(), text.clone());
            let limit = if s.parts.len() == 1 { s.encoding.single_limit() } else { s.encoding.multi_limit() };
            for p in &s.parts {
                prop_assert!(units_of(s.encoding, p) <= limit);
                if s.parts.len() > 1 { prop_assert!(!p.is_empty()); }
            }
            prop_assert_eq!(s.encoding == Encoding::Gsm7, gsm7::is_gsm7(&text));
            prop_assert_eq!(units_of(s.encoding, &text), s.units);
        }

        #[test]
        fn parts_are_filled_greedily(text in "([a-z€]){0,600}") {
            // Every part but the last is full, short of at most one escape pair.
            let s = segments(&text);
            if s.parts.len() > 1 {
                for p in &s.parts[..s.parts.len() - 1] {
                    prop_assert!(units_of(s.encoding, p) >= GSM7_MULTI - 1);
                }
            }
        }
    }
}
