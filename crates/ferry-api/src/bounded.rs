//! Batches whose length is checked while they are parsed: a request with more items than the
//! route allows fails at item `MAX + 1`, before the rest is decoded.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// What the error message of an over-long batch starts with (the server maps it to
/// `422 batch_too_large`).
pub const TOO_MANY_ITEMS: &str = "too many items";

struct AtMost<T, const MAX: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for AtMost<T, MAX> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of at most {MAX} items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX));
        while let Some(item) = seq.next_element()? {
            if out.len() == MAX {
                return Err(serde::de::Error::custom(format_args!(
                    "{TOO_MANY_ITEMS}: at most {MAX} per request"
                )));
            }
            out.push(item);
        }
        Ok(out)
    }
}

/// `#[serde(deserialize_with = "at_most::<_, _, 1000>")]`: a `Vec` of at most `MAX` items,
/// refused as soon as item `MAX + 1` appears.
pub fn at_most<'de, D, T, const MAX: usize>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_seq(AtMost::<T, MAX>(PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Batch {
        #[serde(deserialize_with = "at_most::<_, _, 3>")]
        items: Vec<u32>,
    }

    #[test]
    fn up_to_the_limit_parses_and_one_more_fails_at_that_item() {
        let ok: Batch = serde_json::from_str(r#"{"items":[1,2,3]}"#).unwrap();
        assert_eq!(ok.items, [1, 2, 3]);
        // The fourth item fails even though what follows it is not JSON at all.
        let e = serde_json::from_str::<Batch>(r#"{"items":[1,2,3,4,"#).unwrap_err();
        assert!(e.to_string().starts_with(TOO_MANY_ITEMS), "{e}");
        assert!(serde_json::from_str::<Batch>(r#"{"items":[]}"#).is_ok());
        assert!(serde_json::from_str::<Batch>(r#"{"items":{}}"#).is_err());
    }
}
